"""The web inspector's pages, fetched with httpx: each shows the data stored, escaped, linking the DICOMweb URLs."""

from __future__ import annotations

import re

import pytest

from harness.factories import make_dataset, multipart, to_bytes

from ..support.app import running_app

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}


async def store(client, *datasets):
    response = await client.post("/v2/studies", content=multipart([to_bytes(ds) for ds in datasets]), headers=STOW)
    assert response.status_code == 200, response.text


@pytest.fixture
async def inspected(tmp_path):
    """An app holding two studies: one of two series (three instances), one of a patient with markup in the name."""
    async with running_app(data_dir=tmp_path) as client:
        first = make_dataset(PatientName="Curie^Marie", StudyDescription="Chest")
        same_study = {"study_uid": first.StudyInstanceUID, "PatientName": "Curie^Marie"}
        second = make_dataset(series_uid=first.SeriesInstanceUID, **same_study)
        third = make_dataset(Modality="MR", **same_study)
        odd = make_dataset(PatientName="<script>alert(1)</script>")
        await store(client, first, second, third)
        await store(client, odd)
        client.datasets = (first, second, third, odd)
        yield client


async def test_the_studies_page_lists_each_study_with_links_and_escapes_names(inspected):
    first, *_, odd = inspected.datasets

    response = await inspected.get("/emulator/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Curie^Marie" in response.text
    assert "<td>CT, MR</td>" in response.text or "<td>MR, CT</td>" in response.text
    assert f'href="/emulator/pages/studies/{first.StudyInstanceUID}"' in response.text
    assert f"/v2/studies/{first.StudyInstanceUID}/metadata" in response.text
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


async def test_the_studies_page_searches_by_patient_name(inspected):
    first, *_, odd = inspected.datasets

    response = await inspected.get("/emulator/", params={"patient": "curie"})

    assert first.StudyInstanceUID in response.text
    assert odd.StudyInstanceUID not in response.text
    nothing = await inspected.get("/emulator/", params={"patient": "nobody"})
    assert "No study matches." in nothing.text


async def test_the_studies_page_pages_through_many_studies(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        await store(client, *[make_dataset() for _ in range(21)])

        first_page = await client.get("/emulator/")
        second_page = await client.get("/emulator/", params={"page": "2"})

        assert first_page.text.count("/emulator/pages/studies/") == 20
        assert "Older »" in first_page.text
        assert second_page.text.count("/emulator/pages/studies/") == 1
        assert "« Newer" in second_page.text
        assert (await client.get("/emulator/", params={"page": "0"})).status_code == 400


async def test_the_study_page_shows_each_series_with_thumbnails_that_render(inspected):
    first, second, third, _ = inspected.datasets

    response = await inspected.get(f"/emulator/pages/studies/{first.StudyInstanceUID}")

    assert response.status_code == 200
    assert response.text.count("<section>") == 2
    thumbnails = re.findall(r'<img src="([^"]+)"', response.text)
    assert len(thumbnails) == 3
    for ds in (first, second, third):
        rendered = (
            f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/rendered"
        )
        assert rendered in response.text
    image = await inspected.get(thumbnails[0].replace("&amp;", "&"))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content.startswith(b"\xff\xd8")


async def test_the_study_page_of_an_unknown_study_says_it_has_no_instances(inspected):
    response = await inspected.get("/emulator/pages/studies/1.2.3.4")

    assert response.status_code == 200
    assert "This study has no instances." in response.text


async def test_the_change_feed_and_events_pages_show_every_stored_instance(inspected):
    changes = await inspected.get("/emulator/pages/changefeed")
    events = await inspected.get("/emulator/pages/events")

    assert [int(number) for number in re.findall(r"<tr><td>(\d+)</td>", changes.text)] == [4, 3, 2, 1]
    assert events.text.count("Microsoft.HealthcareApis.DicomImageCreated") == 4
    assert "No sink configured." in events.text
    assert "No dead letter." in events.text


async def test_the_operations_faults_requests_and_workitems_pages_show_what_the_tools_hold(inspected):
    tag = [{"path": "00100040", "vr": "CS", "level": "Study"}]
    operation = (await inspected.post("/v2/extendedquerytags", json=tag)).json()["id"]
    await inspected.post("/emulator/faults", json=[{"path": "/v2/nowhere", "status": 418}])

    operations = await inspected.get("/emulator/pages/operations")
    faults = await inspected.get("/emulator/pages/faults")
    requests = await inspected.get("/emulator/pages/requests")
    workitems = await inspected.get("/emulator/pages/workitems")

    assert f"/v2/operations/{operation}" in operations.text
    assert "reindex" in operations.text
    assert "/v2/nowhere" in faults.text and "<td>418</td>" in faults.text
    assert "<td>/v2/extendedquerytags</td>" in requests.text
    assert workitems.status_code == 200
    assert "Workitems" in workitems.text


async def test_an_unknown_partition_gets_400(tmp_path):
    async with running_app(data_dir=tmp_path, partitions_enabled=True) as client:
        response = await client.get("/emulator/", params={"partition": "missing"})
        assert response.status_code == 400


async def test_bad_uids_in_inspector_urls_get_azures_400_and_an_unknown_instance_404(inspected):
    first, *_ = inspected.datasets
    series = f"{first.StudyInstanceUID}/{first.SeriesInstanceUID}"

    assert (await inspected.get("/emulator/pages/studies/not-a-uid")).status_code == 400
    assert (await inspected.get(f"/emulator/thumbnails/{series}/not-a-uid")).status_code == 400
    assert (await inspected.get(f"/emulator/thumbnails/{series}/1.2.3")).status_code == 404
    assert (await inspected.get("/emulator/", params={"page": "x"})).status_code == 400
