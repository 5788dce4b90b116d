"""STOW-RS validation of an instance's dataset, by API version (spec §1.1, §3.2, §3.6, §15).

v1 rejects the instance when a required attribute is missing or invalid, or when an indexed
attribute fails a minimal check of its VR. v2 rejects it only for the required attributes;
any other attribute whose value breaks its VR is reported as a warning and, at the top level,
dropped from the stored metadata and index (the file itself is stored unchanged).

Values are judged as stored: elements are read without pydicom's conversion (see
`dicom_json`), so NULs in a value are seen; PixelData and other bulk data are never read.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from .dicom_json import (
    BINARY_SIZES,
    BULK_VRS,
    Element,
    dataset_encodings,
    element_vr,
    iter_elements,
    load_element,
    string_values,
)
from .value_memo import ValueMemo

__all__ = [
    "INDEXED_TAGS",
    "UID_PATTERN",
    "ValidationResult",
    "is_valid_uid",
    "minimal_value_problem",
    "validate_instance",
]

UID_PATTERN = re.compile(r"[0-9.]{0,63}[0-9]")
"""A UID (spec §15): 1-64 digits and dots, ending with a digit. Use with ``fullmatch``."""

SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
PATIENT_ID = 0x00100020

INDEXED_TAGS = frozenset(
    {
        STUDY_INSTANCE_UID,
        0x00100010,  # PatientName
        PATIENT_ID,
        0x00100030,  # PatientBirthDate
        0x00080050,  # AccessionNumber
        0x00080090,  # ReferringPhysicianName
        0x00080020,  # StudyDate
        0x00081030,  # StudyDescription
        SERIES_INSTANCE_UID,
        0x00080060,  # Modality
        0x00400244,  # PerformedProcedureStepStartDate
        0x00081090,  # ManufacturerModelName
        SOP_INSTANCE_UID,
    }
)
"""The core searchable attributes (spec §5.2), ModalitiesInStudy aside (it is computed)."""

_REQUIRED_UIDS = (SOP_CLASS_UID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID)
_REQUIRED = frozenset({*_REQUIRED_UIDS, PATIENT_ID})
_INDEXED_VRS = {tag: dictionary_VR(tag) for tag in INDEXED_TAGS}
_NO_EXTRA: Mapping[int, str] = {}

_UID_DETAIL = (
    "DICOM Identifier is invalid. Value length should not exceed the maximum length of 64 characters. "
    "Value should contain characters in '0'-'9' and '.'. Each component must start with non-zero number"
)


@dataclass
class ValidationResult:
    """The verdict on one instance."""

    failed: bool = False
    """The instance must be rejected (FailureReason 43264)."""
    messages: list[str] = field(default_factory=list)
    """``DICOM100: (gggg,eeee) - ...`` texts for FailedAttributesSequence, failures first; one per tag."""
    dropped_tags: set[int] = field(default_factory=set)
    """v2: top-level tags left out of the stored metadata and index."""
    multiple_values_indexed: bool = False
    """An indexed attribute has several values (only the first is indexed; spec §3.5)."""


def is_valid_uid(value: str) -> bool:
    """Tell whether `value` is a UID (spec §15) once trailing spaces and NULs are trimmed."""
    return UID_PATTERN.fullmatch(value.rstrip(" \0")) is not None


def validate_instance(
    ds: Dataset,
    api_version: int,
    study_uid_in_url: str | None = None,
    extra_indexed: Mapping[int, str] = _NO_EXTRA,
) -> ValidationResult:
    """Apply the STOW rules of API major version `api_version` (1 or 2) to `ds`.

    Both versions fail the instance when SOPClassUID, StudyInstanceUID, SeriesInstanceUID
    or SOPInstanceUID does not hold exactly one valid UID (trailing spaces and NUL padding
    are tolerated), when StudyInstanceUID differs from `study_uid_in_url` (trailing
    whitespace/NULs and case ignored), or when PatientID is absent.

    v1 also fails it when PatientID has not exactly one non-empty value, or when an indexed
    attribute (`INDEXED_TAGS` and the extended query tags `extra_indexed`, tag -> VR) has
    another VR than expected or its first value fails the minimal check of its VR; NULs
    count as invalid characters there.

    v2 fails it when PatientID has a value that is not a valid LO once trailing NULs are
    trimmed. A PatientID that is present but empty only gives a warning ("required tag is
    missing") and is dropped. Every other element is checked against the rules of its VR
    (PS3.5 §6.2: characters, length, date/time/number formats; not the value multiplicity),
    ignoring trailing NUL padding; a top-level element that fails, or an indexed one with an
    unexpected VR, gets a warning and is dropped. Elements inside sequences get warnings
    but are kept. The required UIDs are only judged by the UID rule above.

    In both versions an indexed attribute with several values sets `multiple_values_indexed`.
    """
    check = _Check(ds, {**_INDEXED_VRS, **extra_indexed} if extra_indexed else _INDEXED_VRS)
    check.required_uids(study_uid_in_url)
    check.patient_id(api_version)
    if api_version >= 2:
        check.all_elements()
    else:
        check.indexed_elements()
    return check.result()


class _Check:
    """The state of one validation: the dataset and the messages found so far."""

    def __init__(self, ds: Dataset, indexed: Mapping[int, str]) -> None:
        self.ds = ds
        self.indexed = indexed
        self.encodings = dataset_encodings(ds, [default_encoding])
        self.failures: dict[int, str] = {}
        self.warnings: dict[int, str] = {}
        self.dropped: set[int] = set()
        self.multiple_values = False

    def result(self) -> ValidationResult:
        warnings = [text for tag, text in self.warnings.items() if tag not in self.failures]
        return ValidationResult(
            failed=bool(self.failures),
            messages=[*self.failures.values(), *warnings],
            dropped_tags=self.dropped,
            multiple_values_indexed=self.multiple_values,
        )

    def fail(self, tag: int, text: str) -> None:
        self.failures.setdefault(tag, f"DICOM100: {_label(self.ds, tag, self.encodings)} - {text}")

    def warn(self, ds: Dataset, tag: int, text: str, encodings: list[str]) -> None:
        self.warnings.setdefault(tag, f"DICOM100: {_label(ds, tag, encodings)} - {text}")

    def element(self, tag: int) -> tuple[Element, str] | None:
        """A top-level element, loaded, with its VR; ``None`` when it is absent."""
        elem = self.ds.get_item(tag, keep_deferred=True)
        if elem is None:
            return None
        vr = element_vr(self.ds, tag, elem)
        return load_element(self.ds, elem, vr), vr

    def values(self, tag: int) -> list[str] | None:
        """The string values of a top-level element, ``None`` when it is absent."""
        found = self.element(tag)
        return None if found is None else string_values(found[0], found[1], self.encodings)

    def required_uids(self, study_uid_in_url: str | None) -> None:
        for tag in _REQUIRED_UIDS:
            values = self.values(tag)
            if not values or len(values) != 1 or not values[0].strip(" \0"):
                self.fail(tag, _missing(tag))
            elif not is_valid_uid(values[0]):
                self.fail(tag, _minimal_failure(tag, "UI", _UID_DETAIL))
            elif (
                tag == STUDY_INSTANCE_UID
                and study_uid_in_url is not None
                and _uid_key(values[0]) != _uid_key(study_uid_in_url)
            ):
                self.fail(
                    tag,
                    f"The StudyInstanceUid '{values[0]}' in the payload does not match "
                    f"the specified StudyInstanceUid '{study_uid_in_url}'.",
                )

    def patient_id(self, api_version: int) -> None:
        values = self.values(PATIENT_ID)
        if values is None:
            self.fail(PATIENT_ID, _missing(PATIENT_ID))
            return
        if len(values) > 1:
            self.multiple_values = True
        if api_version < 2:
            if len(values) != 1 or not values[0]:
                self.fail(PATIENT_ID, _missing(PATIENT_ID))
            elif detail := minimal_value_problem("LO", values[0]):
                self.fail(PATIENT_ID, _minimal_failure(PATIENT_ID, "LO", detail))
        elif not "\\".join(values).strip():
            self.warn(self.ds, PATIENT_ID, _missing(PATIENT_ID), self.encodings)
            self.dropped.add(PATIENT_ID)
        elif detail := minimal_value_problem("LO", values[0].rstrip("\0")):
            self.fail(PATIENT_ID, _minimal_failure(PATIENT_ID, "LO", detail))

    def indexed_elements(self) -> None:
        """v1: the minimal check of each indexed attribute's first value."""
        for tag, expected_vr in self.indexed.items():
            found = None if tag in _REQUIRED else self.element(tag)
            if found is None:
                continue
            elem, vr = found
            if vr != expected_vr:
                self.fail(tag, _unexpected_vr(self.ds, tag, expected_vr, vr, self.encodings))
                continue
            if vr in BINARY_SIZES:
                count = _binary_count(elem, vr)
                detail = "Value length is not expected" if count is None else None
            else:
                values = string_values(elem, vr, self.encodings)
                count = len(values)
                detail = minimal_value_problem(vr, values[0]) if values and values[0] else None
            if count is not None and count > 1:
                self.multiple_values = True
            if detail:
                self.fail(tag, _minimal_failure(tag, vr, detail))

    def all_elements(self) -> None:
        """v2: the VR rules on every element; top-level offenders are dropped."""
        nested: list[tuple[Dataset, list[str]]] = []
        for tag, elem, vr in iter_elements(self.ds):
            if tag in _REQUIRED or vr in BULK_VRS:
                continue
            if vr == "SQ" or elem.value is None:
                elem = load_element(self.ds, elem, vr)
            if vr == "SQ":
                nested.extend((item, self.encodings) for item in elem.value or ())
                continue
            expected_vr = self.indexed.get(tag)
            if expected_vr is not None and expected_vr != vr:
                problem = _unexpected_vr(self.ds, tag, expected_vr, vr, self.encodings)
                self.warn(self.ds, tag, problem, self.encodings)
                self.dropped.add(tag)
                continue
            problem, count = _remembered_vr_problem(elem, vr, self.encodings)
            if expected_vr is not None and count > 1:
                self.multiple_values = True
            if problem:
                self.warn(self.ds, tag, problem, self.encodings)
                self.dropped.add(tag)
        while nested:
            item, inherited = nested.pop()
            encodings = dataset_encodings(item, inherited)
            for tag, elem, vr in iter_elements(item):
                if vr in BULK_VRS:
                    continue
                if vr == "SQ" or elem.value is None:
                    elem = load_element(item, elem, vr)
                if vr == "SQ":
                    nested.extend((child, encodings) for child in elem.value or ())
                elif problem := _remembered_vr_problem(elem, vr, encodings)[0]:
                    self.warn(item, tag, problem, encodings)


def _label(ds: Dataset, tag: int, encodings: list[str]) -> str:
    """The tag as written in messages: ``(0008,002a)``, private tags with their creator."""
    group, element = tag >> 16, tag & 0xFFFF
    creator = ""
    if group & 1 and element >= 0x1000:
        creator_elem = ds.get_item(group << 16 | element >> 8)
        if creator_elem is not None:
            values = string_values(creator_elem, "LO", encodings)
            creator = f":{values[0]}" if values else ""
    return f"({group:04x},{element:04x}{creator})"


def _missing(tag: int) -> str:
    return f"The required tag '({tag >> 16:04x},{tag & 0xFFFF:04x})' is missing."


def _uid_key(uid: str) -> str:
    return uid.rstrip(" \t\n\r\f\v\0").lower()


def _unexpected_vr(ds: Dataset, tag: int, expected: str, actual: str, encodings: list[str]) -> str:
    label = _label(ds, tag, encodings)
    return f"The extended query tag '{label}' is expected to have VR '{expected}' but has '{actual}' in file."


def _minimal_failure(tag: int, vr: str, detail: str) -> str:
    name = keyword_for_tag(tag) or f"({tag >> 16:04x},{tag & 0xFFFF:04x})"
    return f"Dicom element '{name}' failed validation for VR '{vr}': {detail}."


def _binary_count(elem: Element, vr: str) -> int | None:
    """The number of values of a binary element; ``None`` when its length is not a multiple."""
    value = elem.value
    if isinstance(value, bytes):
        size = BINARY_SIZES[vr]
        return None if len(value) % size else len(value) // size
    if value is None:
        return 0
    return len(value) if isinstance(value, list | tuple | MultiValue) else 1


# ---------------------------------------------------------------- v1: minimal checks (first value)

_CONTROL_EXCEPT_ESC = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f-\x9f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_TIME = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.[0-9]{1,6})?)?)?")
_DATE_TIME = re.compile(
    r"([0-9]{4})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.[0-9]{1,6})?)?)?)?)?)?"
    r"(?:([+-])([0-9]{2})([0-9]{2}))?"
)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_AGE = re.compile(r"[0-9]{3}[DWMY]")
_CODE = re.compile(r"[A-Z0-9_ ]*")
_AE = re.compile(r"[ -\[\]-~]*")
_URI = re.compile(r"[!-\[\]-~]*")


