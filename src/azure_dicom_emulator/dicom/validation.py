"""STOW-RS validation of an instance's dataset, by API version (spec §1.1, §3.2, §3.6, §15).

v1 rejects the instance when a required attribute is missing or invalid, or when an indexed
attribute fails a minimal check of its VR. v2 rejects it only for the required attributes;
any other attribute whose value breaks its VR is reported as a warning and, at the top level,
dropped from the stored metadata and index (the file itself is stored unchanged).

Values are judged as stored: elements are read without pydicom's conversion (see
`dicom_json`), so NULs in a value are seen; PixelData and other bulk data are never read.
The rules of each VR are in `value_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydicom.charset import default_encoding
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from .attribute_ids import tag_label
from .core_attributes import CORE_ATTRIBUTES
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
from .value_rules import binary_count, element_vr_problem, minimal_value_problem

__all__ = ["INDEXED_TAGS", "ValidationResult", "element_failure", "validate_instance"]

SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
PATIENT_ID = 0x00100020

_INDEXED_VRS = {attribute.tag: attribute.vr for attribute in CORE_ATTRIBUTES.values() if attribute.held}
INDEXED_TAGS = frozenset(_INDEXED_VRS)
"""The core searchable attributes (spec §5.2), ModalitiesInStudy aside (it is computed)."""

_REQUIRED_UIDS = (SOP_CLASS_UID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID)
_REQUIRED = frozenset({*_REQUIRED_UIDS, PATIENT_ID})
_NO_EXTRA: Mapping[int, str] = {}


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
    whitespace/NULs and case ignored), or when PatientID is absent; as Azure, it reports only
    the first of these required attributes that fails.

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
    if check.required_attributes(api_version, study_uid_in_url):
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

    def required_attributes(self, api_version: int, study_uid_in_url: str | None) -> bool:
        """Whether PatientID is there (v1: with one value) and each required UID is valid; like Azure, only the
        first that is not is reported, in Azure's order: PatientID, SOPClassUID, then the study, series and SOP
        instance UIDs."""
        patient = self.values(PATIENT_ID)
        if patient is None or (api_version < 2 and (len(patient) != 1 or not patient[0])):
            self.fail(PATIENT_ID, _missing(PATIENT_ID))
            return False
        for tag in _REQUIRED_UIDS:
            values = self.values(tag)
            if not values or len(values) != 1 or not values[0].strip(" \0"):
                self.fail(tag, _missing(tag))
            elif detail := minimal_value_problem("UI", values[0]):
                self.fail(tag, element_failure(tag, "UI", detail))
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
            if self.failures:
                return False
        return True

    def patient_id(self, api_version: int) -> None:
        """The rules on PatientID's value, once it is known to be there."""
        values = self.values(PATIENT_ID) or []
        if len(values) > 1:
            self.multiple_values = True
        if api_version < 2:
            if detail := minimal_value_problem("LO", values[0]):
                self.fail(PATIENT_ID, element_failure(PATIENT_ID, "LO", detail))
        elif not "\\".join(values).strip():
            self.warn(self.ds, PATIENT_ID, _missing(PATIENT_ID), self.encodings)
            self.dropped.add(PATIENT_ID)
        elif detail := minimal_value_problem("LO", values[0].rstrip("\0")):
            self.fail(PATIENT_ID, element_failure(PATIENT_ID, "LO", detail))

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
                count = binary_count(elem, vr)
                detail = "Value length is not expected" if count is None else None
            else:
                values = string_values(elem, vr, self.encodings)
                count = len(values)
                detail = minimal_value_problem(vr, values[0]) if values and values[0] else None
            if count is not None and count > 1:
                self.multiple_values = True
            if detail:
                self.fail(tag, element_failure(tag, vr, detail))

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
            problem, count = element_vr_problem(elem, vr, self.encodings)
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
                elif problem := element_vr_problem(elem, vr, encodings)[0]:
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
    return f"The required tag '{tag_label(tag)}' is missing."


def _uid_key(uid: str) -> str:
    return uid.rstrip(" \t\n\r\f\v\0").lower()


def _unexpected_vr(ds: Dataset, tag: int, expected: str, actual: str, encodings: list[str]) -> str:
    label = _label(ds, tag, encodings)
    return f"The extended query tag '{label}' is expected to have VR '{expected}' but has '{actual}' in file."


def element_failure(tag: int, vr: str, detail: str) -> str:
    """Azure's text for an element whose value breaks its VR's rules (``detail`` says how)."""
    name = keyword_for_tag(tag) or tag_label(tag)
    return f"Dicom element '{name}' failed validation for VR '{vr}': {detail}."
