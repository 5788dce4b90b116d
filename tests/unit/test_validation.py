"""STOW validation rules for API v1 and v2 (spec §1.1, §3.2, §3.6, §15)."""

import json
import struct

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from azure_dicom_emulator.dicom.dicom_json import dataset_to_dicom_json
from azure_dicom_emulator.dicom.validation import (
    INDEXED_TAGS,
    ValidationResult,
    validate_instance,
)

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
STUDY_DATE = 0x00080020
MODALITY = 0x00080060
PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010


def raw(ds: Dataset, tag: int, vr: str | None, value: bytes) -> Dataset:
    """Put an element into `ds` the way dcmread leaves it: raw bytes, not yet converted."""
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, vr is None, True)
    return ds


def instance(**overrides: bytes | None) -> Dataset:
    """A minimal valid instance; keyword -> raw value (``None`` removes the element)."""
    values = {
        "SOPClassUID": b"1.2.840.10008.5.1.4.1.1.2\0",
        "SOPInstanceUID": b"1.2.826.0.1.3680043.8.498.3",
        "StudyInstanceUID": STUDY_UID.encode() + b"\0",
        "SeriesInstanceUID": b"1.2.826.0.1.3680043.8.498.2\0",
        "PatientID": b"PID-1",
        "PatientName": b"Doe^John",
        "StudyDate": b"20240102",
        "Modality": b"CT",
    }
    values.update(overrides)
    ds = Dataset()
    for keyword, value in values.items():
        if value is not None:
            tag = pydicom.datadict.tag_for_keyword(keyword)
            raw(ds, tag, pydicom.datadict.dictionary_VR(tag), value)
    return ds


def clean() -> ValidationResult:
    return ValidationResult(failed=False, messages=[], dropped_tags=set(), multiple_values_indexed=False)


def multiple_values() -> ValidationResult:
    return ValidationResult(failed=False, messages=[], dropped_tags=set(), multiple_values_indexed=True)


def test_indexed_tags_are_the_core_searchable_attributes():
    assert len(INDEXED_TAGS) == 13
    assert {0x0020000D, 0x0020000E, 0x00080018, PATIENT_ID, PATIENT_NAME, STUDY_DATE} <= INDEXED_TAGS
    assert 0x00080061 not in INDEXED_TAGS


# ---------------------------------------------------------------- required attributes (both versions)


