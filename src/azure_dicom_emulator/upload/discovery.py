"""Finding the DICOM files under the paths an upload is given."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

PREAMBLE = 128
MAGIC = b"DICM"
DICOMDIR_NAME = "DICOMDIR"
MEDIA_DIRECTORY_STORAGE = b"1.2.840.10008.1.3.10"


def dicom_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every DICOM file under ``paths`` (files, or folders walked in name order), DICOMDIR files left out."""
    for path in paths:
        if path.is_dir():
            for folder, folders, names in os.walk(path):
                folders.sort()
                for name in sorted(names):
                    candidate = Path(folder, name)
                    if is_dicom(candidate):
                        yield candidate
        elif is_dicom(path):
            yield path


def is_dicom(path: Path) -> bool:
    """Whether ``path`` holds a data set (no DICOMDIR): ``DICM`` after the preamble, or a header that parses."""
    if path.name.upper() == DICOMDIR_NAME:
        return False
    try:
        with open(path, "rb") as file:
            head = file.read(PREAMBLE + len(MAGIC) + 512)
    except OSError:
        return False
    if head[PREAMBLE : PREAMBLE + len(MAGIC)] == MAGIC:
        return MEDIA_DIRECTORY_STORAGE not in head
    return _parses_without_preamble(path)


def _parses_without_preamble(path: Path) -> bool:
    """Whether ``path`` is a data set written without preamble: its SOP class and instance UIDs can be read."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        dataset = dcmread(path, force=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
        sop_class, sop_instance = dataset.get("SOPClassUID"), dataset.get("SOPInstanceUID")
    except (InvalidDicomError, ValueError, TypeError, KeyError, OSError, EOFError, OverflowError):
        return False
    return bool(sop_class and sop_instance) and str(sop_class) != MEDIA_DIRECTORY_STORAGE.decode()
