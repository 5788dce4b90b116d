"""Export request bodies and destinations, without a server: what binds, and Azure's 400 texts in Azure's order."""

from __future__ import annotations

import json

import pytest

from azure_dicom_emulator.errors import BadRequest
from azure_dicom_emulator.features.export.destination import checked_destination, names_of
from azure_dicom_emulator.features.export.request import Identifier, parse_export_request
from azure_dicom_emulator.storage.azure_blob_client import DEVELOPMENT_ACCOUNT_KEY, account_of_url

AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    f"AccountKey={DEVELOPMENT_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)
REAL_KEY = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"
REAL_SAS = "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2025-11-05&sig=x"
DESTINATION = {"type": "azureblob", "settings": {"connectionString": AZURITE, "blobContainerName": "out"}}
SOURCE = {"type": "identifiers", "settings": {"values": ["1.2.3"]}}


def refusal(body: object) -> str:
    with pytest.raises(BadRequest) as info:
        parse_export_request(body if isinstance(body, bytes) else json.dumps(body).encode())
    return info.value.message


def destination_refusal(settings: dict, strict: bool = False) -> str:
    with pytest.raises(BadRequest) as info:
        checked_destination({key.lower(): value for key, value in settings.items()}, strict)
    return info.value.message


def test_a_study_a_series_and_an_instance_bind_whatever_the_case_of_types_and_property_names():
    request = parse_export_request(
        json.dumps(
            {
                "Source": {"Type": "Identifiers", "Settings": {"VALUES": ["1.2", "1.2/3.4", "1.2/3.4/5.6 "]}},
                "DESTINATION": {
                    "TYPE": "AzureBlob",
                    "settings": {"ConnectionString": AZURITE, "blobcontainername": "o"},
                },
            }
        ).encode()
    )
    assert request.identifiers == [
        Identifier("1.2", "1.2"),
        Identifier("1.2/3.4", "1.2", "3.4"),
        Identifier("1.2/3.4/5.6 ", "1.2", "3.4", "5.6"),
    ]
    assert request.destination == {"connectionstring": AZURITE, "blobcontainername": "o"}


def test_a_source_left_out_exports_the_whole_partition():
    assert parse_export_request(json.dumps({"destination": DESTINATION}).encode()).identifiers is None


@pytest.mark.parametrize(("kind", "echo"), [("query", "query"), ("Query", "Query"), (5, "5"), (None, "")])
def test_an_unknown_source_type_is_400_unsupported_export_source_echoing_it(kind, echo):
    source = {"settings": {"values": ["1.2"]}} if kind is None else {"type": kind, "settings": {"values": ["1.2"]}}
    assert refusal({"source": source, "destination": DESTINATION}) == f"Unsupported export source '{echo}'."


@pytest.mark.parametrize(("kind", "echo"), [("s3", "s3"), ("AzureFiles", "AzureFiles"), (None, "")])
def test_an_unknown_destination_type_is_400_unsupported_export_destination_echoing_it(kind, echo):
    destination = {"settings": {}} if kind is None else {"type": kind, "settings": {}}
    assert refusal({"source": SOURCE, "destination": destination}) == f"Unsupported export destination '{echo}'."


@pytest.mark.parametrize(
    "source",
    [
        {"type": "identifiers"},
        {"type": "identifiers", "settings": None},
        {"type": "identifiers", "settings": {}},
        {"type": "identifiers", "settings": {"values": None}},
        {"type": "identifiers", "settings": {"values": []}},
    ],
)
def test_missing_or_empty_values_are_400_missing_value_for_property_values(source):
    assert refusal({"source": source, "destination": DESTINATION}) == "Missing value for property 'Values'."


@pytest.mark.parametrize(
    ("value", "echo"),
    [
        ("abc", "abc"),
        ("1.2/3.4/5.6/7.8", "1.2/3.4/5.6/7.8"),
        ("1.2/", "1.2/"),
        ("", ""),
        ("1.2//5.6", "1.2//5.6"),
        ("1." + "2" * 64, "1." + "2" * 64),
        (12, "12"),
    ],
)
def test_a_malformed_identifier_is_400_not_recognized_as_a_valid_dicom_identifier(value, echo):
    body = {"source": {"type": "identifiers", "settings": {"values": ["1.2", value]}}, "destination": DESTINATION}
    assert refusal(body) == f"The string '{echo}' was not recognized as a valid DICOM identifier."


