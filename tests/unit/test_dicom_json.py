"""DICOM JSON encoding of stored instances (spec §0.3, §4.6; PS3.18 Annex F.2)."""

import io
import json
import math
import struct

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from azure_dicom_emulator.dicom.dicom_json import BULK_VRS, dataset_to_dicom_json


def raw(ds: Dataset, tag: int, vr: str | None, value: bytes, little: bool = True) -> Dataset:
    """Put an element into `ds` the way dcmread leaves it: raw bytes, not yet converted."""
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, vr is None, little)
    return ds


def encode(ds: Dataset, **kwargs) -> dict:
    data = dataset_to_dicom_json(ds, **kwargs)
    assert isinstance(data, bytes)
    return json.loads(data.decode("utf-8"))


def test_keys_are_uppercase_hex_in_tag_order():
    ds = Dataset()
    raw(ds, 0x0020000D, "UI", b"1.2.3\0")
    raw(ds, 0x00080060, "CS", b"CT")
    raw(ds, 0x00091001, "LO", b"private")
    ds.add_new(0x0008103E, "LO", "late insert")

    data = dataset_to_dicom_json(ds)

    assert list(json.loads(data)) == ["00080060", "0008103E", "00091001", "0020000D"]
    assert data.startswith(b'{"00080060":{"vr":"CS","Value":["CT"]}')


def test_empty_dataset_and_empty_elements():
    assert dataset_to_dicom_json(Dataset()) == b"{}"
    ds = Dataset()
    raw(ds, 0x00080050, "SH", b"")
    raw(ds, 0x00080090, "PN", b"  ")
    raw(ds, 0x00200013, "IS", b"")
    raw(ds, 0x00280010, "US", b"")
    raw(ds, 0x00209165, "AT", b"")
    ds.add_new(0x00081030, "LO", "")
    ds.add_new(0x00081032, "SQ", Sequence())

    assert encode(ds) == {
        "00080050": {"vr": "SH"},
        "00080090": {"vr": "PN"},
        "00081030": {"vr": "LO"},
        "00081032": {"vr": "SQ"},
        "00200013": {"vr": "IS"},
        "00209165": {"vr": "AT"},
        "00280010": {"vr": "US"},
    }


def test_file_meta_and_group_lengths_are_left_out():
    ds = Dataset()
    raw(ds, 0x00020010, "UI", ExplicitVRLittleEndian.encode())
    raw(ds, 0x00080000, "UL", struct.pack("<I", 8))
    raw(ds, 0x00080060, "CS", b"MR")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian

    assert encode(ds) == {"00080060": {"vr": "CS", "Value": ["MR"]}}


@pytest.mark.parametrize("vr", sorted(BULK_VRS))
def test_bulk_vrs_are_left_out_at_every_level(vr):
    item = Dataset()
    raw(item, 0x00091010, vr, b"\x01\x02\x03\x04")
    raw(item, 0x00080100, "SH", b"CODE")
    ds = Dataset()
    raw(ds, 0x00431029, vr, b"\x00\x01")
    ds.add_new(0x00081110, "SQ", Sequence([item]))

    assert encode(ds) == {"00081110": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["CODE"]}}]}}


def test_pixel_data_is_never_read():
    ds = Dataset()
    ds[0x7FE00010] = RawDataElement(Tag(0x7FE00010), "OW", 1 << 20, None, 0, False, True)
    raw(ds, 0x00280010, "US", struct.pack("<H", 512))

    assert encode(ds) == {"00280010": {"vr": "US", "Value": [512]}}


def test_private_elements_are_kept_when_their_vr_is_known():
    ds = Dataset()
    raw(ds, 0x00090010, "LO", b"ACME 1.0")
    raw(ds, 0x00091001, "DS", b"1.5 ")
    raw(ds, 0x00091002, "UN", b"\x01\x02")

    assert encode(ds) == {
        "00090010": {"vr": "LO", "Value": ["ACME 1.0"]},
        "00091001": {"vr": "DS", "Value": [1.5]},
    }


