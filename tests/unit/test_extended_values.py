"""Extended query tag values taken from metadata, typed by VR, with reindexing errors."""

from __future__ import annotations

from azure_dicom_emulator.dicom.extended_values import MULTIPLE_VALUES, VR_NOT_EXPECTED, NameValue, TagSpec, tag_value


def test_strings_are_case_insensitive_keys():
    metadata = {"00102180": {"vr": "SH", "Value": ["Baker "]}}
    assert tag_value(metadata, TagSpec(0x00102180, "SH"), strict=True) == ("baker", None)


def test_absent_or_empty_values_are_not_indexed():
    spec = TagSpec(0x00102180, "SH")
    assert tag_value({}, spec, strict=True) == (None, None)
    assert tag_value({"00102180": {"vr": "SH"}}, spec, strict=True) == (None, None)


def test_integer_strings_are_longs():
    spec = TagSpec(0x00200013, "IS")
    assert tag_value({"00200013": {"vr": "IS", "Value": [3]}}, spec, strict=True) == (3, None)
    assert tag_value({"00200013": {"vr": "IS", "Value": ["03"]}}, spec, strict=True) == (3, None)
    value, error = tag_value({"00200013": {"vr": "IS", "Value": ["x"]}}, spec, strict=True)
    assert value is None and error


def test_person_names_have_a_key_and_words():
    metadata = {"00081070": {"vr": "PN", "Value": [{"Alphabetic": "Ré^Ann"}]}}
    value, _ = tag_value(metadata, TagSpec(0x00081070, "PN"), strict=False)
    assert value == NameValue("re^ann", " re ann")


def test_reindex_errors():
    spec = TagSpec(0x00101010, "AS")
    assert tag_value({"00101010": {"vr": "AS", "Value": ["foo"]}}, spec, strict=True) == (
        None,
        "Value length is not expected.",
    )
    assert tag_value({"00101010": {"vr": "LO", "Value": ["053Y"]}}, spec, strict=True) == (None, VR_NOT_EXPECTED)
    assert tag_value({"00101010": {"vr": "AS", "Value": ["053Y", "054Y"]}}, spec, strict=True) == (
        None,
        MULTIPLE_VALUES,
    )
    # At store time the first value counts and nothing is an error.
    assert tag_value({"00101010": {"vr": "AS", "Value": ["053y", "054Y"]}}, spec, strict=False) == ("053y", None)


def test_private_tags_need_their_creator():
    metadata = {
        "00110010": {"vr": "LO", "Value": ["ACME"]},
        "00111001": {"vr": "LO", "Value": ["secret"]},
    }
    assert tag_value(metadata, TagSpec(0x00111001, "LO", "ACME"), strict=True) == ("secret", None)
    assert tag_value(metadata, TagSpec(0x00111001, "LO", "OTHER"), strict=True) == (None, None)


def test_dates_become_keys_or_errors():
    spec = TagSpec(0x00080021, "DA")
    assert tag_value({"00080021": {"vr": "DA", "Value": ["20240102"]}}, spec, strict=True) == ("20240102", None)
    value, error = tag_value({"00080021": {"vr": "DA", "Value": ["2024"]}}, spec, strict=True)
    assert value is None and error


def test_values_with_nul_inside_are_errors_or_left_out():
    metadata = {"00080060": {"vr": "CS", "Value": ["A\0B"]}}
    assert tag_value(metadata, TagSpec(0x00080060, "CS"), strict=True) == (None, "Value contains invalid character.")
    assert tag_value(metadata, TagSpec(0x00080060, "CS"), strict=False) == (None, None)
