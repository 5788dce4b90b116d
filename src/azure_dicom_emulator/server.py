"""What each server process runs: the app built from ``DICOM_EMULATOR_*`` variables, as uvicorn's factory."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import allocator, unused_imports
from .settings import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette


def create_app_from_environment() -> Starlette:
    """The app configured from ``DICOM_EMULATOR_*`` variables (used by the server's worker processes).

    When CPU worker processes do the decoding, this process leaves out the libraries it would never
    use (``unused_imports``); so the app, and with it pydicom, is imported only after that.
    """
    settings = Settings()
    allocator.keep_freed_memory()
    if settings.effective_cpu_workers > 0:
        unused_imports.leave_out()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .app import create_app

    return create_app(settings)
