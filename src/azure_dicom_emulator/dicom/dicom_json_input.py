"""DICOM JSON request bodies (PS3.18 Annex F): checked member by member, then read into pydicom datasets.

pydicom reads almost anything it is given, with a warning at most, so the shape of every
attribute is checked first: keys are 8 hexadecimal digits, each attribute an object with a known
VR (the dictionary's, for standard attributes), values of the JSON types its VR takes, sequences
nested no deeper than `MAX_DEPTH`. A failure names the offending member by its JSON path.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

from pydicom.dataset import Dataset
from pydicom.valuerep import VR

from .attribute_ids import dictionary_vrs
from .dicom_json import BULK_VRS, iter_elements, string_values
from .validation import element_failure
from .value_rules import minimal_value_problem

__all__ = ["MAX_DEPTH", "SYNTAX_INVALID", "DicomJsonError", "first_dataset", "first_value_problem"]

MAX_DEPTH = 16
"""Sequences may nest this many levels deep."""

SYNTAX_INVALID = "The syntax of the request body is invalid."
_FIELD_INVALID = "The field '{path}' in request body is invalid: {detail}"
_TAG_KEY = re.compile(r"[0-9A-Fa-f]{8}")
_VRS = frozenset(vr.value for vr in VR if len(vr.value) == 2)
_MEMBERS = frozenset({"vr", "Value", "InlineBinary", "BulkDataURI"})
_PN_GROUPS = frozenset({"Alphabetic", "Ideographic", "Phonetic"})
_INTEGER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
_NUMBER_VRS = frozenset({"FL", "FD", "IS", "DS"})


class DicomJsonError(ValueError):
    """A request body that is not the DICOM JSON asked for; its text is Azure's 400 message."""


def first_dataset(body: bytes, allow_empty_body: bool = False) -> Dataset:
    """The first dataset of a body holding a JSON array of DICOM JSON datasets; DicomJsonError otherwise.

    With ``allow_empty_body`` an empty body reads as an empty dataset.
    """
    if allow_empty_body and not body.strip():
        return Dataset()
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise DicomJsonError(SYNTAX_INVALID) from exc
    if not isinstance(document, list):
        raise _invalid("$", "The value must be an array of DICOM JSON datasets.")
    if not document:
        raise _invalid("$", "The array must hold at least one dataset.")
    _check_dataset(document[0], "$[0]", 0)
    with warnings.catch_warnings():
        # Shapes are checked above and values by `first_value_problem`, in the service's words.
        warnings.simplefilter("ignore")
        try:
            return Dataset.from_json(document[0])
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise _invalid("$[0]", str(exc).strip() or type(exc).__name__) from exc


def first_value_problem(ds: Dataset) -> str | None:
    """Azure's text for the first value (at any depth) that breaks its VR's rules, or None when all follow them."""
    pending = [ds]
    while pending:
        current = pending.pop()
        for tag, elem, vr in iter_elements(current):
            if vr == "SQ":
                pending.extend(elem.value or ())
                continue
            if vr in BULK_VRS or vr in _INTEGER_VRS or vr in ("FL", "FD", "AT"):
                continue
            for value in string_values(elem, vr, []):
                detail = minimal_value_problem(vr, value) if value else None
                if detail:
                    return element_failure(tag, vr, detail)
    return None


def _invalid(path: str, detail: str) -> DicomJsonError:
    return DicomJsonError(_FIELD_INVALID.format(path=path, detail=detail))


def _check_dataset(dataset: Any, path: str, depth: int) -> None:
    if not isinstance(dataset, dict):
        raise _invalid(path, "A DICOM JSON dataset must be a JSON object.")
    for key, attribute in dataset.items():
        attribute_path = f"{path}.{key}"
        if not _TAG_KEY.fullmatch(key):
            raise _invalid(attribute_path, f"'{key}' is not a DICOM tag of 8 hexadecimal digits.")
        if not isinstance(attribute, dict):
            raise _invalid(attribute_path, "A DICOM JSON attribute must be a JSON object.")
        unknown = set(attribute) - _MEMBERS
        if unknown:
            raise _invalid(attribute_path, f"'{sorted(unknown)[0]}' is not a member of a DICOM JSON attribute.")
        vr = attribute.get("vr")
        if vr not in _VRS:
            raise _invalid(attribute_path, f"'{vr}' is not a value representation.")
        allowed = dictionary_vrs(int(key, 16))
        if allowed is not None and vr not in allowed and not (vr == "OW" and "OB" in allowed):
            raise _invalid(attribute_path, f"The VR of this attribute is {' or '.join(allowed)}, not {vr}.")
        if "BulkDataURI" in attribute:
            raise _invalid(attribute_path, "Bulk data URIs are not supported.")
        if "InlineBinary" in attribute and (vr not in BULK_VRS or not isinstance(attribute["InlineBinary"], str)):
            raise _invalid(attribute_path, "InlineBinary must be a base64 string of an OB, OD, OF, OL, OV, OW or UN.")
        if "Value" in attribute:
            _check_values(attribute["Value"], vr, f"{attribute_path}.Value", depth)


def _check_values(values: Any, vr: str, path: str, depth: int) -> None:
    if not isinstance(values, list):
        raise _invalid(path, "The value must be an array.")
    if vr in BULK_VRS:
        raise _invalid(path, f"Values of VR {vr} are given as InlineBinary.")
    for index, value in enumerate(values):
        value_path = f"{path}[{index}]"
        if vr == "SQ":
            if depth + 1 > MAX_DEPTH:
                raise _invalid(value_path, f"Sequences may nest at most {MAX_DEPTH} levels deep.")
            _check_dataset(value, value_path, depth + 1)
        elif value is not None and not _value_fits(value, vr):
            raise _invalid(value_path, f"The value is not of a JSON type VR {vr} takes.")


def _value_fits(value: Any, vr: str) -> bool:
    if isinstance(value, bool):
        return False
    if vr == "PN":
        return isinstance(value, dict) and set(value) <= _PN_GROUPS and all(isinstance(v, str) for v in value.values())
    if vr in _INTEGER_VRS:
        return isinstance(value, int)
    if vr in _NUMBER_VRS:
        return isinstance(value, int | float) or (vr in ("IS", "DS") and isinstance(value, str))
    if vr == "AT":
        return isinstance(value, str) and _TAG_KEY.fullmatch(value) is not None
    return isinstance(value, str)
