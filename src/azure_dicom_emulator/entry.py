"""The entry points: the ``azure-dicom-emulator`` command, and the app factory each server process runs.

Kept free of imports at module level: the CPU worker processes import the command's main module
again, and each megabyte imported here would be paid once per worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette


def main() -> None:
    """Runs the command line."""
    from .cli import app

    app()


def create_app_from_environment() -> Starlette:
    """The app configured from ``DICOM_EMULATOR_*`` variables (uvicorn's factory in each server process).

    When CPU worker processes do the decoding, this process leaves out the libraries it would never
    use (``runtime.pixel_library_exclusion``) before anything can import pydicom.
    """
    import logging

    from .runtime import allocator, pixel_library_exclusion
    from .settings import Settings

    settings = Settings()
    allocator.keep_freed_memory()
    if settings.effective_cpu_workers > 0:
        pixel_library_exclusion.leave_out()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .app import create_app

    return create_app(settings)
