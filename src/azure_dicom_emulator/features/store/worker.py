"""What a new upload-parsing worker does before its first job. Imports nothing at module level: pydicom
must be imported only after the pixel libraries are left out (``runtime.pixel_library_exclusion``)."""


def prepare() -> None:
    """Keeps freed memory for the next upload, leaves the pixel libraries out of this process, then loads
    the store path's code."""
    from ...runtime import allocator, pixel_library_exclusion

    allocator.keep_freed_memory()
    pixel_library_exclusion.leave_out()
    pixel_library_exclusion.import_pydicom()
    from . import examination  # noqa: F401  (loaded now, not during the first upload)
