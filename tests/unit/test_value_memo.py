"""Results computed from an element's raw value, remembered per distinct value."""

from __future__ import annotations

from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from azure_dicom_emulator.dicom.dicom_json import dataset_to_dicom_json
from azure_dicom_emulator.dicom.value_memo import MAX_VALUE_BYTES, ValueMemo


def _raw(value: bytes, vr: str = "US", little: bool = True) -> RawDataElement:
    return RawDataElement(Tag(0x00280010), vr, len(value), value, 0, False, little, True, False)


def _counting_memo() -> tuple[ValueMemo, list[bytes]]:
    calls: list[bytes] = []

    def compute(elem: RawDataElement, vr: str, encodings: list[str]) -> tuple:
        calls.append(elem.value)
        return (elem.value, vr, elem.is_little_endian, tuple(encodings))

    return ValueMemo(compute), calls


def test_a_repeated_value_is_computed_once():
    memo, calls = _counting_memo()
    first = memo(_raw(b"\x00\x02"), "US", ["iso8859"])
    again = memo(_raw(b"\x00\x02"), "US", ["iso8859"])
    assert first == again == (b"\x00\x02", "US", True, ("iso8859",))
    assert calls == [b"\x00\x02"]


def test_byte_order_vr_and_character_sets_are_part_of_what_is_remembered():
    memo, calls = _counting_memo()
    memo(_raw(b"\x00\x02"), "US", ["iso8859"])
    assert memo(_raw(b"\x00\x02", little=False), "US", ["iso8859"])[2] is False
    assert memo(_raw(b"\x00\x02"), "SS", ["iso8859"])[1] == "SS"
    assert memo(_raw(b"\x00\x02"), "US", ["utf_8"])[3] == ("utf_8",)
    assert len(calls) == 4


def test_long_values_are_computed_every_time():
    memo, calls = _counting_memo()
    long_value = b"A" * (MAX_VALUE_BYTES + 2)
    memo(_raw(long_value, "LT"), "LT", ["iso8859"])
    memo(_raw(long_value, "LT"), "LT", ["iso8859"])
    assert len(calls) == 2


def test_dicom_json_of_a_big_endian_file_is_not_taken_from_a_little_endian_one():
    from pydicom.dataset import Dataset

    def dataset(little: bool) -> Dataset:
        value = b"\x02\x00" if little else b"\x00\x02"
        return Dataset({Tag(0x00280010): _raw(value, "US", little)})

    assert dataset_to_dicom_json(dataset(True)) == b'{"00280010":{"vr":"US","Value":[2]}}'
    assert dataset_to_dicom_json(dataset(False)) == b'{"00280010":{"vr":"US","Value":[2]}}'
