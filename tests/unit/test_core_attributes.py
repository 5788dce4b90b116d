"""The table of core searchable attributes (spec §5.2) agrees with the standard and with the index's schema."""

import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword

from azure_dicom_emulator.dicom.core_attributes import CORE_ATTRIBUTES, MODALITIES_IN_STUDY, Match, held_attributes
from azure_dicom_emulator.dicom.levels import TagLevel
from azure_dicom_emulator.storage import schema

TABLES = {TagLevel.STUDY: schema.study, TagLevel.SERIES: schema.series, TagLevel.INSTANCE: schema.instance}
COMPANIONS = {
    Match.UID: (),
    Match.DATE: (),
    Match.TEXT: ("_key",),
    Match.PERSON_NAME: ("_key", "_words"),
    Match.ANY_SERIES: ("_key",),
}
BOOKKEEPING = {
    TagLevel.STUDY: {"study_key", "partition_key", "attributes"},
    TagLevel.SERIES: {"series_key", "study_key", "partition_key", "attributes"},
    TagLevel.INSTANCE: {
        "instance_key",
        "partition_key",
        "study_key",
        "series_key",
        "version",
        "blob_key",
        "size",
        "metadata",
        "created_at",
        "frame_index",
        "attributes",
        "original_version",
        "original_blob_key",
        "original_size",
        "original_transfer_syntax_uid",
        "original_metadata",
    },
}
"""Columns that hold no attribute value: keys, versions, the stored file and documents (the latest
version's and the original's an update kept)."""
NOT_SEARCHED_HERE = {TagLevel.INSTANCE: {"study_uid", "series_uid", "sop_class_uid", "transfer_syntax_uid"}}
"""Attribute values an instance row keeps without being searched on them at its level: the UIDs of
its study and series (searched on in their own tables), its SOP class and transfer syntax."""

SPEC = {
    TagLevel.STUDY: [
        "StudyInstanceUID",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyDate",
        "StudyDescription",
        "ModalitiesInStudy",
    ],
    TagLevel.SERIES: ["SeriesInstanceUID", "Modality", "PerformedProcedureStepStartDate", "ManufacturerModelName"],
    TagLevel.INSTANCE: ["SOPInstanceUID"],
}


def table_of(attribute):
    """The schema table holding the attribute's column: its level's, or the series' for ModalitiesInStudy."""
    return schema.series if attribute.match is Match.ANY_SERIES else TABLES[attribute.level]


def test_the_table_lists_the_core_searchable_attributes_of_the_spec_at_their_levels():
    for level, keywords in SPEC.items():
        tags = [attribute.tag for attribute in CORE_ATTRIBUTES.values() if attribute.level == level]
        assert tags == [tag_for_keyword(keyword) for keyword in keywords]


@pytest.mark.parametrize("attribute", CORE_ATTRIBUTES.values(), ids=lambda attribute: f"{attribute.tag:08X}")
def test_each_attribute_has_the_vr_the_dictionary_gives_it(attribute):
    assert attribute.vr == dictionary_VR(attribute.tag)


@pytest.mark.parametrize("attribute", CORE_ATTRIBUTES.values(), ids=lambda attribute: f"{attribute.tag:08X}")
def test_each_column_the_table_names_is_in_the_table_of_its_level_with_the_companions_its_matching_needs(
    attribute,
):
    columns = table_of(attribute).c

    assert attribute.column in columns
    for suffix in COMPANIONS[attribute.match]:
        assert attribute.column + suffix in columns
    assert attribute.key_column in columns
    if attribute.words_column is not None:
        assert attribute.words_column in columns


def test_only_modalities_in_study_is_computed_rather_than_held():
    computed = [attribute.tag for attribute in CORE_ATTRIBUTES.values() if not attribute.held]

    assert computed == [MODALITIES_IN_STUDY]
    assert CORE_ATTRIBUTES[MODALITIES_IN_STUDY].column == CORE_ATTRIBUTES[tag_for_keyword("Modality")].column


@pytest.mark.parametrize("level", list(TagLevel), ids=lambda level: level.name.lower())
def test_every_column_of_a_level_table_holding_an_attribute_value_is_in_the_table(level):
    described = set()
    for attribute in held_attributes(level):
        described.add(attribute.column)
        described.update(attribute.column + suffix for suffix in COMPANIONS[attribute.match])
    kept = set(TABLES[level].c.keys()) - BOOKKEEPING[level] - NOT_SEARCHED_HERE.get(level, set())

    assert kept == described


@pytest.mark.parametrize("level", list(TagLevel), ids=lambda level: level.name.lower())
def test_the_database_indexes_of_a_level_table_cover_each_core_column_it_is_searched_on_and_no_other_value(level):
    table = TABLES[level]
    described = {attribute.column for attribute in held_attributes(level)}
    described |= {attribute.key_column for attribute in held_attributes(level)}
    allowed = described | BOOKKEEPING[level] | NOT_SEARCHED_HERE.get(level, set())
    indexed = {column.name for index in table.indexes for column in index.columns}
    indexed |= {column.name for constraint in table.constraints for column in getattr(constraint, "columns", ())}

    assert indexed <= allowed
    assert {attribute.key_column for attribute in held_attributes(level)} <= indexed
