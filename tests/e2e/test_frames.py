"""End to end: every frame of every pixel-bearing sample and generated file, as stored and transcoded,
and rendered images, from the real server; dicomweb-client reads them too."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from PIL import Image
from pydicom.encaps import encapsulate, get_frame

from harness.factories import make_dataset, to_bytes

from ..support.jpeg_2000 import decomposition_levels
from ..support.pixel_samples import GENERATED, PIXEL_SAMPLES, expected_frames, pixel_frames, read, sample_bytes
from .test_roundtrip import _with_required_attributes

CASES = [("sample", name) for name in PIXEL_SAMPLES] + [("generated", name) for name in sorted(GENERATED)]
# Truncated on purpose: refused at store time.
REFUSED = {"MR_truncated.dcm"}
# Their pixel description cannot be read (NumberOfFrames "1A"; no Rows or BitsAllocated): no frames.
WITHOUT_FRAMES = {"badVR.dcm", "nested_priv_SQ.dcm"}
OCTET = 'multipart/related; type="application/octet-stream"'
LITTLE_ENDIAN_NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"}


def split_multipart(response: httpx.Response) -> list[tuple[str, bytes]]:
    boundary = response.headers["content-type"].split("boundary=", 1)[1].strip('"').encode()
    body = response.content
    assert body.startswith(b"--" + boundary + b"\r\n") and body.endswith(b"\r\n--" + boundary + b"--\r\n")
    parts = []
    for raw in body[len(boundary) + 4 : -(len(boundary) + 8)].split(b"\r\n--" + boundary + b"\r\n"):
        head, payload = raw.split(b"\r\n\r\n", 1)
        parts.append((head.decode().split(": ", 1)[1], payload))
    return parts


def native_pixels(body: bytes, like: np.ndarray, bits_allocated: int) -> np.ndarray:
    """The native little-endian frame ``body`` as an array shaped and typed like ``like``."""
    if bits_allocated == 1:
        bits = np.unpackbits(np.frombuffer(body, np.uint8), bitorder="little")[: like.size]
        return bits.reshape(like.shape)
    return np.frombuffer(body, dtype=like.dtype.newbyteorder("<")).reshape(like.shape)


def store(server, data: bytes) -> tuple[int, str]:
    ds = read(data)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.put(
            "/v2/studies",
            content=data,
            headers={"Content-Type": "application/dicom", "Accept": "application/dicom+json"},
        )
    path = f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    return response.status_code, path


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_every_frame_as_stored_and_transcoded(server, kind, name):
    data = _with_required_attributes(sample_bytes(name) if kind == "sample" else GENERATED[name])
    status, path = store(server, data)
    if name in REFUSED:
        assert status == 409
        return
    assert status in (200, 202)
    ds = read(data)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        if name in WITHOUT_FRAMES:
            assert http.get(path + "/frames/1", headers={"Accept": "*/*"}).status_code == 404
            return
        expected = expected_frames(ds)
        numbers = ",".join(str(number) for number in range(1, len(expected) + 1))
        stored = http.get(f"{path}/frames/{numbers}", headers={"Accept": f"{OCTET}; transfer-syntax=*"})
        assert stored.status_code == 200
        assert [body for _, body in split_multipart(stored)] == expected
        transcoded = http.get(f"{path}/frames/{numbers}", headers={"Accept": OCTET})
        try:
            pixels = pixel_frames(ds)
        except Exception:  # pydicom cannot decode it: neither can we
            assert transcoded.status_code == 406
            return
        assert transcoded.status_code == 200
        parts = split_multipart(transcoded)
        assert {content_type for content_type, _ in parts} == {
            "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
        }
        if ds.file_meta.TransferSyntaxUID in LITTLE_ENDIAN_NATIVE:  # already in the asked syntax: sent as stored
            assert [body for _, body in parts] == expected
        else:
            for (_, body), frame in zip(parts, pixels, strict=True):
                assert np.array_equal(native_pixels(body, frame, ds.BitsAllocated), frame)
        rendered = http.get(path + "/rendered", headers={"Accept": "image/png"})
        assert rendered.status_code == 200
        assert np.asarray(Image.open(io.BytesIO(rendered.content))).shape[:2] == (ds.Rows, ds.Columns)


def test_dicomweb_client_reads_frames_and_rendered_images(server):
    data = GENERATED["multiframe-explicit"]
    status, _ = store(server, data)
    assert status == 200
    ds = read(data)
    client = DICOMwebClient(server.url + "/v2")
    frames = client.retrieve_instance_frames(
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        frame_numbers=[2, 4],
        media_types=(("application/octet-stream", "*"),),
    )
    assert frames == [expected_frames(ds)[1], expected_frames(ds)[3]]
    image = client.retrieve_instance_rendered(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, media_types=("image/png",)
    )
    assert np.asarray(Image.open(io.BytesIO(image))).shape == (ds.Rows, ds.Columns)


def test_an_8_by_9_16_bit_image_as_jpeg_2000_frames_and_instance_carries_three_decomposition_levels(server):
    source = make_dataset(rows=8, columns=9, NumberOfFrames=2)
    source.PixelData = (np.arange(2 * 8 * 9, dtype=np.int64) * 4099 % 65536).astype("<u2").tobytes()
    status, path = store(server, to_bytes(source))
    assert status == 200
    jpeg_2000 = "1.2.840.10008.1.2.4.90"
    with httpx.Client(base_url=server.url, timeout=60) as http:
        frames = http.get(path + "/frames/1,2", headers={"Accept": 'multipart/related; type="image/jp2"'})
        instance = http.get(path, headers={"Accept": f"application/dicom; transfer-syntax={jpeg_2000}"})
    assert frames.status_code == 200, frames.text
    parts = split_multipart(frames)
    assert {content_type for content_type, _ in parts} == {f"image/jp2; transfer-syntax={jpeg_2000}"}
    assert instance.status_code == 200, instance.text
    transcoded = pydicom.dcmread(io.BytesIO(instance.content))
    assert transcoded.file_meta.TransferSyntaxUID == jpeg_2000
    assert np.array_equal(transcoded.pixel_array, source.pixel_array)
    for index, (_, codestream) in enumerate(parts):
        assert decomposition_levels(codestream) == 3  # floor(log2(8))
        assert decomposition_levels(get_frame(transcoded.PixelData, index, number_of_frames=2)) == 3
        single = make_dataset(rows=8, columns=9, transfer_syntax=jpeg_2000)
        single.PixelData = encapsulate([codestream])
        single["PixelData"].VR = "OB"
        assert np.array_equal(read(to_bytes(single)).pixel_array, source.pixel_array[index])