@pytest.mark.parametrize("version", [1, 2])
def test_valid_instance_passes(version):
    assert validate_instance(instance(), version) == clean()


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    ("keyword", "label"),
    [
        ("SOPClassUID", "(0008,0016)"),
        ("SOPInstanceUID", "(0008,0018)"),
        ("StudyInstanceUID", "(0020,000d)"),
        ("SeriesInstanceUID", "(0020,000e)"),
    ],
)
@pytest.mark.parametrize("value", [None, b"", b"  "])
def test_missing_required_uid_fails(version, keyword, label, value):
    result = validate_instance(instance(**{keyword: value}), version)

    assert result.failed
    assert result.messages == [f"DICOM100: {label} - The required tag '{label}' is missing."]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    ("missing", "label"),
    [
        (("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "SOPClassUID"), "(0008,0016)"),
        (("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"), "(0020,000d)"),
        (("SOPInstanceUID", "SeriesInstanceUID"), "(0020,000e)"),
        (("SOPInstanceUID", "SeriesInstanceUID", "PatientID"), "(0010,0020)"),
    ],
)
def test_only_the_first_missing_required_attribute_is_reported(version, missing, label):
    result = validate_instance(instance(**dict.fromkeys(missing)), version)

    assert result.failed
    assert result.messages == [f"DICOM100: {label} - The required tag '{label}' is missing."]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("value", [b"abc.123", b"11|", b"1" * 65, b"1.2."])
def test_invalid_required_uid_fails(version, value):
    result = validate_instance(instance(SeriesInstanceUID=value), version)

    assert result.failed
    assert result.messages == [
        "DICOM100: (0020,000e) - Dicom element 'SeriesInstanceUID' failed validation for VR 'UI': "
        "DICOM Identifier is invalid. Value length should not exceed the maximum length of 64 characters. "
        "Value should contain characters in '0'-'9' and '.'. Each component must start with non-zero number."
    ]


@pytest.mark.parametrize("version", [1, 2])
def test_multi_valued_required_uid_fails(version):
    result = validate_instance(instance(SOPInstanceUID=b"1.2.3\\1.2.4"), version)

    assert result.failed
    assert result.messages == ["DICOM100: (0008,0018) - The required tag '(0008,0018)' is missing."]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("padding", [b"", b"\0", b" ", b"  "])
def test_padded_uids_pass(version, padding):
    ds = instance(StudyInstanceUID=STUDY_UID.encode() + padding, SOPInstanceUID=b"1.2.3" + padding)

    assert validate_instance(ds, version, study_uid_in_url=STUDY_UID) == clean()


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("url_uid", [STUDY_UID, STUDY_UID + " ", STUDY_UID + "\0"])
def test_study_uid_matching_the_url_passes(version, url_uid):
    ds = instance(StudyInstanceUID=STUDY_UID.encode() + b"\0")

    assert not validate_instance(ds, version, url_uid).failed


@pytest.mark.parametrize("version", [1, 2])
def test_study_uid_differing_from_the_url_fails(version):
    result = validate_instance(instance(), version, study_uid_in_url="1.2.3")

    assert result.failed
    assert result.messages == [
        f"DICOM100: (0020,000d) - The StudyInstanceUid '{STUDY_UID}' in the payload does not match "
        "the specified StudyInstanceUid '1.2.3'."
    ]


@pytest.mark.parametrize("version", [1, 2])
def test_absent_patient_id_fails(version):
    result = validate_instance(instance(PatientID=None), version)

    assert result.failed
    assert result.messages == ["DICOM100: (0010,0020) - The required tag '(0010,0020)' is missing."]


@pytest.mark.parametrize("value", [b"", b"  "])
def test_empty_patient_id_fails_in_v1(value):
    result = validate_instance(instance(PatientID=value), 1)

    assert result.failed
    assert result.messages == ["DICOM100: (0010,0020) - The required tag '(0010,0020)' is missing."]


@pytest.mark.parametrize("value", [b"", b"  "])
def test_empty_patient_id_is_a_warning_in_v2(value):
    result = validate_instance(instance(PatientID=value), 2)

    assert result == ValidationResult(
        failed=False,
        messages=["DICOM100: (0010,0020) - The required tag '(0010,0020)' is missing."],
        dropped_tags={PATIENT_ID},
        multiple_values_indexed=False,
    )


def test_patient_id_with_nul_padding_passes_in_v2_only():
    assert validate_instance(instance(PatientID=b"123\0"), 2) == clean()

    result = validate_instance(instance(PatientID=b"123\0"), 1)
    assert result.failed
    assert result.messages == [
        "DICOM100: (0010,0020) - Dicom element 'PatientID' failed validation for VR 'LO': "
        "Value contains invalid character."
    ]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("value", [b"\0" + b"123\0", b"12\x01", b"x" * 65])
def test_invalid_patient_id_fails(version, value):
    result = validate_instance(instance(PatientID=value), version)

    assert result.failed
    assert result.messages[0].startswith(
        "DICOM100: (0010,0020) - Dicom element 'PatientID' failed validation for VR 'LO': Value "
    )


# ---------------------------------------------------------------- v1: indexed attributes


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        (
            "StudyDate",
            b"NotAValidStudyDate",
            "DICOM100: (0008,0020) - Dicom element 'StudyDate' failed validation for VR 'DA': "
            "Value cannot be parsed as a valid date.",
        ),
        (
            "PatientBirthDate",
            b"20230230",
            "DICOM100: (0010,0030) - Dicom element 'PatientBirthDate' failed validation for VR 'DA': "
            "Value cannot be parsed as a valid date.",
        ),
        (
            "Modality",
            b"ABCDEFGHIJKLMNOPQ",
            "DICOM100: (0008,0060) - Dicom element 'Modality' failed validation for VR 'CS': "
            "Value length exceeds maximum length.",
        ),
        (
            "AccessionNumber",
            b"12345678901234567",
            "DICOM100: (0008,0050) - Dicom element 'AccessionNumber' failed validation for VR 'SH': "
            "Value length exceeds maximum length.",
        ),
        (
            "StudyDescription",
            b"x" * 65,
            "DICOM100: (0008,1030) - Dicom element 'StudyDescription' failed validation for VR 'LO': "
            "Value length exceeds maximum length.",
        ),
        (
            "PatientName",
            b"a=b=c=d",
            "DICOM100: (0010,0010) - Dicom element 'PatientName' failed validation for VR 'PN': "
            "Value contains more than 3 component groups.",
        ),
        (
            "ReferringPhysicianName",
            b"a^b^c^d^e^f",
            "DICOM100: (0008,0090) - Dicom element 'ReferringPhysicianName' failed validation for VR 'PN': "
            "Value contains more than 5 components.",
        ),
        (
            "PatientName",
            b"A^B\0",
            "DICOM100: (0010,0010) - Dicom element 'PatientName' failed validation for VR 'PN': "
            "Value contains invalid character.",
        ),
    ],
)
def test_v1_fails_on_an_invalid_indexed_attribute(keyword, value, message):
    result = validate_instance(instance(**{keyword: value}), 1)

    assert result.failed
    assert result.messages == [message]


