"""Examining one staged upload: parse, validate, build its metadata. Runs in the CPU worker pool."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian

from ...dicom import store_response as codes
from ...dicom.dicom_json import dataset_to_dicom_json, string_values
from ...dicom.extended_values import TagSpec, tag_value
from ...dicom.frame_location import frame_index_of
from ...dicom.index_values import indexed_levels
from ...dicom.part10 import NotPart10Error, file_view, read_header
from ...dicom.validation import (
    SERIES_INSTANCE_UID,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    STUDY_INSTANCE_UID,
    validate_instance,
)


@dataclass
class Inspection:
    """What the store path needs to know of one uploaded instance."""

    failure_reason: int | None = None
    warning_reason: int | None = None
    messages: list[str] = field(default_factory=list)
    sop_class_uid: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_uid: str | None = None
    transfer_syntax_uid: str = ""
    metadata: bytes = b""
    stored_size: int = 0
    study_values: dict = field(default_factory=dict)
    series_values: dict = field(default_factory=dict)
    instance_attributes: str | None = None
    """The attributes searches return at instance level (dicom.query_attributes), as JSON."""
    extended_values: dict = field(default_factory=dict)
    """The value of each extended query tag known when the upload was inspected (by tag), None when none."""
    multiple_values_indexed: bool = False
    frame_index: str = ""

    @property
    def instance_id(self) -> tuple[str, str, str]:
        """(study, series, sop) UIDs as the index keys them."""
        return (self.study_uid or "", self.series_uid or "", self.sop_uid or "")


def inspect_staged(
    path: str, size: int, api_version: int, study_uid_in_url: str | None, extended_tags: tuple[TagSpec, ...] = ()
) -> Inspection:
    """Reports whether and how the staged file at ``path`` (its head already as stored) can be stored.

    The extended query tags ``extended_tags`` are validated like the core indexed attributes, and
    their values computed.
    """
    with open(path, "rb") as fp, file_view(fp) as view:
        try:
            header = read_header(fp, view)
        except NotPart10Error:
            return Inspection(failure_reason=codes.VALIDATION_FAILURE)
        ds = header.dataset
        result = Inspection(
            sop_class_uid=_uid(ds, SOP_CLASS_UID),
            study_uid=_uid(ds, STUDY_INSTANCE_UID),
            series_uid=_uid(ds, SERIES_INSTANCE_UID),
            sop_uid=_uid(ds, SOP_INSTANCE_UID),
            transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
            stored_size=size,
        )
        try:
            extra_indexed = {spec.tag: spec.vr for spec in extended_tags}
            validation = validate_instance(ds, api_version, study_uid_in_url, extra_indexed)
        except Exception:  # untrusted values that defeat decoding are a validation failure
            result.failure_reason = codes.VALIDATION_FAILURE
            return result
        result.messages = validation.messages
        if validation.failed:
            result.failure_reason = codes.VALIDATION_FAILURE
            return result
        result.multiple_values_indexed = validation.multiple_values_indexed
        if result.transfer_syntax_uid == ImplicitVRLittleEndian:
            result.warning_reason = codes.DATASET_DOES_NOT_MATCH_SOP_CLASS
        elif api_version >= 2 and validation.messages:
            result.warning_reason = codes.DATASET_HAS_VALIDATION_WARNINGS
        try:
            result.metadata = dataset_to_dicom_json(ds, exclude=validation.dropped_tags)
        except Exception:
            result.failure_reason = codes.PROCESSING_FAILURE
            return result
        as_dict = json.loads(result.metadata)
        levels = indexed_levels(as_dict)
        result.study_values = levels.study_values
        result.series_values = levels.series_values
        result.instance_attributes = levels.instance_attributes
        result.extended_values = {spec.tag: tag_value(as_dict, spec, strict=False)[0] for spec in extended_tags}
        result.frame_index = frame_index_of(path, view, header, as_dict).to_json()
        return result


def _uid(ds: Dataset, tag: int) -> str | None:
    """The UID value of element ``tag`` as written, padding removed; read raw, without pydicom's conversion."""
    elem = ds.get_item(tag, keep_deferred=True)
    if elem is None:
        return None
    return "\\".join(string_values(elem, "UI", [])).rstrip(" \x00") or None
