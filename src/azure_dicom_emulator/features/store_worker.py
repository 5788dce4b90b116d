"""What a new upload-parsing worker does before its first job. Imports nothing at module level: pydicom
must be imported only after the pixel libraries are left out (``unused_imports``)."""


def prepare() -> None:
    """Leaves the pixel libraries out of this process, then loads the store path's code."""
    from .. import unused_imports

    unused_imports.leave_out()
    from . import inspect  # noqa: F401
