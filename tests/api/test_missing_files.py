"""An instance whose index row is there but whose file is gone: Azure's 404 for the resource on every read of
the file, a warning in the log, and the metadata (kept in the index) still served."""

from __future__ import annotations

import logging

import pytest
import pytest_asyncio

from harness.factories import make_dataset, multipart, to_bytes

from ..support.app import running_app
from .test_retrieve import STOW, instance_path

INSTANCE_GONE = "The specified instance cannot be found."


@pytest_asyncio.fixture
async def without_its_file(tmp_path):
    """A client, and an instance of it whose file was deleted behind the emulator's back."""
    async with running_app(data_dir=tmp_path) as client:
        ds = make_dataset(rows=16, columns=16)
        response = await client.post("/v2/studies", content=multipart([to_bytes(ds)]), headers=STOW)
        assert response.status_code == 200
        (stored,) = [path for path in client.app.state.services.blobs.root.rglob("*.dcm")]
        stored.unlink()
        yield client, ds


@pytest.mark.parametrize(
    ("suffix", "accept", "message"),
    [
        ("", "application/dicom; transfer-syntax=*", INSTANCE_GONE),
        ("", "application/dicom", INSTANCE_GONE),
        ("", "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90", INSTANCE_GONE),
        ("", 'multipart/related; type="application/dicom"; transfer-syntax=*', INSTANCE_GONE),
        ("/frames/1", 'multipart/related; type="application/octet-stream"; transfer-syntax=*', INSTANCE_GONE),
        ("/frames/1", 'multipart/related; type="image/jp2"', INSTANCE_GONE),
        ("/rendered", "image/jpeg", INSTANCE_GONE),
        ("/frames/1/rendered", "image/png", INSTANCE_GONE),
    ],
)
async def test_reading_the_file_of_an_instance_whose_file_is_gone_is_404(
    without_its_file, caplog, suffix, accept, message
):
    client, ds = without_its_file
    with caplog.at_level(logging.WARNING):
        response = await client.get(instance_path(ds) + suffix, headers={"Accept": accept})
    assert (response.status_code, response.text) == (404, message)
    assert any("does not hold" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v2/studies/{study}", "The specified study cannot be found."),
        ("/v2/studies/{study}/series/{series}", "The specified series cannot be found."),
    ],
)
async def test_a_study_or_series_with_a_file_gone_is_404_before_any_byte_is_sent(without_its_file, path, message):
    client, ds = without_its_file
    url = path.format(study=ds.StudyInstanceUID, series=ds.SeriesInstanceUID)
    response = await client.get(
        url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
    )
    assert (response.status_code, response.text) == (404, message)


async def test_the_metadata_of_an_instance_whose_file_is_gone_is_still_200(without_its_file):
    client, ds = without_its_file
    response = await client.get(instance_path(ds) + "/metadata", headers={"Accept": "application/dicom+json"})
    assert response.status_code == 200
    assert response.json()[0]["00080018"]["Value"] == [ds.SOPInstanceUID]
