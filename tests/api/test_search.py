"""QIDO-RS in-process, on SQLite and PostgreSQL: matching, levels, paging, returned attributes, errors."""

from __future__ import annotations

import uuid

import pytest
from pydicom.uid import generate_uid

from harness.factories import make_dataset, multipart, to_bytes

DICOM_JSON = "application/dicom+json"
STOW = {"Accept": DICOM_JSON, "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}
ACCEPT = {"Accept": DICOM_JSON}


def unique(prefix: str = "P") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def store(client, *datasets, version: str = "v2") -> None:
    response = await client.post(
        f"/{version}/studies", content=multipart([to_bytes(d) for d in datasets]), headers=STOW
    )
    assert response.status_code in (200, 202), response.text


async def search(client, path: str, status: int = 200, version: str = "v2") -> list[dict]:
    response = await client.get(f"/{version}/{path}", headers=ACCEPT)
    assert response.status_code == status, response.text
    if status == 204:
        assert response.content == b""
    return response.json() if status == 200 else []


def value(dataset: dict, tag: str):
    return dataset[tag]["Value"][0]


def uids(datasets: list[dict], tag: str = "0020000D") -> list[str]:
    return [value(d, tag) for d in datasets]


async def test_patient_id_is_case_insensitive_exact(client):
    patient = unique()
    ds = make_dataset(PatientID=patient)
    await store(client, ds)
    (found,) = await search(client, f"studies?PatientID={patient.lower()}")
    assert value(found, "0020000D") == ds.StudyInstanceUID
    assert value(found, "00100020") == patient
    await search(client, f"studies?PatientID={patient[:-1]}", status=204)


async def test_person_names_ignore_case_and_accents_and_fuzzy_matches_word_prefixes(client):
    family = unique("Hall")
    ds = make_dataset(PatientName=f"{family}^Jürgen^Tá", SpecificCharacterSet="ISO_IR 192")
    other = make_dataset(PatientName=f"Jon^{family}^StoneHall")
    await store(client, ds, other)
    (found,) = await search(client, f"studies?PatientName={family.lower()}^jurgen^TA")
    assert value(found, "00100010") == {"Alphabetic": f"{family}^Jürgen^Tá"}
    fuzzy = await search(client, f"studies?PatientName={family[:8]}&fuzzymatching=true")
    assert set(uids(fuzzy)) == {ds.StudyInstanceUID, other.StudyInstanceUID}
    (found,) = await search(client, f"studies?PatientName={family} jur&fuzzymatching=true")
    assert value(found, "0020000D") == ds.StudyInstanceUID
    await search(client, f"studies?PatientName={family[1:]}&fuzzymatching=true", status=204)
    await search(client, f"studies?PatientName={family[:8]}", status=204)  # not fuzzy: whole value


async def test_date_ranges_are_inclusive(client):
    accession = unique("A")[:16]
    early = make_dataset(AccessionNumber=accession, StudyDate="19990101")
    late = make_dataset(AccessionNumber=accession, StudyDate="19991231")
    await store(client, early, late)
    both = await search(client, f"studies?AccessionNumber={accession}&StudyDate=19990101-19991231")
    assert uids(both) == [late.StudyInstanceUID, early.StudyInstanceUID]  # newest first
    assert uids(await search(client, f"studies?AccessionNumber={accession}&StudyDate=-19990101")) == [
        early.StudyInstanceUID
    ]
    assert uids(await search(client, f"studies?AccessionNumber={accession}&StudyDate=19991231-")) == [
        late.StudyInstanceUID
    ]
    assert uids(await search(client, f"studies?AccessionNumber={accession}&StudyDate=19991231")) == [
        late.StudyInstanceUID
    ]


async def test_modalities_in_study_matches_any_series_and_counts_are_exact(client):
    patient = unique()
    study_uid = generate_uid()
    series_uid = generate_uid()
    instances = [make_dataset(study_uid, series_uid, PatientID=patient, Modality="CT") for _ in range(3)]
    instances.append(make_dataset(study_uid, PatientID=patient, Modality="MR"))
    await store(client, *instances)
    (found,) = await search(
        client,
        f"studies?ModalitiesInStudy=mr&PatientID={patient}"
        "&includefield=NumberOfStudyRelatedInstances&includefield=00201206",
    )
    assert found["00080061"] == {"vr": "CS", "Value": ["CT", "MR"]}
    assert found["00201208"] == {"vr": "IS", "Value": [4]}
    assert found["00201206"] == {"vr": "IS", "Value": [2]}
    series = await search(client, f"studies/{study_uid}/series?includefield=NumberOfSeriesRelatedInstances")
    counts = {value(s, "0020000E"): value(s, "00201209") for s in series}
    assert counts[series_uid] == 3
    assert len(counts) == 2


async def test_limit_and_offset_apply_to_the_level_searched(client):
    patient = unique()
    study_uid = generate_uid()
    series_uid = generate_uid()
    await store(client, *[make_dataset(study_uid, series_uid, PatientID=patient) for _ in range(5)])
    await store(client, make_dataset(PatientID=patient))
    studies = await search(client, f"studies?PatientID={patient}&limit=1")
    assert len(studies) == 1
    second = await search(client, f"studies?PatientID={patient}&limit=1&offset=1")
    assert uids(second) == [study_uid]
    await search(client, f"studies?PatientID={patient}&offset=2", status=204)
    instances = await search(client, f"instances?PatientID={patient}&limit=4&offset=2")
    assert len(instances) == 4
    everything = await search(client, f"instances?PatientID={patient}")
    assert len(everything) == 6
    assert len({value(d, "00080018") for d in everything}) == 6
    assert len(await search(client, f"series?PatientID={patient}")) == 2


async def test_levels_and_route_uids(client):
    study_uid = generate_uid()
    first, second = make_dataset(study_uid, Modality="MR"), make_dataset(study_uid, Modality="CT")
    await store(client, first, second)
    (series,) = await search(client, f"studies/{study_uid}/series?Modality=MR")
    assert value(series, "0020000D") == study_uid  # the route's UID is echoed
    assert value(series, "0020000E") == first.SeriesInstanceUID
    assert "00100020" not in series  # study attributes are not part of a study's series
    (instance,) = await search(client, f"studies/{study_uid}/instances?Modality=CT")
    assert value(instance, "00080018") == second.SOPInstanceUID
    (instance,) = await search(
        client,
        f"studies/{study_uid}/series/{first.SeriesInstanceUID}/instances?SOPInstanceUID={first.SOPInstanceUID}",
    )
    assert set(instance) == {"00080018", "0020000D", "0020000E"}
    (found,) = await search(client, f"series?SeriesInstanceUID={second.SeriesInstanceUID}")
    assert value(found, "00080060") == "CT" and value(found, "0020000D") == study_uid
    await search(client, f"studies/{generate_uid()}/series", status=204)


async def test_v2_and_v1_default_attributes_and_includefield(client):
    patient = unique()
    ds = make_dataset(
        PatientID=patient,
        StudyDescription="Knee",
        StudyTime="101010",
        PatientSex="F",
        ReferringPhysicianName="Ref^Rita",
        PatientBirthDate="19800101",
        StudyID="S1",
        SeriesDescription="axial",
    )
    await store(client, ds)
    (v2,) = await search(client, f"studies?PatientID={patient}")
    assert set(v2) == {"00080020", "00080050", "00080090", "00081030", "00100010", "00100020", "00100030", "0020000D"}
    (v1,) = await search(client, f"studies?PatientID={patient}", version="v1")
    assert set(v1) == {
        "00080020",
        "00080030",
        "00080050",
        "00080090",
        "00100010",
        "00100020",
        "00100030",
        "00100040",
        "0020000D",
        "00200010",
    }
    (everything,) = await search(client, f"studies?PatientID={patient}&includefield=all")
    assert {"00081030", "00080030", "00100040"} <= set(everything)
    (included,) = await search(client, f"studies?PatientID={patient}&includefield=StudyTime,00100040&includefield=Rows")
    assert value(included, "00080030") == "101010" and value(included, "00100040") == "F"
    assert value(included, "00280010") == 8
    (series,) = await search(client, f"series?PatientID={patient}", version="v1")
    assert value(series, "0008103E") == "axial"


async def test_latest_non_empty_study_value_wins(client):
    study_uid = generate_uid()
    accession = unique("A")[:16]
    await store(client, make_dataset(study_uid, AccessionNumber=accession, StudyDescription="first"))
    later = make_dataset(study_uid, AccessionNumber=accession, StudyDescription="second")
    del later.PatientName
    await store(client, later)
    (found,) = await search(client, f"studies?AccessionNumber={accession}")
    assert value(found, "00081030") == "second"
    assert value(found, "00100010") == {"Alphabetic": "Doe^John"}


async def test_ohif_study_list_request(client):
    patient = unique()
    await store(client, make_dataset(PatientID=patient, StudyDescription="Brain", PatientBirthDate="19700101"))
    response = await client.get(
        "/v2/studies?limit=101&offset=0&fuzzymatching=false"
        f"&includefield=00081030%2C00080060%2C00080090%2C00100030&PatientID={patient}",
        headers=ACCEPT,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == DICOM_JSON
    (found,) = response.json()
    assert value(found, "00081030") == "Brain"
    assert value(found, "00080060") == "CT"  # from the study's latest instance
    assert value(found, "00100030") == "19700101"


async def test_a_later_instance_with_other_names_replaces_the_words_fuzzy_matching_finds(client):
    before, after = unique(), unique()
    first = make_dataset(PatientName=f"{before}^Pat", ReferringPhysicianName=f"{before}^Doc")
    second = make_dataset(
        study_uid=first.StudyInstanceUID, PatientName=f"{after}^Pat", ReferringPhysicianName=f"{after}^Doc"
    )
    await store(client, first)
    await store(client, second)
    for name in ("PatientName", "ReferringPhysicianName"):
        await search(client, f"studies?{name}={before}&fuzzymatching=true", status=204)
        (found,) = await search(client, f"studies?{name}={after}&fuzzymatching=true")
        assert uids([found]) == [first.StudyInstanceUID]


async def test_deleted_instances_are_no_longer_found(client):
    patient = unique()
    ds = make_dataset(PatientID=patient, PatientName=f"{patient}^Gone")
    await store(client, ds)
    assert (await client.delete(f"/v2/studies/{ds.StudyInstanceUID}")).status_code == 204
    await search(client, f"studies?PatientID={patient}", status=204)
    await search(client, f"studies?PatientName={patient}&fuzzymatching=true", status=204)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("studies?limit=201", "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."),
        ("studies?limit=x", "The query parameter 'Limit' is invalid. The value 'x' is not valid for Limit."),
        ("studies?offset=-1", "The query parameter 'Offset' is invalid. The field Offset must be between 0 and"),
        ("series?fuzzymatching=1", "The query parameter 'FuzzyMatching' is invalid. The value '1' is not valid"),
        ("studies?StudyDate=20200102-20200101", "Invalid query: specified range '20200102-20200101' is invalid."),
        ("studies?StudyDate=-", "Invalid query: specified range is invalid. Both parts in the range cannot be empty."),
        ("instances?00080018=1.2&SOPInstanceUID=1.2", "Invalid query: attribute 'SOPInstanceUID' has been specified"),
        ("studies?Modality=CT", "Invalid query: AttributeId Modality is not queryable."),
        ("studies?patientid=1", "Invalid query: unknown query parameter 'patientid'."),
        ("studies?PatientID=", "Invalid query: AttributeId 'PatientID' has empty string value that is not supported."),
        ("studies?StudyDate=2020-01-01", "Invalid query: specified Date value '2020-01-01' is invalid"),
        ("studies?includefield=all&includefield=PatientID", "Invalid query: cannot specify included fields"),
        ("studies?includefield=Bogus", "Invalid query: IncludeField has unknown attribute 'Bogus'."),
        ("studies?includefield=", "Invalid query: IncludeField has unknown attribute ''."),
        ("studies?includefield=PatientName,", "Invalid query: IncludeField has unknown attribute ''."),
        ("studies?includefield=PatientName&includefield=%20", "Invalid query: IncludeField has unknown attribute ''."),
        (
            "studies/1.2.3/series?StudyInstanceUID=1.2.3",
            "Invalid query: AttributeId StudyInstanceUID is not queryable.",
        ),
        ("studies/abc/series", "DICOM Identifier is invalid."),
        ("studies?PatientID=1&PatientID=2", "Invalid QIDO-RS query. Duplicate AttributeId 'PatientID'."),
        (
            "studies?PatientName=a%22b&fuzzymatching=true",
            "Invalid query: specified tag 'PatientName' value 'a\"b' contains unsupported character '\"'.",
        ),
        (
            "studies?00100010=x&PatientName=y",
            "Invalid query: attribute 'PatientName' has been specified more than once using different ID formats.",
        ),
        ("studies?PatientID=%3Cscript", "The query string included invalid characters."),
    ],
)
async def test_bad_queries_get_azure_400s(client, query, message):
    response = await client.get(f"/v2/{query}", headers=ACCEPT)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(message)


