"""Small jobs for the CPU worker processes. Imports only pure DICOM code, to keep the workers small."""

from __future__ import annotations

import time

from ..dicom.transcode import to_explicit_vr_little_endian


def warm_up(seconds: float) -> None:
    """Loads the store path's code in a new worker, lingering so that every worker receives one call."""
    from . import inspect  # noqa: F401

    time.sleep(seconds)


def transcode_file(path: str) -> bytes:
    """The Part 10 file at ``path`` as Explicit VR Little Endian (see dicom.transcode)."""
    with open(path, "rb") as fp:
        return to_explicit_vr_little_endian(fp.read())