def test_v1_checks_only_the_first_value_and_flags_multiple_values():
    result = validate_instance(instance(StudyDescription=b"first\\" + b"x" * 80, Modality=b"CT\\MR"), 1)

    assert result == multiple_values()


def test_v1_ignores_attributes_that_are_not_indexed():
    ds = instance(SeriesDate=b"NotADate", InstitutionName=b"bad\x01")

    assert validate_instance(ds, 1) == clean()


def test_v1_minimal_checks_are_lenient_where_the_vr_allows_it():
    ds = instance(Modality=b"X\0", StudyDescription=b"lower case \x1b$B ok", AccessionNumber=b"a\x01")

    assert validate_instance(ds, 1) == clean()


@pytest.mark.parametrize(
    ("tag", "vr", "value", "detail"),
    [
        (0x00101010, "AS", b"12Y", "Value length is not expected"),
        (0x00080201, "SH", b"x" * 17, "Value length exceeds maximum length"),
        (0x00180015, "CS", b"x" * 17, "Value length exceeds maximum length"),
        (0x00080013, "TM", b"256000", "Value cannot be parsed as a valid time"),
        (0x0008002A, "DT", b"2024010226", "Value cannot be parsed as a valid date time"),
        (0x00200013, "IS", b"12a", "Value is not a valid integer string"),
        (0x00280010, "US", b"\x01\x02\x03", "Value length is not expected"),
        (0x00189089, "FD", b"\x00" * 4, "Value length is not expected"),
        (0x00080054, "AE", b"x" * 17, "Value length exceeds maximum length"),
    ],
)
def test_v1_extended_query_tags_are_checked(tag, vr, value, detail):
    ds = raw(instance(), tag, vr, value)

    result = validate_instance(ds, 1, extra_indexed={tag: vr})

    assert result.failed
    name = pydicom.datadict.keyword_for_tag(tag)
    label = f"({tag >> 16:04x},{tag & 0xFFFF:04x})"
    assert result.messages == [f"DICOM100: {label} - Dicom element '{name}' failed validation for VR '{vr}': {detail}."]
    assert not validate_instance(ds, 1).failed


def test_v1_extended_query_tag_with_another_vr_fails():
    ds = raw(instance(), 0x00101010, "LO", b"042Y")

    result = validate_instance(ds, 1, extra_indexed={0x00101010: "AS"})

    assert result.failed
    assert result.messages == [
        "DICOM100: (0010,1010) - The extended query tag '(0010,1010)' is expected to have VR 'AS' but has 'LO' in file."
    ]


def test_v1_valid_extended_query_tags_pass():
    ds = raw(instance(), 0x00101010, "AS", b"042Y")
    raw(ds, 0x00280010, "US", struct.pack("<2H", 1, 2))

    result = validate_instance(ds, 1, extra_indexed={0x00101010: "AS", 0x00280010: "US"})

    assert result == multiple_values()


# ---------------------------------------------------------------- v2: everything else is a warning


def test_v2_drops_an_invalid_study_date():
    result = validate_instance(instance(StudyDate=b"NotAValidStudyDate"), 2)

    assert result == ValidationResult(
        failed=False,
        messages=[
            'DICOM100: (0008,0020) - Content "NotAValidStudyDate" does not validate VR DA: '
            "one of the date values does not match the pattern YYYYMMDD"
        ],
        dropped_tags={STUDY_DATE},
        multiple_values_indexed=False,
    )


def test_v2_drops_a_value_with_an_embedded_nul():
    result = validate_instance(instance(Modality=b"X\0X"), 2)

    assert result.messages == [
        'DICOM100: (0008,0060) - Content "X\0X" does not validate VR CS: value contains invalid character'
    ]
    assert result.dropped_tags == {MODALITY}
    assert not result.failed


def test_v2_accepts_trailing_nul_padding():
    ds = instance(Modality=b"X\0", StudyDate=b"20240102\0", PatientName=b"D^J\0\0", InstitutionName=b"a\\b\0")

    assert validate_instance(ds, 2) == clean()


