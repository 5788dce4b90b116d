"""End to end: the real server with dicomweb-client and httpx; every byte comes back as stored."""

from __future__ import annotations

import glob
import io
import os

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, generate_uid

from harness.factories import make_dataset, to_bytes

SAMPLE_DIR = os.path.dirname(get_testdata_file("CT_small.dcm"))


def _pixel_bearing_part10_samples() -> list[str]:
    """Every sample file in the pydicom wheel that is a Part 10 file with pixel data."""
    names = []
    for path in sorted(glob.glob(os.path.join(SAMPLE_DIR, "*.dcm"))):
        with open(path, "rb") as fp:
            head = fp.read(132)
        if head[128:132] != b"DICM":
            continue
        try:
            ds = pydicom.dcmread(path)
        except Exception:
            continue
        if "PixelData" in ds and "TransferSyntaxUID" in ds.file_meta:
            names.append(os.path.basename(path))
    return names


SAMPLES = _pixel_bearing_part10_samples()
# Sample files that are truncated on purpose: Azure refuses them, and so must we.
TRUNCATED_SAMPLES = {"MR_truncated.dcm"}


def _generated() -> dict[str, bytes]:
    rgb = make_dataset(rows=4, columns=5)
    rgb.SamplesPerPixel, rgb.PhotometricInterpretation, rgb.PlanarConfiguration = 3, "RGB", 0
    rgb.BitsAllocated, rgb.BitsStored, rgb.HighBit = 8, 8, 7
    rgb.PixelData = bytes(range(60))
    multiframe = make_dataset(rows=4, columns=4)
    multiframe.NumberOfFrames = 3
    multiframe.PixelData = np.arange(48, dtype="<u2").tobytes()
    no_pixels = make_dataset()
    del no_pixels.PixelData
    private = make_dataset()
    block = private.private_block(0x0011, "EMULATOR TEST", create=True)
    block.add_new(0x01, "LO", "private value")
    block.add_new(0x02, "SQ", Sequence([Dataset()]))
    latin = make_dataset(SpecificCharacterSet="ISO_IR 100", PatientName="Buc^Jérôme")
    utf8 = make_dataset(SpecificCharacterSet="ISO_IR 192", PatientName="Wang^XiaoDong=王^小東")
    return {
        "implicit": to_bytes(make_dataset(transfer_syntax=ImplicitVRLittleEndian)),
        "big-endian": to_bytes(make_dataset(transfer_syntax=ExplicitVRBigEndian)),
        "rgb": to_bytes(rgb),
        "multi-frame": to_bytes(multiframe),
        "no-pixel-data": to_bytes(no_pixels),
        "private-tags": to_bytes(private),
        "latin-1": to_bytes(latin),
        "utf-8": to_bytes(utf8),
    }


GENERATED = _generated()


def _ids(data: bytes) -> tuple[str, str, str]:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def _put_and_get(server, data: bytes) -> tuple[int, bytes]:
    study, series, sop = _ids(data)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        stored = http.put(
            "/v2/studies",
            content=data,
            headers={"Content-Type": "application/dicom", "Accept": "application/dicom+json"},
        )
        if stored.status_code not in (200, 202):
            return stored.status_code, stored.content
        got = http.get(
            f"/v2/studies/{study}/series/{series}/instances/{sop}",
            headers={"Accept": "application/dicom; transfer-syntax=*"},
        )
        assert got.status_code == 200
        return stored.status_code, got.content


REQUIRED = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


def _with_required_attributes(data: bytes) -> bytes:
    """The file itself, or - when it lacks attributes Azure requires - a copy with them added."""
    ds = pydicom.dcmread(io.BytesIO(data))
    missing = [keyword for keyword in REQUIRED if keyword not in ds]
    if not missing:
        return data
    for keyword in missing:
        setattr(ds, keyword, "ADDED" if keyword == "PatientID" else generate_uid())
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_file_round_trips_byte_for_byte(server, name):
    with open(os.path.join(SAMPLE_DIR, name), "rb") as fp:
        data = _with_required_attributes(fp.read())
    status, content = _put_and_get(server, data)
    if name in TRUNCATED_SAMPLES:
        assert status == 409
        return
    assert status in (200, 202), content
    assert content == bytes(128) + data[128:]


@pytest.mark.parametrize("kind", sorted(GENERATED))
def test_generated_file_round_trips_byte_for_byte(server, kind):
    data = GENERATED[kind]
    status, content = _put_and_get(server, data)
    assert status in (200, 202), content
    assert content == bytes(128) + data[128:]


def test_dicomweb_client_store_retrieve_metadata_delete(server):
    client = DICOMwebClient(f"{server.url}/v2")
    study, series = generate_uid(), generate_uid()
    datasets = [make_dataset(study_uid=study, series_uid=series, InstanceNumber=i) for i in range(1, 4)]
    response = client.store_instances(datasets)
    assert len(response.ReferencedSOPSequence) == 3
    assert (
        f":{server.port}/v2/studies/{study}/series/{series}/instances/" in response.ReferencedSOPSequence[0].RetrieveURL
    )

    # Azure refuses to transcode several instances at once: ask for them as stored.
    as_stored = (("application/dicom", "*"),)
    retrieved = client.retrieve_study(study, media_types=as_stored)
    assert sorted(ds.SOPInstanceUID for ds in retrieved) == sorted(ds.SOPInstanceUID for ds in datasets)
    assert client.retrieve_series(study, series, media_types=as_stored)[0].StudyInstanceUID == study
    first = datasets[0]
    instance = client.retrieve_instance(study, series, first.SOPInstanceUID)
    assert np.array_equal(instance.pixel_array, first.pixel_array)

    study_metadata = client.retrieve_study_metadata(study)
    assert len(study_metadata) == 3
    as_dataset = Dataset.from_json(study_metadata[0])
    assert as_dataset.StudyInstanceUID == study
    assert len(client.retrieve_series_metadata(study, series)) == 3
    instance_metadata = client.retrieve_instance_metadata(study, series, first.SOPInstanceUID)
    assert instance_metadata["00080018"]["Value"] == [first.SOPInstanceUID]

    client.delete_instance(study, series, first.SOPInstanceUID)
    assert len(client.retrieve_study_metadata(study)) == 2
    client.delete_series(study, series)
    with pytest.raises(Exception, match="404"):
        client.retrieve_study_metadata(study)
    client.store_instances(datasets[:1])
    client.delete_study(study)
    with pytest.raises(Exception, match="404"):
        client.retrieve_study(study, media_types=as_stored)


def test_file_without_preamble_is_stored_as_part10(server):
    ds = make_dataset()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    without_preamble = out.getvalue()[132:]
    assert without_preamble[:2] == b"\x02\x00"
    status, content = _put_and_get(server, without_preamble)
    assert status == 200
    assert content == bytes(128) + b"DICM" + without_preamble


def test_retrieve_url_keeps_port_when_host_header_has_none(server):
    ds = make_dataset()
    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{server.url}/v2/studies",
            content=to_bytes(ds),
            headers={
                "Content-Type": "application/dicom",
                "Accept": "application/dicom+json",
                "Host": "127.0.0.1",
            },
        )
    assert response.status_code == 200
    url = response.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    assert url.startswith(f"http://127.0.0.1:{server.port}/v2/studies/{ds.StudyInstanceUID}/")