def minimal_value_problem(vr: str, value: str) -> str | None:
    """The v1 check of a non-empty first value (spec §3, implementation note)."""
    if vr in ("AE", "CS", "SH"):
        return "Value length exceeds maximum length" if len(value) > 16 else None
    if vr == "AS":
        return "Value length is not expected" if len(value) != 4 else None
    if vr == "LO":
        if len(value) > 64:
            return "Value length exceeds maximum length"
        return "Value contains invalid character" if _CONTROL_EXCEPT_ESC.search(value) else None
    if vr == "PN":
        return _person_name_problem(value, capitalized=True)
    if vr == "UI":
        return None if is_valid_uid(value) else _UID_DETAIL
    if vr == "DA":
        return None if _valid_date(value.rstrip(" ")) else "Value cannot be parsed as a valid date"
    if vr == "DT":
        return None if _valid_date_time(value.rstrip(" ")) else "Value cannot be parsed as a valid date time"
    if vr == "TM":
        return None if _valid_time(value.rstrip(" ")) else "Value cannot be parsed as a valid time"
    if vr == "IS":
        return None if _integer_problem(value) is None else "Value is not a valid integer string"
    return None


# ---------------------------------------------------------------- v2: PS3.5 §6.2 rules (every value)


def _vr_problem(elem: Element, vr: str, encodings: list[str]) -> tuple[str | None, int]:
    """Return the warning text for the first value that breaks `vr` (or ``None``), and the value count."""
    size = BINARY_SIZES.get(vr)
    if size is not None:
        count = _binary_count(elem, vr)
        if count is None:
            reason = f"value length is not a multiple of {size}"
            return f'Content "{len(elem.value)} bytes" does not validate VR {vr}: {reason}', 1
        return None, count
    rule = _RULES.get(vr)
    values = string_values(elem, vr, encodings)
    if rule is None or not values:
        return None, len(values)
    values[-1] = values[-1].rstrip("\0")
    for value in values:
        if value and (reason := rule(value)):
            return f'Content "{value}" does not validate VR {vr}: {reason}', len(values)
    return None, len(values)


