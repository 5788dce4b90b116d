"""What a new upload-parsing worker does before its first job. Imports nothing at module level: pydicom
must be imported only after the pixel libraries are left out (``unused_imports``)."""


def prepare() -> None:
    """Keeps freed memory for the next upload, leaves the pixel libraries out of this process, then loads
    the store path's code."""
    from .. import allocator, unused_imports

    allocator.keep_freed_memory()
    unused_imports.leave_out()
    from . import inspect  # noqa: F401
