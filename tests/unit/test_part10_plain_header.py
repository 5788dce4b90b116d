"""The header read from the element walk is the one pydicom reads: same metadata, validation and pixel data."""

from __future__ import annotations

import mmap
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import pytest

from azure_dicom_emulator.dicom import part10
from azure_dicom_emulator.dicom.dicom_json import dataset_to_dicom_json
from azure_dicom_emulator.dicom.validation import ValidationResult, validate_instance

from ..support.pixel_samples import GENERATED, SAMPLES_DIR


def _every_file() -> list[tuple[str, bytes]]:
    found = []
    for root, _, files in os.walk(SAMPLES_DIR):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as fp:
                found.append((os.path.relpath(os.path.join(root, name), SAMPLES_DIR), fp.read()))
    return found + sorted(GENERATED.items())


CASES = _every_file()


@contextmanager
def _stored(data: bytes) -> Iterator[BinaryIO]:
    """``data`` in a real file, open for reading, with pydicom's warnings about odd values silenced."""
    with tempfile.NamedTemporaryFile() as stored:
        stored.write(data)
        stored.flush()
        with open(stored.name, "rb") as fp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield fp


def _outcome(data: bytes) -> tuple:
    """What the store path takes from a header: its metadata, both versions' validation, the pixel data."""
    with _stored(data) as fp, part10.file_view(fp) as view:
        try:
            header = part10.read_header(fp, view)
        except part10.NotPart10Error:
            return ("not part 10",)
        ds = header.dataset
        outcome: list = [header.pixel_data, str(ds.file_meta.get("TransferSyntaxUID"))]
        for produce in (
            lambda: dataset_to_dicom_json(ds),
            lambda: _validation(validate_instance(ds, 2)),
            lambda: _validation(validate_instance(ds, 1)),
        ):
            try:
                outcome.append(produce())
            except Exception as exc:  # the same failure either way is the same outcome
                outcome.append(type(exc).__name__)
        return tuple(outcome)


def _validation(result: ValidationResult) -> tuple:
    return result.failed, result.messages, sorted(result.dropped_tags), result.multiple_values_indexed


def _read_plainly(data: bytes) -> bool:
    if len(data) < part10.PREAMBLE_LENGTH + 4:
        return False
    with _stored(data) as fp, mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as view:
        try:
            return part10.read_plain_header(fp, view) is not None
        except Exception:
            return False


def test_most_files_are_read_from_the_element_walk():
    """Guards the comparison below against a walk that gives up on every file."""
    assert len(CASES) > 150
    assert sum(_read_plainly(data) for _, data in CASES) > 0.8 * len(CASES)


@pytest.mark.parametrize(("name", "data"), CASES, ids=[name for name, _ in CASES])
def test_header_matches_what_pydicom_reads(name: str, data: bytes, monkeypatch: pytest.MonkeyPatch):
    ours = _outcome(data)
    monkeypatch.setattr(part10, "_read_plain_header", lambda fp, view: None)
    assert ours == _outcome(data)