_remembered_vr_problem = ValueMemo(_vr_problem)


def _max_length(limit: int) -> str:
    return f"value exceeds maximum length of {limit} characters"


_INVALID_CHARACTER = "value contains invalid character"


def _ae_problem(value: str) -> str | None:
    if len(value) > 16:
        return _max_length(16)
    if not _AE.fullmatch(value):
        return _INVALID_CHARACTER
    return "value consists only of spaces" if not value.strip(" ") else None


def _as_problem(value: str) -> str | None:
    return None if _AGE.fullmatch(value) else "value does not match the pattern nnnD, nnnW, nnnM or nnnY"


def _cs_problem(value: str) -> str | None:
    if len(value) > 16:
        return _max_length(16)
    return None if _CODE.fullmatch(value) else _INVALID_CHARACTER


def _da_problem(value: str) -> str | None:
    value = value.rstrip(" ")
    if not _DATE.fullmatch(value):
        return "one of the date values does not match the pattern YYYYMMDD"
    return None if _valid_date(value) else "value is not a valid date"


def _ds_problem(value: str) -> str | None:
    if len(value) > 16:
        return _max_length(16)
    return None if _DECIMAL.fullmatch(value.strip(" ")) else "value is not a decimal string"


def _dt_problem(value: str) -> str | None:
    value = value.rstrip(" ")
    if len(value) > 26:
        return _max_length(26)
    if not _DATE_TIME.fullmatch(value):
        return "value does not match the pattern YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX]"
    return None if _valid_date_time(value) else "value is not a valid date time"


