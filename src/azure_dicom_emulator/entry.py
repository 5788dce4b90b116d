"""The ``azure-dicom-emulator`` command's entry point.

Kept free of imports: the CPU worker processes import the command's main module again, and
each megabyte imported here would be paid once per worker.
"""


def main() -> None:
    """Runs the command line."""
    from .cli import app

    app()