def test_the_source_type_is_checked_before_the_identifiers_and_they_before_the_destination_type():
    bad_values = {"type": "identifiers", "settings": {"values": ["abc"]}}
    bad_destination = {"type": "s3"}
    assert refusal({"source": {"type": "query", "settings": {"values": ["abc"]}}, "destination": bad_destination}) == (
        "Unsupported export source 'query'."
    )
    assert refusal({"source": bad_values, "destination": bad_destination}).startswith("The string 'abc'")
    empty = {"type": "identifiers", "settings": {"values": []}}
    assert refusal({"source": empty, "destination": bad_destination}) == "Unsupported export destination 's3'."


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"{", "The syntax of the request body is invalid."),
        (b"\xff\xfe", "The syntax of the request body is invalid."),
        (b"[" * 100000 + b"]" * 100000, "The syntax of the request body is invalid."),
        (
            [],
            "The field '$' in request body is invalid: The JSON value could not be converted to an export "
            "specification.",
        ),
        (
            {"source": 1, "destination": DESTINATION},
            "The field '$.source' in request body is invalid: The JSON "
            "value could not be converted to an export source.",
        ),
        (
            {"source": SOURCE},
            "The field '$.destination' in request body is invalid: The Destination field is required.",
        ),
        (
            {"source": SOURCE, "destination": "x"},
            "The field '$.destination' in request body is invalid: The JSON "
            "value could not be converted to an export destination.",
        ),
        (
            {"source": {"type": "identifiers", "settings": {"values": "1.2"}}, "destination": DESTINATION},
            "The field '$.source.settings.values' in request body is invalid: The JSON value could not be converted "
            "to a list of strings.",
        ),
        (
            {"source": SOURCE, "destination": {"type": "azureblob", "settings": {"useManagedIdentity": "yes"}}},
            "The field '$.destination.settings.useManagedIdentity' in request body is invalid: The JSON value could "
            "not be converted to a boolean.",
        ),
    ],
)
def test_bodies_that_cannot_be_bound_are_400_with_azure_texts(body, text):
    assert refusal(body) == text


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"connectionString": AZURITE},
        {"blobContainerName": "out"},
        {"connectionString": " ", "blobContainerName": "o"},
    ],
)
def test_no_uri_and_not_both_connection_string_and_container_name_is_400_please_specify_both(settings):
    assert destination_refusal(settings) == "Please specify both ConnectionString and BlobContainerName."


@pytest.mark.parametrize("extra", [{"connectionString": AZURITE}, {"blobContainerName": "out"}])
def test_a_uri_with_a_connection_string_or_container_name_is_400_cannot_be_specified_along(extra):
    settings = {"blobContainerUri": "https://acct.blob.core.windows.net/out", **extra}
    assert destination_refusal(settings) == (
        "ConnectionString and BlobContainerName cannot be specified along with BlobContainerUri."
    )


def test_managed_identity_with_a_connection_string_is_400_managed_identity_cannot_be_used():
    settings = {"connectionString": AZURITE, "blobContainerName": "out", "useManagedIdentity": True}
    assert destination_refusal(settings) == "Managed identity cannot be used with a ConnectionString."


@pytest.mark.parametrize(
    "uri", ["acct.blob.core.windows.net/out", "ftp://acct/out", "https://acct.blob.core.windows.net/"]
)
def test_a_uri_that_names_no_container_is_400(uri):
    assert destination_refusal({"blobContainerUri": uri}).startswith(
        "The field '$.destination.settings.blobContainerUri' in request body is invalid:"
    )


@pytest.mark.parametrize(
    ("settings", "text"),
    [
        ({"connectionString": REAL_KEY, "blobContainerName": "o"}, "Account key authentication is not supported."),
        ({"connectionString": REAL_SAS, "blobContainerName": "o"}, "Shared Access Signatures (SAS) are not supported."),
        (
            {"blobContainerUri": "https://acct.blob.core.windows.net/o?sv=1&sig=x"},
            "Shared Access Signatures (SAS) are not supported.",
        ),
        (
            {"blobContainerUri": "https://acct.blob.core.windows.net/o"},
            "Public access to Azure Blob Storage containers is not supported.",
        ),
    ],
)
def test_strict_mode_refuses_account_keys_sas_and_public_access_with_azure_texts_and_lenient_mode_takes_them(
    settings, text
):
    assert destination_refusal(settings, strict=True) == text
    assert checked_destination({key.lower(): value for key, value in settings.items()}, strict=False)


@pytest.mark.parametrize(
    "settings",
    [
        {"connectionString": AZURITE, "blobContainerName": "o"},
        {"connectionString": "UseDevelopmentStorage=true", "blobContainerName": "o"},
        {"blobContainerUri": "http://127.0.0.1:10000/devstoreaccount1/o"},
        {"blobContainerUri": "https://acct.blob.core.windows.net/o", "useManagedIdentity": True},
    ],
)
def test_strict_mode_accepts_azurite_and_managed_identity(settings):
    assert checked_destination({key.lower(): value for key, value in settings.items()}, strict=True)


def test_destinations_are_kept_in_azure_property_names():
    uri = {"blobcontaineruri": "https://acct.blob.core.windows.net/o", "usemanagedidentity": True}
    assert checked_destination(uri, strict=False) == {
        "blobContainerUri": "https://acct.blob.core.windows.net/o",
        "useManagedIdentity": True,
    }
    pair = {"connectionstring": AZURITE, "blobcontainername": "o"}
    assert checked_destination(pair, strict=False) == {"connectionString": AZURITE, "blobContainerName": "o"}


def test_messages_name_the_container_and_account_of_each_form():
    assert names_of({"connectionString": AZURITE, "blobContainerName": "o"}) == {
        "container": "o",
        "account": "devstoreaccount1",
    }
    assert names_of({"connectionString": "UseDevelopmentStorage=true", "blobContainerName": "o"})["account"] == (
        "devstoreaccount1"
    )
    assert names_of({"blobContainerUri": "https://acct.blob.core.windows.net/o%20x"}) == {
        "container": "o x",
        "account": "acct",
    }


@pytest.mark.parametrize(
    ("url", "account"),
    [
        ("https://acct.blob.core.windows.net/c", "acct"),
        ("http://127.0.0.1:10000/devstoreaccount1/c", "devstoreaccount1"),
        ("http://localhost:10000/devstoreaccount1/c", "devstoreaccount1"),
    ],
)
def test_the_account_of_a_container_url_is_its_first_host_label_or_for_path_style_its_first_segment(url, account):
    assert account_of_url(url) == account
