"""Integers read as Azure's model binding reads them: .NET's number styles, Int32 bounds, and its 400 texts."""

import pytest

from azure_dicom_emulator.errors import BadRequest
from azure_dicom_emulator.features.model_binding import (
    any_style_integer,
    bound_integer,
    int32_list_parameter,
    integer_value,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [("7", 7), (" 7 ", 7), ("+7", 7), ("-7", -7), ("0007", 7), ("0" * 5000 + "7", 7), ("\t7\r", 7)],
)
def test_plain_integers_read_as_dotnet_reads_them(text, value):
    assert integer_value(text) == value


@pytest.mark.parametrize("text", ["", " ", "7.0", "(7)", "7-", "1e2", "0x1", "7 7", "9" * 20, "9" * 5000, "٧"])
def test_anything_else_is_no_plain_integer(text):
    assert integer_value(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7", 7),
        ("7.0", 7),
        ("7.", 7),
        ("(7)", -7),
        ("7-", -7),
        ("-7", -7),
        ("7e0", 7),
        ("70e-1", 7),
        (".7e1", 7),
        ("0e999999999999", 0),
        ("0" * 5000 + "7", 7),
    ],
)
def test_any_style_integers_read_as_dotnet_number_styles_any(text, value):
    assert any_style_integer(text) == value


@pytest.mark.parametrize("text", ["", ".", "7.5", "+7-", "(7", "7)", "1e999999999", "9" * 5000, "abc", "7 7"])
def test_anything_else_is_no_any_style_integer(text):
    assert any_style_integer(text) is None


def test_a_blank_or_unparsable_bound_integer_gets_the_model_binding_texts():
    with pytest.raises(BadRequest, match=r"^The query parameter 'quality' is invalid\. The value '' is invalid\.$"):
        bound_integer("quality", "")
    with pytest.raises(BadRequest, match=r"The value '2147483648' is not valid for quality\.$"):
        bound_integer("quality", "2147483648")
    assert bound_integer("quality", "-2147483648") == -(2**31)


def test_an_int32_list_names_its_first_bad_entry_trimmed():
    assert int32_list_parameter("frames", "") == []
    assert int32_list_parameter("frames", " 1 ,2.0,(3)") == [1, 2, -3]
    with pytest.raises(BadRequest, match=r"Unable to parse value 'x' as Int32\.$"):
        int32_list_parameter("frames", "1, x ,y")
