"""Bulk updates for the tests: starting one, waiting for its end, and the parts of the answers they check."""

from __future__ import annotations

import asyncio

from harness.factories import multipart, to_bytes

DICOM_JSON = "application/dicom+json"
STOW = {"Accept": DICOM_JSON, "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}
ACCEPT = {"Accept": DICOM_JSON}
ORIGINAL = {"msdicom-request-original": "true"}


async def store(client, *datasets, method: str = "post", root: str = "/v2") -> list[bytes]:
    """Stores ``datasets`` in one request; returns their files."""
    files = [to_bytes(ds) for ds in datasets]
    response = await client.request(method, f"{root}/studies", content=multipart(files), headers=STOW)
    assert response.status_code == 200, response.text
    return files


async def start_update(client, study_uids: list[str], changes: dict, root: str = "/v2") -> dict:
    """Starts a bulk update; returns its operation reference."""
    body = {"studyInstanceUids": study_uids, "changeDataset": changes}
    response = await client.post(f"{root}/studies/$bulkUpdate", json=body)
    assert response.status_code == 202, response.text
    assert "location" not in response.headers
    return response.json()


async def finished(client, reference: dict) -> dict:
    """The operation's JSON once it has ended."""
    path = "/" + reference["href"].split("/", 3)[3]
    for _ in range(600):
        response = await client.get(path)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202, response.text
        await asyncio.sleep(0.05)
    raise AssertionError("the operation did not end")


async def update(client, study_uids: list[str], changes: dict, root: str = "/v2") -> dict:
    """Runs a bulk update to its end; returns the operation's JSON."""
    return await finished(client, await start_update(client, study_uids, changes, root))


def instance_path(ds, root: str = "/v2") -> str:
    """The path of a dataset's instance."""
    return f"{root}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def name_change(name: str) -> dict:
    """A change dataset setting PatientName."""
    return {"00100010": {"vr": "PN", "Value": [{"Alphabetic": name}]}}