@pytest.mark.parametrize(
    "value",
    [
        "%25",
        "_",
        "*",
        "%27",
        "%22",
        "1%27%20OR%20%271%27%3D%271",
        "x%3B%20DROP%20TABLE%20study%3B--",
        "%00",
        "%FF%FE",
        "\\",
    ],
)
async def test_hostile_values_match_literally_and_never_fail(client, value):
    for attribute in ("PatientID", "PatientName", "StudyDescription", "AccessionNumber", "StudyInstanceUID"):
        response = await client.get(f"/v2/studies?{attribute}={value}", headers=ACCEPT)
        assert response.status_code == 204, (attribute, value, response.text)
    response = await client.get(f"/v2/studies?PatientName={value}&fuzzymatching=true", headers=ACCEPT)
    assert response.status_code in (204, 400)


async def test_wildcards_are_literal_characters(client):
    patient = unique("W%_*")
    await store(client, make_dataset(PatientID=patient))
    encoded = patient.replace("%", "%25")
    assert len(await search(client, f"studies?PatientID={encoded}")) == 1
    await search(client, f"studies?PatientID={encoded[:-3]}%25", status=204)
    await search(client, "studies?PatientID=W%25", status=204)


async def test_ten_kilobyte_values(client):
    await search(client, "studies?PatientID=" + "x" * 10240, status=204)
    await search(client, "studies?PatientName=" + "ab " * 3500 + "&fuzzymatching=true", status=204)
    response = await client.get("/v2/studies?StudyDate=" + "1" * 10240, headers=ACCEPT)
    assert response.status_code == 400