def test_v2_keeps_trailing_nul_padding_in_the_metadata():
    ds = instance(Modality=b"X\0", PatientID=b"123\0")

    validate_instance(ds, 2)
    metadata = json.loads(dataset_to_dicom_json(ds))

    assert metadata["00080060"]["Value"] == ["X\0"]
    assert metadata["00100020"]["Value"] == ["123\0"]


_DT_PATTERN = "value does not match the pattern YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX]"
_INVALID = "value contains invalid character"


@pytest.mark.parametrize(
    ("tag", "vr", "value", "content", "reason"),
    [
        (0x0008002A, "DT", b"2024-01-02", "2024-01-02", _DT_PATTERN),
        (0x0008002A, "DT", b"20240102120000+1500", "20240102120000+1500", "value is not a valid date time"),
        (0x00080030, "TM", b"12:00:00", "12:00:00", "value does not match the pattern HH[MM[SS[.F{1-6}]]]"),
        (0x00080030, "TM", b"2460", "2460", "value is not a valid time"),
        (0x00080021, "DA", b"20241301", "20241301", "value is not a valid date"),
        (0x00180050, "DS", b"1,5", "1,5", "value is not a decimal string"),
        (
            0x00180050,
            "DS",
            b"1.0000000000000001",
            "1.0000000000000001",
            "value exceeds maximum length of 16 characters",
        ),
        (0x00200011, "IS", b"3.0", "3.0", "value is not an integer string"),
        (0x00200011, "IS", b"3000000000", "3000000000", "value is out of the range of a 32-bit integer"),
        (0x00101010, "AS", b"42Y ", "42Y", "value does not match the pattern nnnD, nnnW, nnnM or nnnY"),
        (0x00180015, "CS", b"chest", "chest", _INVALID),
        (0x00080054, "AE", b"AE\\TITLE\\a\x01", "a\x01", _INVALID),
        (0x00080080, "LO", b"x" * 65, "x" * 65, "value exceeds maximum length of 64 characters"),
        (0x00081010, "SH", b"tab\there", "tab\there", _INVALID),
        (0x00081070, "PN", b"a=b=c=d", "a=b=c=d", "value contains more than 3 component groups"),
        (
            0x00081070,
            "PN",
            b"x" * 65,
            "x" * 65,
            "value exceeds maximum length of 64 characters in a component group",
        ),
        (0x00081155, "UI", b"1.02.3", "1.02.3", "value contains a component with a leading zero"),
        (0x00081155, "UI", b"1..3", "1..3", "value contains an empty component"),
        (0x00081155, "UI", b"1.2.a", "1.2.a", _INVALID),
        (0x00204000, "LT", b"line\x00break", "line\x00break", _INVALID),
        (0x00081190, "UR", b"http://host/a b", "http://host/a b", _INVALID),
        (0x00280010, "US", b"\x01\x02\x03", "3 bytes", "value length is not a multiple of 2"),
    ],
)
def test_v2_warns_about_and_drops_values_that_break_their_vr(tag, vr, value, content, reason):
    ds = raw(instance(), tag, vr, value)

    result = validate_instance(ds, 2)

    label = f"({tag >> 16:04x},{tag & 0xFFFF:04x})"
    assert result.messages == [f'DICOM100: {label} - Content "{content}" does not validate VR {vr}: {reason}']
    assert result.dropped_tags == {tag}
    assert not result.failed
    assert validate_instance(ds, 1) == clean()


@pytest.mark.parametrize(
    ("tag", "vr", "value"),
    [
        (0x0008002A, "DT", b"2024"),
        (0x0008002A, "DT", b"20240102235960.123456-0500 "),
        (0x00080030, "TM", b"12"),
        (0x00080030, "TM", b"235959.5"),
        (0x00180050, "DS", b" -1.5e-3 "),
        (0x00200011, "IS", b" -2147483648"),
        (0x00101010, "AS", b"042Y"),
        (0x00180015, "CS", b"CHEST_2 "),
        (0x00080054, "AE", b"STORESCP"),
        (0x00080080, "LO", "Hôpital".encode("latin-1")),
        (0x00204000, "LT", b"line 1\r\nline 2\tend\\"),
        (0x00081190, "UR", b"http://host/path?q=1 "),
        (0x00081155, "UI", b"1.2.0.30"),
        (0x00280010, "US", b"\x01\x02"),
        (0x00189089, "FD", struct.pack("<2d", 1.0, 2.0)),
    ],
)
def test_v2_accepts_valid_values(tag, vr, value):
    ds = raw(instance(SpecificCharacterSet=b"ISO_IR 100"), tag, vr, value)

    assert validate_instance(ds, 2) == clean()


