"""What each server process runs: the app built from ``DICOM_EMULATOR_*`` variables, as uvicorn's factory."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import allocator, unused_imports
from .settings import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

REQUEST_BODY_BUFFER_BYTES = 4 * 1024 * 1024


def create_app_from_environment() -> Starlette:
    """The app configured from ``DICOM_EMULATOR_*`` variables (used by the server's worker processes).

    When CPU worker processes do the decoding, this process leaves out the libraries it would never
    use (``unused_imports``); so the app, and with it pydicom, is imported only after that.
    """
    settings = Settings()
    allocator.keep_freed_memory()
    if settings.effective_cpu_workers > 0:
        unused_imports.leave_out()
    _buffer_larger_request_bodies()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .app import create_app

    return create_app(settings)


def _buffer_larger_request_bodies() -> None:
    """Lets the HTTP server buffer up to 4 MiB of a request body before it stops reading the socket.

    Its default (64 KiB) makes a STOW of 0.5 MB instances pass through the application in dozens
    of small pieces; larger pieces cut the server's CPU time per stored instance by about a fifth.
    """
    from uvicorn.protocols.http import httptools_impl

    if hasattr(httptools_impl, "HIGH_WATER_LIMIT"):
        httptools_impl.HIGH_WATER_LIMIT = REQUEST_BODY_BUFFER_BYTES
