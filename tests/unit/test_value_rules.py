"""The value rules of the VRs (spec §15)."""

import pytest

from azure_dicom_emulator.dicom.value_rules import UID_PATTERN, is_valid_uid

# ---------------------------------------------------------------- UIDs (§15)


@pytest.mark.parametrize(
    "value",
    ["1", "0.0", "1.2.840.10008.1.2", "1.02.3", "1.2.3 ", "1.2.3\0", "1.2.3 \0", "9" * 64, "1" * 63 + "\0"],
)
def test_valid_uids(value):
    assert is_valid_uid(value)


@pytest.mark.parametrize("value", ["", " ", "abc.123", "11|", "1.2.", ".", "1.2a", "b" * 65, "1" * 65, " 1.2", "1\n"])
def test_invalid_uids(value):
    assert not is_valid_uid(value)


def test_uid_pattern_is_used_with_fullmatch():
    assert UID_PATTERN.fullmatch("1.2.3")
    assert not UID_PATTERN.fullmatch("1.2.3.")
    assert not UID_PATTERN.fullmatch("1" * 65)
