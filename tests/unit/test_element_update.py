"""Updating elements of a stored file by splicing its bytes: new values, every other byte as it was."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from azure_dicom_emulator.dicom.dicom_json import dataset_to_dicom_json
from azure_dicom_emulator.dicom.element_update import (
    IMPLEMENTATION_CLASS_UID,
    UnencodableValue,
    update_file,
)
from azure_dicom_emulator.dicom.frames import FrameIndex
from azure_dicom_emulator.dicom.metadata_update import top_level_entries, with_entries
from azure_dicom_emulator.dicom.part10 import HEAD_LENGTH, element_spans
from harness.factories import make_dataset, to_bytes

from ..support.pixel_samples import GENERATED, PIXEL_SAMPLES, expected_frames, read, sample_bytes

NEW_NAME = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "New^Name"}]}}
CHANGES = {
    **NEW_NAME,
    "00081030": {"vr": "LO", "Value": ["A new description"]},  # absent from the files: added
    "00101030": {"vr": "DS", "Value": [72.5]},
}
# Files whose frames pydicom itself cannot tell apart or read (as in test_frames).
SAMPLES = [name for name in PIXEL_SAMPLES if name not in {"MR_truncated.dcm", "badVR.dcm", "nested_priv_SQ.dcm"}]


def updated(tmp_path, data: bytes, changes: dict = CHANGES, version: str = "1.2.3") -> tuple[bytes, object]:
    """The bytes of ``data`` updated with ``changes``, and what update_file reported."""
    source, target = tmp_path / "source.dcm", tmp_path / "target.dcm"
    source.write_bytes(data)
    metadata = dataset_to_dicom_json(read(data)).decode()
    result = update_file(str(source), str(target), changes, version, metadata)
    return target.read_bytes(), result


def elements_by_tag(data: bytes) -> dict[int, bytes]:
    """The bytes of each top-level data set element of a (not deflated) Part 10 file."""
    syntax = read(data).file_meta.TransferSyntaxUID
    meta = element_spans(data, HEAD_LENGTH, False, True, meta_only=True)
    spans = element_spans(data, meta[-1].end, syntax.is_implicit_VR, syntax.is_little_endian)
    return {span.tag: data[span.start : span.end] for span in spans}


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian], ids=["explicit", "implicit", "big"]
)
def test_changed_elements_are_new_and_every_other_element_keeps_its_bytes(tmp_path, syntax):
    original = to_bytes(make_dataset(transfer_syntax=syntax, PatientWeight="80"))
    data, result = updated(tmp_path, original)
    ds = read(data)
    assert str(ds.PatientName) == "New^Name"
    assert ds.StudyDescription == "A new description"
    assert float(ds.PatientWeight) == 72.5
    assert ds.file_meta.TransferSyntaxUID == syntax
    before, after = elements_by_tag(original), elements_by_tag(data)
    changed = {0x00100010, 0x00081030, 0x00101030}
    assert set(after) == set(before) | changed
    assert {tag: value for tag, value in after.items() if tag not in changed} == {
        tag: value for tag, value in before.items() if tag not in changed
    }
    assert list(after) == sorted(after)  # the added element took its place in tag order
    assert result.size == len(data)


def test_the_file_meta_gets_the_implementation_and_a_right_group_length(tmp_path):
    data, _ = updated(tmp_path, to_bytes(make_dataset()), version="0.9.1")
    ds = read(data)
    assert ds.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert ds.file_meta.ImplementationVersionName == "0.9.1"
    meta = element_spans(data, HEAD_LENGTH, False, True, meta_only=True)
    assert meta[0].tag == 0x00020000
    assert ds.file_meta.FileMetaInformationGroupLength == meta[-1].end - meta[0].end
    assert data[:HEAD_LENGTH] == bytes(128) + b"DICM"


def test_the_metadata_is_the_stored_json_with_the_changes_in_dicom_json_form(tmp_path):
    original = to_bytes(make_dataset(PatientWeight="80"))
    _, result = updated(tmp_path, original)
    entries = top_level_entries(result.metadata)
    assert json.loads(entries["00100010"]) == {"vr": "PN", "Value": [{"Alphabetic": "New^Name"}]}
    assert json.loads(entries["00101030"]) == {"vr": "DS", "Value": [72.5]}
    assert json.loads(entries["00081030"]) == {"vr": "LO", "Value": ["A new description"]}
    stored = top_level_entries(dataset_to_dicom_json(read(original)).decode())
    assert {key: stored[key] for key in stored if key not in CHANGES} == {
        key: entries[key] for key in entries if key not in CHANGES
    }
    assert list(entries) == sorted(entries)


def test_a_large_file_is_copied_whole_around_the_change(tmp_path):
    ds = make_dataset(rows=2048, columns=2560)  # 10 MB of pixels: more than one copy chunk
    ds.PixelData = (np.arange(2048 * 2560, dtype="<u4") % 65521).astype("<u2").tobytes()
    original = to_bytes(ds)
    data, _ = updated(tmp_path, original, NEW_NAME)
    assert elements_by_tag(data)[0x7FE00010] == elements_by_tag(original)[0x7FE00010]
    assert str(read(data).PatientName) == "New^Name"


def test_a_deflated_file_is_deflated_again_with_the_same_pixels(tmp_path):
    original = GENERATED["multiframe-deflated"]
    data, result = updated(tmp_path, original)
    ds = read(data)
    assert ds.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert str(ds.PatientName) == "New^Name"
    assert ds.PixelData == read(original).PixelData
    meta_end = element_spans(data, HEAD_LENGTH, False, True, meta_only=True)[-1].end
    zlib.decompressobj(-zlib.MAX_WBITS).decompress(data[meta_end:])  # raw deflate, as the standard wants
    assert FrameIndex.from_json(result.frame_index).inflated


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_frames_of_generated_files_are_byte_identical(tmp_path, name):
    original = GENERATED[name]
    data, result = updated(tmp_path, original)
    assert expected_frames(read(data)) == expected_frames(read(original))
    assert FrameIndex.from_json(result.frame_index).count == len(expected_frames(read(original)))


@pytest.mark.parametrize("name", SAMPLES)
def test_frames_of_sample_files_are_byte_identical(tmp_path, name):
    original = sample_bytes(name)
    data, _ = updated(tmp_path, original, NEW_NAME)
    assert expected_frames(read(data)) == expected_frames(read(original))
    assert str(read(data).PatientName) == "New^Name"


def test_frame_offsets_of_the_new_file_point_at_its_frames(tmp_path):
    original = GENERATED["rle-basic-offset-table"]
    assert read(original).file_meta.TransferSyntaxUID == RLELossless
    data, result = updated(tmp_path, original)
    index = FrameIndex.from_json(result.frame_index)
    frames = [b"".join(data[offset : offset + length] for offset, length in index.ranges(n)) for n in (1, 2, 3)]
    assert frames == expected_frames(read(original))


def test_a_value_outside_the_default_repertoire_cannot_be_encoded(tmp_path):
    with pytest.raises(UnencodableValue):
        updated(tmp_path, to_bytes(make_dataset()), {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller"}]}})


def test_a_value_is_encoded_in_the_files_character_set(tmp_path):
    original = to_bytes(make_dataset(SpecificCharacterSet="ISO_IR 100"))
    data, result = updated(tmp_path, original, {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller"}]}})
    assert b"M\xfcller" in data
    assert json.loads(top_level_entries(result.metadata)["00100010"])["Value"] == [{"Alphabetic": "Müller"}]


def test_an_empty_value_empties_the_element(tmp_path):
    data, result = updated(tmp_path, to_bytes(make_dataset()), {"00100010": {"vr": "PN"}})
    assert read(data).PatientName == ""
    assert json.loads(top_level_entries(result.metadata)["00100010"]) == {"vr": "PN"}


def test_a_group_length_in_the_data_set_follows_the_change(tmp_path):
    plain = to_bytes(make_dataset())
    elements = elements_by_tag(plain)
    group = sum(len(value) for tag, value in elements.items() if tag >> 16 == 0x0010)
    first = min(tag for tag in elements if tag >> 16 == 0x0010)
    at = plain.index(elements[first])
    original = plain[:at] + struct.pack("<HH2sHL", 0x0010, 0x0000, b"UL", 4, group) + plain[at:]
    assert read(original)[0x00100000].value == group
    longer = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Longer^Name^Than^Now"}]}}
    data, _ = updated(tmp_path, original, longer)
    after = elements_by_tag(data)
    new_group = sum(len(value) for tag, value in after.items() if tag >> 16 == 0x0010 and tag & 0xFFFF)
    assert read(data)[0x00100000].value == new_group == group + len("Longer^Name^Than^Now") - len("Doe^John")


def test_untouched_metadata_entries_keep_their_text():
    stored = '{"00101030":{"vr":"DS","Value":[1e10]},"00200013":{"vr":"IS","Value":[7]}}'
    changed = with_entries(stored, {"00100010": '{"vr":"PN","Value":[{"Alphabetic":"A"}]}'})
    assert changed == (
        '{"00100010":{"vr":"PN","Value":[{"Alphabetic":"A"}]},"00101030":{"vr":"DS","Value":[1e10]},'
        '"00200013":{"vr":"IS","Value":[7]}}'
    )
    assert with_entries("{}", {}) == "{}"
    with pytest.raises(ValueError):
        top_level_entries("[1]")