async def test_accept_and_partitions(client, partitioned_client):
    assert (await client.get("/v2/studies", headers={"Accept": ""})).status_code == 406
    assert (await client.get("/v2/studies", headers={"Accept": "application/dicom"})).status_code == 406
    assert (await client.get("/v2/partitions/p1/studies", headers=ACCEPT)).status_code == 400
    response = await partitioned_client.get("/v2/studies", headers=ACCEPT)
    assert response.text == "PartitionName value is missing in the route segment."
    ds = make_dataset()
    response = await partitioned_client.post(
        "/v2/partitions/search-a/studies", content=multipart([to_bytes(ds)]), headers=STOW
    )
    assert response.status_code == 200
    found = await partitioned_client.get(
        f"/v2/partitions/search-a/studies?StudyInstanceUID={ds.StudyInstanceUID}", headers=ACCEPT
    )
    assert found.status_code == 200
    await partitioned_client.post(
        "/v2/partitions/search-b/studies", content=multipart([to_bytes(make_dataset())]), headers=STOW
    )
    other = await partitioned_client.get(
        f"/v2/partitions/search-b/studies?StudyInstanceUID={ds.StudyInstanceUID}", headers=ACCEPT
    )
    assert other.status_code == 204


async def test_rows_stored_without_kept_attributes_are_answered_from_metadata(client):
    from sqlalchemy import update

    from azure_dicom_emulator.storage.schema import instance, series, study

    patient = unique()
    ds = make_dataset(PatientID=patient, StudyTime="111111", SeriesNumber=4, Rows=8)
    await store(client, ds)
    async with client.app.state.services.db.write() as conn:
        await conn.execute(update(study).where(study.c.study_uid == ds.StudyInstanceUID).values(attributes=None))
        await conn.execute(update(series).where(series.c.series_uid == ds.SeriesInstanceUID).values(attributes=None))
        await conn.execute(update(instance).where(instance.c.sop_uid == ds.SOPInstanceUID).values(attributes=None))
    (found,) = await search(client, f"instances?PatientID={patient}&includefield=all")
    assert value(found, "00080030") == "111111"
    assert value(found, "00200011") == 4
    assert value(found, "00280010") == 8