def _is_problem(value: str) -> str | None:
    if len(value) > 12:
        return _max_length(12)
    return _integer_problem(value)


def _lo_problem(value: str) -> str | None:
    if len(value) > 64:
        return _max_length(64)
    return _INVALID_CHARACTER if _CONTROL_EXCEPT_ESC.search(value) else None


def _pn_problem(value: str) -> str | None:
    return _person_name_problem(value, capitalized=False)


def _sh_problem(value: str) -> str | None:
    if len(value) > 16:
        return _max_length(16)
    return _INVALID_CHARACTER if _CONTROL_EXCEPT_ESC.search(value) else None


def _text_problem(limit: int | None) -> Callable[[str], str | None]:
    def problem(value: str) -> str | None:
        if limit is not None and len(value) > limit:
            return _max_length(limit)
        return _INVALID_CHARACTER if _TEXT_CONTROL.search(value) else None

    return problem


def _tm_problem(value: str) -> str | None:
    value = value.rstrip(" ")
    if not _TIME.fullmatch(value):
        return "value does not match the pattern HH[MM[SS[.F{1-6}]]]"
    return None if _valid_time(value) else "value is not a valid time"


def _uc_problem(value: str) -> str | None:
    return _INVALID_CHARACTER if _CONTROL_EXCEPT_ESC.search(value) else None


