"""Reading QIDO query strings: reserved parameters, filters and Azure's 400 messages."""

from __future__ import annotations

import pytest

from azure_dicom_emulator.errors import BadRequest
from azure_dicom_emulator.features.query.attributes import Resource
from azure_dicom_emulator.features.query.parameters import (
    parse_filters,
    parse_include_fields,
    parse_options,
    queryable_tags,
    reject_repeated_keys,
)
from azure_dicom_emulator.storage import search as conditions
from azure_dicom_emulator.storage.tag_values import TagLevel


def message(call, *args) -> str:
    with pytest.raises(BadRequest) as caught:
        call(*args)
    return caught.value.message


def test_defaults():
    options = parse_options([])
    assert (options.limit, options.offset, options.fuzzy, options.include_fields) == (100, 0, False, [])


def test_reserved_names_are_case_insensitive_and_includefield_repeats_and_splits():
    options = parse_options(
        [("LIMIT", "5"), ("Offset", "2"), ("FuzzyMatching", "True"), ("includefield", "a, b"), ("includeField", "c")]
    )
    assert (options.limit, options.offset, options.fuzzy) == (5, 2, True)
    assert options.include_fields == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("limit", "0")], "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."),
        ([("limit", "201")], "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."),
        ([("limit", "ten")], "The query parameter 'Limit' is invalid. The value 'ten' is not valid for Limit."),
        ([("limit", "1e2")], "The query parameter 'Limit' is invalid. The value '1e2' is not valid for Limit."),
        (
            [("offset", "-1")],
            "The query parameter 'Offset' is invalid. The field Offset must be between 0 and 2147483647.",
        ),
        (
            [("offset", "92233720368547758070")],
            "The query parameter 'Offset' is invalid. The value '92233720368547758070' is not valid for Offset.",
        ),
        (
            [("fuzzymatching", "yes")],
            "The query parameter 'FuzzyMatching' is invalid. The value 'yes' is not valid for FuzzyMatching.",
        ),
    ],
)
def test_invalid_reserved_parameters(pairs, expected):
    assert message(parse_options, pairs) == expected


def test_repeated_keys_are_rejected_case_insensitively():
    assert "Duplicate AttributeId 'patientid'" in message(
        reject_repeated_keys, [("PatientID", "1"), ("patientid", "2")]
    )


STUDY_TAGS = queryable_tags(Resource.ALL_STUDIES, [])


def test_unknown_not_queryable_and_empty():
    assert message(parse_filters, [("patientid", "1")], STUDY_TAGS, False).startswith(
        "Invalid query: unknown query parameter 'patientid'."
    )
    assert message(parse_filters, [("Modality", "CT")], STUDY_TAGS, False).startswith(
        "Invalid query: AttributeId Modality is not queryable.  If the parameter"
    )
    assert message(parse_filters, [("PatientID", "  ")], STUDY_TAGS, False) == (
        "Invalid query: AttributeId 'PatientID' has empty string value that is not supported."
    )


def test_same_attribute_by_keyword_and_tag():
    assert "has been specified more than once using different ID formats" in message(
        parse_filters, [("PatientID", "1"), ("00100020", "1")], STUDY_TAGS, False
    )


def test_study_uid_is_not_queryable_on_study_routes():
    series_tags = queryable_tags(Resource.STUDY_SERIES, [])
    assert "AttributeId StudyInstanceUID is not queryable" in message(
        parse_filters, [("StudyInstanceUID", "1.2")], series_tags, False
    )


def test_conditions():
    parsed = parse_filters(
        [("PatientID", " AbC "), ("StudyDate", "20200101-"), ("00100010", "Doe^Jó"), ("ModalitiesInStudy", "ct")],
        STUDY_TAGS,
        False,
    )
    assert parsed.conditions == [
        conditions.Equals(TagLevel.STUDY, "abc", column="patient_id_key"),
        conditions.Between(TagLevel.STUDY, "20200101", None, column="study_date"),
        conditions.Equals(TagLevel.STUDY, "doe^jo", column="patient_name_key"),
        conditions.ModalityInStudy("ct"),
    ]


def test_fuzzy_person_names():
    (condition,) = parse_filters([("PatientName", "jo DO")], STUDY_TAGS, True).conditions
    assert condition == conditions.WordPrefixes(
        TagLevel.STUDY, 0x00100010, "jo", "% jo% do%", column="patient_name_words"
    )
    (condition,) = parse_filters([("PatientName", "Jó")], STUDY_TAGS, True).conditions
    assert condition == conditions.WordPrefixes(TagLevel.STUDY, 0x00100010, "jo", None, column="patient_name_words")
    assert "contains unsupported character '\"'" in message(parse_filters, [("PatientName", 'a"b')], STUDY_TAGS, True)
    assert parse_filters([("PatientName", "^^")], STUDY_TAGS, True).conditions == [conditions.Nothing()]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020", "Invalid query: specified Date value '2020' is invalid for attribute 'StudyDate'."),
        ("20201301", "Invalid query: specified Date value '20201301' is invalid for attribute 'StudyDate'."),
        ("-", "Invalid query: specified range is invalid. Both parts in the range cannot be empty."),
        ("20210101-20200101", "Invalid query: specified range '20210101-20200101' is invalid."),
        ("2020-01-01", "Invalid query: specified Date value '2020-01-01' is invalid for attribute 'StudyDate'."),
    ],
)
def test_invalid_dates(value, expected):
    assert message(parse_filters, [("StudyDate", value)], STUDY_TAGS, False).startswith(expected)


def test_include_fields():
    assert parse_include_fields(["ALL"]) == (True, set())
    assert parse_include_fields(["00081030", "StudyTime"]) == (False, {0x00081030, 0x00080030})
    assert message(parse_include_fields, ["all", "StudyTime"]) == (
        "Invalid query: cannot specify included fields in addition to 'all'."
    )
    assert message(parse_include_fields, ["nope"]) == "Invalid query: IncludeField has unknown attribute 'nope'."