def test_v2_uses_the_lowercase_tag_and_the_private_creator_in_messages():
    ds = raw(instance(), 0x0008002A, "DT", b"yesterday")
    raw(ds, 0x00290010, "LO", b"ACME 1.0 ")
    raw(ds, 0x00291008, "CS", b"lower")

    result = validate_instance(ds, 2)

    labels = [message.split(" - ")[0] for message in result.messages]
    assert labels == ["DICOM100: (0008,002a)", "DICOM100: (0029,1008:ACME 1.0)"]
    assert result.dropped_tags == {0x0008002A, 0x00291008}


def test_v2_warns_about_nested_values_but_keeps_them():
    item = Dataset()
    raw(item, 0x00080100, "SH", b"T-D1100")
    raw(item, 0x00080104, "LO", b"bad\x02meaning")
    ds = instance()
    ds.add_new(0x00081032, "SQ", Sequence([item]))

    result = validate_instance(ds, 2)

    assert result == ValidationResult(
        failed=False,
        messages=[f'DICOM100: (0008,0104) - Content "bad\x02meaning" does not validate VR LO: {_INVALID}'],
        dropped_tags=set(),
        multiple_values_indexed=False,
    )
    assert validate_instance(ds, 1) == clean()


def test_v2_checks_every_value_of_a_multi_valued_element():
    result = validate_instance(instance(ImageType=b"ORIGINAL\\primary"), 2)

    assert result.messages == [
        'DICOM100: (0008,0008) - Content "primary" does not validate VR CS: value contains invalid character'
    ]


def test_v2_flags_multiple_values_of_indexed_attributes():
    result = validate_instance(instance(Modality=b"CT\\MR"), 2)

    assert result == multiple_values()


def test_v2_drops_an_extended_query_tag_with_another_vr():
    ds = raw(instance(), 0x00101010, "LO", b"042Y")

    result = validate_instance(ds, 2, extra_indexed={0x00101010: "AS"})

    assert result.dropped_tags == {0x00101010}
    assert not result.failed


def test_v2_required_failure_keeps_the_warnings_too():
    result = validate_instance(instance(SOPClassUID=None, StudyDate=b"bad"), 2)

    assert result.failed
    assert result.messages == [
        "DICOM100: (0008,0016) - The required tag '(0008,0016)' is missing.",
        'DICOM100: (0008,0020) - Content "bad" does not validate VR DA: '
        "one of the date values does not match the pattern YYYYMMDD",
    ]


# ---------------------------------------------------------------- character sets, encodings, samples


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    ("charset", "name"),
    [(b"ISO_IR 100", "Buc^Jérôme".encode("latin-1")), (b"ISO_IR 192", "Wang^XiaoDong=王^小東".encode())],
)
def test_non_ascii_person_names_pass(version, charset, name):
    ds = instance(SpecificCharacterSet=charset, PatientName=name)

    assert validate_instance(ds, version) == clean()


def test_v2_measures_lengths_in_decoded_characters():
    ds = instance(SpecificCharacterSet=b"ISO_IR 192", InstitutionName=("é" * 64).encode())

    assert validate_instance(ds, 2) == clean()


@pytest.mark.parametrize("version", [1, 2])
def test_implicit_vr_instance_passes(version):
    ds = Dataset()
    raw(ds, 0x00080016, None, b"1.2.840.10008.5.1.4.1.1.4\0")
    raw(ds, 0x00080018, None, b"1.2.3.4")
    raw(ds, 0x0020000D, None, b"1.2.3\0")
    raw(ds, 0x0020000E, None, b"1.2.3.5\0")
    raw(ds, 0x00100020, None, b"PID ")
    raw(ds, 0x00280010, None, struct.pack("<H", 64))
    raw(ds, 0x00091001, None, b"\x01\x02 anything")

    assert validate_instance(ds, version) == clean()


@pytest.mark.parametrize("version", [1, 2])
def test_pixel_data_is_never_read(version):
    ds = instance()
    ds[0x7FE00010] = RawDataElement(Tag(0x7FE00010), "OW", 1 << 20, None, 0, False, True)

    assert validate_instance(ds, version) == clean()


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm"])
def test_sample_files_are_accepted(version, name):
    ds = pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True)

    assert not validate_instance(ds, version).failed