def _ui_problem(value: str) -> str | None:
    value = value.rstrip(" ")
    if len(value) > 64:
        return _max_length(64)
    if value.strip("0123456789."):
        return _INVALID_CHARACTER
    components = value.split(".")
    if "" in components:
        return "value contains an empty component"
    if any(len(c) > 1 and c[0] == "0" for c in components):
        return "value contains a component with a leading zero"
    return None


def _ur_problem(value: str) -> str | None:
    return None if _URI.fullmatch(value) else _INVALID_CHARACTER


_RULES: dict[str, Callable[[str], str | None]] = {
    "AE": _ae_problem,
    "AS": _as_problem,
    "CS": _cs_problem,
    "DA": _da_problem,
    "DS": _ds_problem,
    "DT": _dt_problem,
    "IS": _is_problem,
    "LO": _lo_problem,
    "LT": _text_problem(10240),
    "PN": _pn_problem,
    "SH": _sh_problem,
    "ST": _text_problem(1024),
    "TM": _tm_problem,
    "UC": _uc_problem,
    "UI": _ui_problem,
    "UR": _ur_problem,
    "UT": _text_problem(None),
}


# ---------------------------------------------------------------- shared value checks


def _person_name_problem(value: str, capitalized: bool) -> str | None:
    groups = value.split("=")
    if len(groups) > 3:
        problem = "value contains more than 3 component groups"
    elif any(len(group) > 64 for group in groups):
        problem = "value exceeds maximum length of 64 characters in a component group"
    elif any(group.count("^") > 4 for group in groups):
        problem = "value contains more than 5 components"
    elif _CONTROL_EXCEPT_ESC.search(value):
        problem = _INVALID_CHARACTER
    else:
        return None
    return problem[0].upper() + problem[1:] if capitalized else problem


def _integer_problem(value: str) -> str | None:
    text = value.strip(" ")
    if not _INTEGER.fullmatch(text):
        return "value is not an integer string"
    return None if -(2**31) <= int(text) < 2**31 else "value is out of the range of a 32-bit integer"


def _valid_date(value: str) -> bool:
    match = _DATE.fullmatch(value)
    return match is not None and _is_date(*map(int, match.groups()))


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def _valid_time(value: str) -> bool:
    match = _TIME.fullmatch(value)
    if match is None:
        return False
    hour, minute, second = (int(part or 0) for part in match.groups())
    return hour <= 23 and minute <= 59 and second <= 60


def _valid_date_time(value: str) -> bool:
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, sign, offset_hours, offset_minutes = match.groups()
    if not _is_date(int(year), int(month or 1), int(day or 1)):
        return False
    if int(hour or 0) > 23 or int(minute or 0) > 59 or int(second or 0) > 60:
        return False
    if sign is None:
        return True
    return int(offset_hours) <= (14 if sign == "+" else 12) and int(offset_minutes) <= 59
