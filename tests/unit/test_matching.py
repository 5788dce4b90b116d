"""Matching keys: case and accents, person-name words, dates and times."""

from __future__ import annotations

import pytest

from azure_dicom_emulator.dicom import matching


def test_text_key_ignores_case_and_padding_but_not_accents():
    assert matching.text_key("AbC \0") == matching.text_key("abc")
    assert matching.text_key("é") != matching.text_key("e")


def test_person_name_key_ignores_case_and_accents():
    assert matching.person_name_key("Hall^X^Tá") == matching.person_name_key("hall^x^ta")
    assert matching.person_name_key("Müller") == "muller"


def test_person_name_words_split_components_groups_and_punctuation():
    assert matching.person_name_words("Jonathan^Smith^Stone Hall^^=Jón") == [
        "jonathan",
        "smith",
        "stone",
        "hall",
        "jon",
    ]
    assert matching.person_name_words("O'Brien-Doe_x") == ["o", "brien", "doe", "x"]


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ("joh", True),
        ("do", True),
        ("jo do", True),
        ("Doe", True),
        ("John Doe", True),
        ("ohn", False),
        ("doe jo", False),
    ],
)
def test_fuzzy_pattern_is_word_prefixes_in_order(query, matches):
    import fnmatch

    words = matching.words_column(matching.person_name_words("John^Doe"))
    pattern = matching.fuzzy_pattern(query).replace("%", "*")
    assert fnmatch.fnmatchcase(words, pattern) is matches


def test_fuzzy_pattern_of_a_value_without_words_is_none():
    assert matching.fuzzy_pattern("^^ -") is None


def test_date_keys():
    assert matching.date_key("20240229") == "20240229"
    assert matching.date_key("20230229") is None
    assert matching.date_key("2024-01-01") is None
    assert matching.date_key("20240101 ") == "20240101"


def test_time_keys_fill_missing_parts():
    assert matching.time_key("10") == "100000.000000"
    assert matching.time_key("1030") == "103000.000000"
    assert matching.time_key("103015.5") == "103015.500000"
    assert matching.time_key("25") is None


def test_date_time_keys_and_offsets():
    assert matching.date_time_key("2024") == "20240101000000.000000"
    assert matching.date_time_key("202402031015") == "20240203101500.000000"
    assert matching.date_time_key("20240203101530.123+0100") == "20240203101530.123000"
    assert matching.date_time_key("20240203101530+0100", allow_offset=False) is None
    assert matching.has_offset("20240203-0500")
    assert matching.date_time_key("2024130") is None