def test_implicit_vr_uses_the_dictionary_and_drops_unknown_private_elements():
    ds = Dataset()
    raw(ds, 0x00100010, None, b"Doe^John")
    raw(ds, 0x00280010, None, struct.pack("<H", 256))
    raw(ds, 0x00090010, None, b"ACME 1.0")
    raw(ds, 0x00091001, None, b"1.5 ")
    raw(ds, 0x00280106, None, struct.pack("<h", -5))
    raw(ds, 0x00280103, None, struct.pack("<H", 1))

    assert encode(ds) == {
        "00090010": {"vr": "LO", "Value": ["ACME 1.0"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
        "00280010": {"vr": "US", "Value": [256]},
        "00280103": {"vr": "US", "Value": [1]},
        "00280106": {"vr": "SS", "Value": [-5]},
    }


def test_un_standard_elements_take_the_dictionary_vr():
    ds = Dataset()
    raw(ds, 0x00080020, "UN", b"20240102")
    raw(ds, 0x00280010, "UN", struct.pack("<H", 64))

    assert encode(ds) == {
        "00080020": {"vr": "DA", "Value": ["20240102"]},
        "00280010": {"vr": "US", "Value": [64]},
    }


def test_strings_keep_nul_and_lose_only_padding():
    ds = Dataset()
    raw(ds, 0x00080060, "CS", b"X\0")
    raw(ds, 0x00100020, "LO", b"123\0")
    raw(ds, 0x00081030, "LO", b" lead and trail  ")
    raw(ds, 0x00080018, "UI", b"1.2.3\0")
    raw(ds, 0x0020000D, "UI", b"1.2.3.4 ")

    assert encode(ds) == {
        "00080018": {"vr": "UI", "Value": ["1.2.3"]},
        "00080060": {"vr": "CS", "Value": ["X\0"]},
        "00081030": {"vr": "LO", "Value": [" lead and trail"]},
        "00100020": {"vr": "LO", "Value": ["123\0"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.3.4 "]},
    }


def test_multi_valued_strings_with_empty_values_become_null():
    ds = Dataset()
    raw(ds, 0x00080008, "CS", b"ORIGINAL\\\\AXIAL ")
    raw(ds, 0x00081080, "LO", b"\\b")
    raw(ds, 0x00284000, "LT", b"a\\b")

    assert encode(ds) == {
        "00080008": {"vr": "CS", "Value": ["ORIGINAL", None, "AXIAL"]},
        "00081080": {"vr": "LO", "Value": [None, "b"]},
        "00284000": {"vr": "LT", "Value": ["a\\b"]},
    }


def test_decimal_strings_are_numbers_unless_unreadable():
    ds = Dataset()
    raw(ds, 0x00280030, "DS", b"0.390625\\5.000000")
    raw(ds, 0x00200032, "DS", b"+1.5\\.5 \\-2.\\1E3 ")
    raw(ds, 0x00181050, "DS", b"abc\\\\nan ")
    raw(ds, 0x00180050, "DS", b" 007 ")

    data = dataset_to_dicom_json(ds)

    assert b'"Value":[0.390625,5.000000]' in data
    assert encode(ds) == {
        "00180050": {"vr": "DS", "Value": [7.0]},
        "00181050": {"vr": "DS", "Value": ["abc", None, "nan"]},
        "00200032": {"vr": "DS", "Value": [1.5, 0.5, -2.0, 1000.0]},
        "00280030": {"vr": "DS", "Value": [0.390625, 5.0]},
    }


def test_integer_strings_are_integers_unless_unreadable():
    ds = Dataset()
    raw(ds, 0x00200013, "IS", b" 3\\+4\\007\\-12")
    raw(ds, 0x00201002, "IS", b"1A\\\\2.5 ")

    assert encode(ds) == {
        "00200013": {"vr": "IS", "Value": [3, 4, 7, -12]},
        "00201002": {"vr": "IS", "Value": ["1A", None, "2.5"]},
    }


@pytest.mark.parametrize("little", [True, False])
def test_binary_numbers(little):
    order = "<" if little else ">"
    ds = Dataset()
    raw(ds, 0x00280010, "US", struct.pack(f"{order}2H", 512, 65535), little)
    raw(ds, 0x00189219, "SS", struct.pack(f"{order}h", -3), little)
    raw(ds, 0x00189206, "UL", struct.pack(f"{order}I", 4000000000), little)
    raw(ds, 0x00189207, "SL", struct.pack(f"{order}i", -70000), little)
    raw(ds, 0x00720086, "UV", struct.pack(f"{order}Q", 2**63), little)
    raw(ds, 0x00720082, "SV", struct.pack(f"{order}q", -(2**40)), little)
    raw(ds, 0x00189087, "FD", struct.pack(f"{order}3d", 0.1, -2.5e-300, 1e16), little)
    raw(ds, 0x00189089, "FL", struct.pack(f"{order}3f", 0.1, 116.2031, 3.4e38), little)

    assert encode(ds) == {
        "00189087": {"vr": "FD", "Value": [0.1, -2.5e-300, 1e16]},
        "00189089": {"vr": "FL", "Value": [0.1, 116.2031, 3.4e38]},
        "00189206": {"vr": "UL", "Value": [4000000000]},
        "00189207": {"vr": "SL", "Value": [-70000]},
        "00189219": {"vr": "SS", "Value": [-3]},
        "00280010": {"vr": "US", "Value": [512, 65535]},
        "00720082": {"vr": "SV", "Value": [-(2**40)]},
        "00720086": {"vr": "UV", "Value": [2**63]},
    }


def test_float_32_values_are_written_in_their_shortest_form():
    ds = Dataset()
    raw(ds, 0x00189089, "FL", struct.pack("<2f", 0.1, -116.2031))

    assert b'"Value":[0.1,-116.2031]' in dataset_to_dicom_json(ds)


def test_non_finite_floats_are_strings():
    ds = Dataset()
    raw(ds, 0x00189087, "FD", struct.pack("<3d", math.nan, math.inf, -math.inf))
    raw(ds, 0x00189089, "FL", struct.pack("<f", math.nan))

    data = dataset_to_dicom_json(ds)

    assert encode(ds) == {
        "00189087": {"vr": "FD", "Value": ["NaN", "Infinity", "-Infinity"]},
        "00189089": {"vr": "FL", "Value": ["NaN"]},
    }
    back = Dataset.from_json(data.decode())
    assert math.isnan(back[0x00189087].value[0]) and back[0x00189087].value[1] == math.inf


def test_attribute_tags():
    ds = Dataset()
    raw(ds, 0x00209165, "AT", struct.pack("<4H", 0x0010, 0x0010, 0x0020, 0x000D))
    raw(ds, 0x00209167, "AT", struct.pack(">2H", 0x7FE0, 0x0010), little=False)
    ds.add_new(0x00209213, "AT", [0x00100020, 0x0008002A])

    assert encode(ds) == {
        "00209165": {"vr": "AT", "Value": ["00100010", "0020000D"]},
        "00209167": {"vr": "AT", "Value": ["7FE00010"]},
        "00209213": {"vr": "AT", "Value": ["00100020", "0008002A"]},
    }


def test_person_names_have_only_their_non_empty_groups():
    ds = Dataset()
    raw(ds, 0x00100010, "PN", b"Yamada^Tarou==yamada^tarou")
    raw(ds, 0x00080090, "PN", b"=Ideo\\\\Smith^J ")
    raw(ds, 0x00081050, "PN", b"==")

    assert encode(ds) == {
        "00080090": {"vr": "PN", "Value": [{"Ideographic": "Ideo"}, None, {"Alphabetic": "Smith^J"}]},
        "00081050": {"vr": "PN", "Value": [None]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Phonetic": "yamada^tarou"}]},
    }


def test_iso_ir_100_values_are_decoded():
    ds = Dataset()
    raw(ds, 0x00080005, "CS", b"ISO_IR 100")
    raw(ds, 0x00100010, "PN", "Buc^Jérôme".encode("latin-1"))
    raw(ds, 0x00081030, "LO", "Étude cardiaque\\Contrôle".encode("latin-1"))

    result = encode(ds)

    assert result["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Buc^Jérôme"}]}
    assert result["00081030"]["Value"] == ["Étude cardiaque", "Contrôle"]


def test_iso_ir_192_values_are_decoded_and_written_as_utf8():
    ds = Dataset()
    raw(ds, 0x00080005, "CS", b"ISO_IR 192")
    raw(ds, 0x00100010, "PN", "Wang^XiaoDong=王^小東=".encode())

    data = dataset_to_dicom_json(ds)

    assert "王^小東".encode() in data
    assert json.loads(data)["00100010"] == {
        "vr": "PN",
        "Value": [{"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小東"}],
    }


@pytest.mark.parametrize("name", ["chrH31.dcm", "chrH32.dcm", "chrX1.dcm", "chrFrenMulti.dcm", "chrRuss.dcm"])
def test_person_names_of_character_set_samples_match_pydicom(name):
    path = get_charset_files(name)[0]

    back = Dataset.from_json(dataset_to_dicom_json(pydicom.dcmread(path)).decode())

    assert str(back.PatientName) == str(pydicom.dcmread(path).PatientName)


def test_nested_items_inherit_or_override_the_character_set():
    inner = Dataset()
    raw(inner, 0x00100010, "PN", "Jérôme".encode("latin-1"))
    own = Dataset()
    raw(own, 0x00080005, "CS", b"ISO_IR 192")
    raw(own, 0x00100010, "PN", "Jérôme".encode())
    ds = Dataset()
    raw(ds, 0x00080005, "CS", b"ISO_IR 100")
    ds.add_new(0x00081115, "SQ", Sequence([inner, own]))

    items = encode(ds)["00081115"]["Value"]

    assert items[0]["00100010"]["Value"] == [{"Alphabetic": "Jérôme"}]
    assert items[1]["00100010"]["Value"] == [{"Alphabetic": "Jérôme"}]


def test_nested_sequences():
    leaf = Dataset()
    raw(leaf, 0x00080100, "SH", b"T-D1100")
    raw(leaf, 0x00080102, "SH", b"SRT ")
    middle = Dataset()
    middle.add_new(0x00082218, "SQ", Sequence([leaf, Dataset()]))
    raw(middle, 0x00081155, "UI", b"1.2.3\0")
    ds = Dataset()
    ds.add_new(0x00081140, "SQ", Sequence([middle]))

    assert encode(ds) == {
        "00081140": {
            "vr": "SQ",
            "Value": [
                {
                    "00081155": {"vr": "UI", "Value": ["1.2.3"]},
                    "00082218": {
                        "vr": "SQ",
                        "Value": [
                            {
                                "00080100": {"vr": "SH", "Value": ["T-D1100"]},
                                "00080102": {"vr": "SH", "Value": ["SRT"]},
                            },
                            {},
                        ],
                    },
                }
            ],
        }
    }


def test_exclude_applies_to_top_level_tags_only():
    item = Dataset()
    raw(item, 0x00080020, "DA", b"20200101")
    ds = Dataset()
    raw(ds, 0x00080020, "DA", b"NotAValidStudyDate")
    raw(ds, 0x00080060, "CS", b"CT")
    ds.add_new(0x00081250, "SQ", Sequence([item]))

    result = encode(ds, exclude={0x00080020})

    assert "00080020" not in result
    assert result["00081250"]["Value"] == [{"00080020": {"vr": "DA", "Value": ["20200101"]}}]


def test_converted_elements_are_encoded_like_raw_ones():
    ds = Dataset()
    ds.PatientName = "Doe^Jane=^=j"
    ds.ImageType = ["ORIGINAL", "", "AXIAL"]
    ds.PixelSpacing = [0.5, "0.25"]
    ds.InstanceNumber = 7
    ds.Rows = 512
    ds.ImagePositionPatient = MultiValue(str, ["-1.5", "2", "3e2"])
    ds.add_new(0x00189089, "FL", [0.5, 1.25])
    ds.add_new(0x00209165, "AT", Tag(0x00100010))
    ds.add_new(0x00280106, "US or SS", 3)

    assert encode(ds) == {
        "00080008": {"vr": "CS", "Value": ["ORIGINAL", None, "AXIAL"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane", "Ideographic": "^", "Phonetic": "j"}]},
        "00189089": {"vr": "FL", "Value": [0.5, 1.25]},
        "00200013": {"vr": "IS", "Value": [7]},
        "00200032": {"vr": "DS", "Value": [-1.5, 2, 300.0]},
        "00209165": {"vr": "AT", "Value": ["00100010"]},
        "00280010": {"vr": "US", "Value": [512]},
        "00280030": {"vr": "DS", "Value": [0.5, 0.25]},
        "00280106": {"vr": "US", "Value": [3]},
    }


def test_deferred_values_are_read():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True, defer_size=4)

    result = encode(ds)

    assert result["00080070"] == {"vr": "LO", "Value": ["GE MEDICAL SYSTEMS"]}
    assert result["00280030"] == {"vr": "DS", "Value": [0.661468, 0.661468]}


def _write(ds: Dataset, transfer_syntax) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=transfer_syntax.is_implicit_VR, little_endian=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer, force=True)


@pytest.mark.parametrize("transfer_syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_written_and_read_dataset_with_sequences(transfer_syntax):
    item = Dataset()
    item.CodeValue = "113691"
    item.CodingSchemeDesignator = "DCM"
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Ärger"
    ds.SliceThickness = "2.5"
    ds.add_new(0x00091001, "LO", "private")
    ds.add_new(0x00090010, "LO", "ACME")
    ds.ProcedureCodeSequence = Sequence([item])
    ds.ReferencedImageSequence = Sequence()

    result = encode(_write(ds, transfer_syntax))

    assert result["00100010"]["Value"] == [{"Alphabetic": "Müller^Ärger"}]
    assert result["00081032"]["Value"] == [
        {"00080100": {"vr": "SH", "Value": ["113691"]}, "00080102": {"vr": "SH", "Value": ["DCM"]}}
    ]
    assert result["00081140"] == {"vr": "SQ"}
    assert result["00090010"] == {"vr": "LO", "Value": ["ACME"]}
    assert ("00091001" in result) is not transfer_syntax.is_implicit_VR


def _normalized(vr: str, value) -> list | None:
    if vr == "SQ":
        return [_normalized_dataset(item) for item in value] or None
    values = list(value) if isinstance(value, list | MultiValue) else [value]
    out = []
    for v in values:
        if v is None or v == "":
            out.append(None)
        elif vr in ("DS", "FD"):
            out.append(float(v))
        elif vr == "FL":
            out.append(struct.unpack("<f", struct.pack("<f", float(v)))[0])
        elif vr in ("IS", "US", "SS", "UL", "SL", "UV", "SV", "AT"):
            out.append(int(v))
        else:
            out.append(str(v).rstrip("\0 ") or None)
    while out and out[-1] is None:
        out.pop()
    return out or None


def _normalized_dataset(ds: Dataset) -> dict:
    return {
        int(elem.tag): (elem.VR, _normalized(elem.VR, elem.value))
        for elem in ds
        if elem.tag.element and elem.tag.group != 2 and elem.VR not in BULK_VRS
    }


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "rtplan.dcm",
        "ExplVR_BigEnd.dcm",
        "JPEG2000.dcm",
        "rtdose_rle_1frame.dcm",
        "SC_rgb_small_odd_big_endian.dcm",
    ],
)
def test_sample_files_round_trip_through_pydicom(name):
    path = get_testdata_file(name)

    data = dataset_to_dicom_json(pydicom.dcmread(path, stop_before_pixels=True))
    back = Dataset.from_json(data.decode())

    assert _normalized_dataset(back) == _normalized_dataset(pydicom.dcmread(path, stop_before_pixels=True))


def test_element_from_json_keeps_its_vr():
    ds = Dataset()
    ds.add(DataElement(0x00100020, "LO", "PID"))

    assert Dataset.from_json(dataset_to_dicom_json(ds).decode())[0x00100020].VR == "LO"
