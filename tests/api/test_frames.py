"""WADO-RS frames in-process: frame lists, Accept forms, byte-exact framing, transcoding, bad input."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, get_frame
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from harness.factories import make_dataset, multipart, to_bytes

from ..support.jpeg_2000 import decomposition_levels
from ..support.pixel_samples import GENERATED, expected_frames, pixel_frames, read, sample_bytes
from .test_retrieve import STOW, instance_path, parse_multipart

OCTET_ANY = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
EXPLICIT_LE = "1.2.840.10008.1.2.1"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"


async def put(client, data: bytes) -> pydicom.Dataset:
    response = await client.put("/v2/studies", content=multipart([data]), headers=STOW)
    assert response.status_code in (200, 202), response.text
    return read(data)


def multiframe(frames: int = 3, rows: int = 4, columns: int = 5, **attributes) -> pydicom.Dataset:
    ds = make_dataset(rows=rows, columns=columns, **attributes)
    ds.NumberOfFrames = frames
    ds.PixelData = (np.arange(rows * columns * frames, dtype="<u2") * 37 % 4096).tobytes()
    return ds


def frames_path(ds, frames: str) -> str:
    return instance_path(ds) + f"/frames/{frames}"


def native(frame: bytes, ds, dtype: str) -> np.ndarray:
    return np.frombuffer(frame, dtype=dtype).reshape(ds.Rows, ds.Columns, *([3] if ds.SamplesPerPixel == 3 else []))


async def test_frames_in_stored_syntax_are_byte_exact_multipart(client):
    ds = await put(client, to_bytes(multiframe(frames=4)))
    response = await client.get(frames_path(ds, "1,3,4"), headers={"Accept": OCTET_ANY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith('multipart/related; boundary="')
    parts = parse_multipart(response)
    assert [ct for ct, _ in parts] == [f"application/octet-stream; transfer-syntax={EXPLICIT_LE}"] * 3
    expected = expected_frames(ds)
    assert [body for _, body in parts] == [expected[0], expected[2], expected[3]]


async def test_encoded_comma_and_repeated_frames(client):
    ds = await put(client, to_bytes(multiframe(frames=3)))
    response = await client.get(frames_path(ds, "2%2C2"), headers={"Accept": OCTET_ANY})
    assert response.status_code == 200
    assert [body for _, body in parse_multipart(response)] == [expected_frames(ds)[1]] * 2


@pytest.mark.parametrize(
    ("accept", "multipart_response", "syntax"),
    [
        ('multipart/related; type="application/octet-stream"; transfer-syntax=*', True, EXPLICIT_LE),
        ("multipart/related; type=application/octet-stream; transfer-syntax=*", True, EXPLICIT_LE),
        ('multipart/related; type="application/octet-stream"', True, EXPLICIT_LE),
        ("multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", True, EXPLICIT_LE),
        ("*/*", True, EXPLICIT_LE),
        ("application/octet-stream; transfer-syntax=*", False, EXPLICIT_LE),
        ("application/octet-stream", False, EXPLICIT_LE),
        ('application/octet-stream; transfer-syntax="*"', False, EXPLICIT_LE),
    ],
)
async def test_accept_forms(client, accept, multipart_response, syntax):
    ds = await put(client, to_bytes(multiframe(frames=2)))
    response = await client.get(frames_path(ds, "2"), headers={"Accept": accept})
    assert response.status_code == 200, response.text
    if multipart_response:
        ((content_type, body),) = parse_multipart(response)
    else:
        content_type, body = response.headers["content-type"], response.content
    assert content_type == f"application/octet-stream; transfer-syntax={syntax}"
    assert body == expected_frames(ds)[1]


async def test_implicit_little_endian_frames_keep_their_syntax_with_star(client):
    ds = await put(client, to_bytes(multiframe(frames=2, transfer_syntax="1.2.840.10008.1.2")))
    star = await client.get(frames_path(ds, "1"), headers={"Accept": OCTET_ANY})
    assert parse_multipart(star)[0][0] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2"
    explicit = await client.get(
        frames_path(ds, "1"), headers={"Accept": 'multipart/related; type="application/octet-stream"'}
    )
    assert parse_multipart(explicit) == [
        (f"application/octet-stream; transfer-syntax={EXPLICIT_LE}", expected_frames(ds)[0])
    ]


@pytest.mark.parametrize(
    "name", ["SC_rgb_rle_2frame.dcm", "examples_ybr_color.dcm", "MR_small_expb.dcm", "JPGExtended.dcm"]
)
async def test_transcoded_frames_decode_to_pydicom_pixels(client, name):
    ds = await put(client, sample_bytes(name))
    expected = pixel_frames(ds)
    numbers = ",".join(str(n) for n in range(1, len(expected) + 1))
    response = await client.get(
        frames_path(ds, numbers), headers={"Accept": 'multipart/related; type="application/octet-stream"'}
    )
    assert response.status_code == 200, response.text
    parts = parse_multipart(response)
    assert {ct for ct, _ in parts} == {f"application/octet-stream; transfer-syntax={EXPLICIT_LE}"}
    for (_, body), pixels in zip(parts, expected, strict=True):
        assert np.array_equal(native(body, ds, pixels.dtype.newbyteorder("<").str), pixels)


async def test_frames_as_jpeg_2000(client):
    ds = await put(client, to_bytes(multiframe(frames=2, rows=32, columns=40)))
    response = await client.get(frames_path(ds, "1,2"), headers={"Accept": 'multipart/related; type="image/jp2"'})
    assert response.status_code == 200, response.text
    parts = parse_multipart(response)
    assert {ct for ct, _ in parts} == {f"image/jp2; transfer-syntax={JPEG_2000_LOSSLESS}"}
    for (_, codestream), pixels in zip(parts, pixel_frames(ds), strict=True):
        assert codestream.startswith(b"\xff\x4f\xff\x51")
        assert decomposition_levels(codestream) == 5  # log2 of 32, the smaller side
        decoded = read(_jpeg_2000_file(ds, codestream)).pixel_array
        assert np.array_equal(decoded, pixels)


async def test_an_8_by_9_16_bit_frame_and_its_instance_transcode_to_jpeg_2000_lossless_200(client):
    ds = await put(client, to_bytes(multiframe(frames=2, rows=8, columns=9)))
    response = await client.get(frames_path(ds, "2"), headers={"Accept": 'multipart/related; type="image/jp2"'})
    assert response.status_code == 200, response.text
    ((content_type, codestream),) = parse_multipart(response)
    assert content_type == f"image/jp2; transfer-syntax={JPEG_2000_LOSSLESS}"
    assert decomposition_levels(codestream) == 3  # floor(log2(8))
    assert np.array_equal(read(_jpeg_2000_file(ds, codestream)).pixel_array, pixel_frames(ds)[1])
    response = await client.get(
        instance_path(ds), headers={"Accept": f"application/dicom; transfer-syntax={JPEG_2000_LOSSLESS}"}
    )
    assert response.status_code == 200, response.text
    transcoded = pydicom.dcmread(io.BytesIO(response.content))
    for index in range(2):
        assert decomposition_levels(get_frame(transcoded.PixelData, index, number_of_frames=2)) == 3
    assert np.array_equal(transcoded.pixel_array, ds.pixel_array)


def _jpeg_2000_file(ds, codestream: bytes) -> bytes:
    single = make_dataset(rows=ds.Rows, columns=ds.Columns, transfer_syntax=JPEG_2000_LOSSLESS)
    single.PixelData = encapsulate([codestream])
    single["PixelData"].VR = "OB"
    return to_bytes(single)


async def test_a_new_version_gets_its_own_frames(client):
    first = multiframe(frames=2)
    ds = await put(client, to_bytes(first))
    replaced = multiframe(
        frames=3, study_uid=ds.StudyInstanceUID, series_uid=ds.SeriesInstanceUID, sop_uid=ds.SOPInstanceUID
    )
    replaced.PixelData = bytes(reversed(replaced.PixelData))
    await put(client, to_bytes(replaced))
    response = await client.get(frames_path(ds, "3"), headers={"Accept": OCTET_ANY})
    assert response.status_code == 200
    assert parse_multipart(response)[0][1] == expected_frames(replaced)[2]


async def test_a_frame_read_before_a_new_version_or_a_delete_is_not_served_again(client):
    ds = await put(client, to_bytes(multiframe(frames=2)))
    response = await client.get(frames_path(ds, "2"), headers={"Accept": OCTET_ANY})
    assert parse_multipart(response)[0][1] == expected_frames(ds)[1]
    replaced = multiframe(  # the same frame layout, so the same frame index, with other pixels
        frames=2, study_uid=ds.StudyInstanceUID, series_uid=ds.SeriesInstanceUID, sop_uid=ds.SOPInstanceUID
    )
    replaced.PixelData = bytes(reversed(replaced.PixelData))
    await put(client, to_bytes(replaced))
    response = await client.get(frames_path(ds, "2"), headers={"Accept": OCTET_ANY})
    assert parse_multipart(response)[0][1] == expected_frames(replaced)[1] != expected_frames(ds)[1]
    assert (await client.delete(instance_path(ds))).status_code == 204
    response = await client.get(frames_path(ds, "2"), headers={"Accept": OCTET_ANY})
    assert (response.status_code, response.text) == (404, "The specified instance cannot be found.")


async def test_deflated_frames_come_inflated(client):
    ds = await put(client, GENERATED["multiframe-deflated"])
    response = await client.get(frames_path(ds, "2,4"), headers={"Accept": OCTET_ANY})
    assert parse_multipart(response) == [
        (f"application/octet-stream; transfer-syntax={EXPLICIT_LE}", expected_frames(ds)[i]) for i in (1, 3)
    ]


@pytest.mark.parametrize("frames", ["0", "-1", "1,0", "(1)", "1-"])
async def test_frame_lists_with_a_number_below_1_are_400(client, frames):
    ds = await put(client, to_bytes(multiframe()))
    response = await client.get(frames_path(ds, frames), headers={"Accept": OCTET_ANY})
    assert response.status_code == 400
    assert response.text.startswith("The specified frames value is not valid.")


@pytest.mark.parametrize(
    ("frames", "entry"),
    [
        ("a", "a"),
        ("0.6", "0.6"),
        (",", ""),
        ("1,", ""),
        (" ", ""),
        ("1,,2", ""),
        ("2147483648", "2147483648"),
        ("1," + "9" * 5000, "9" * 5000),
    ],
)
async def test_frame_lists_with_an_entry_that_is_no_int32_are_400_with_the_model_binding_text(client, frames, entry):
    ds = await put(client, to_bytes(multiframe()))
    response = await client.get(frames_path(ds, frames), headers={"Accept": OCTET_ANY})
    expected = f"The query parameter 'frames' is invalid. Unable to parse value '{entry}' as Int32."
    assert (response.status_code, response.text) == (400, expected)


@pytest.mark.parametrize("frames", [" 2 ", "2.0", "2e0", "+2", "0002"])
async def test_frame_numbers_are_read_as_dotnet_reads_integers(client, frames):
    ds = await put(client, to_bytes(multiframe()))
    response = await client.get(frames_path(ds, frames), headers={"Accept": OCTET_ANY})
    assert parse_multipart(response) == [
        (f"application/octet-stream; transfer-syntax={EXPLICIT_LE}", expected_frames(ds)[1])
    ]


async def test_invalid_frames_are_400_before_the_instance_is_looked_up(client):
    response = await client.get("/v2/studies/1.2/series/1.3/instances/1.4/frames/0", headers={"Accept": OCTET_ANY})
    assert response.status_code == 400


async def test_empty_frame_list_matches_no_route(client):
    ds = await put(client, to_bytes(multiframe()))
    response = await client.get(instance_path(ds) + "/frames/", headers={"Accept": OCTET_ANY})
    assert response.status_code == 404
    assert response.content == b""


async def test_missing_frames_and_instances_are_404(client):
    ds = await put(client, to_bytes(multiframe(frames=3)))
    response = await client.get(frames_path(ds, "1,99999"), headers={"Accept": OCTET_ANY})
    assert (response.status_code, response.text) == (404, "The specified frame cannot be found.")
    other = make_dataset(study_uid=ds.StudyInstanceUID, series_uid=ds.SeriesInstanceUID)
    response = await client.get(frames_path(other, "1"), headers={"Accept": OCTET_ANY})
    assert (response.status_code, response.text) == (404, "The specified instance cannot be found.")


async def test_instance_without_pixel_data_has_no_frames(client):
    no_pixels = make_dataset()
    del no_pixels.PixelData
    ds = await put(client, to_bytes(no_pixels))
    response = await client.get(frames_path(ds, "1"), headers={"Accept": OCTET_ANY})
    assert (response.status_code, response.text) == (404, "The specified frame cannot be found.")


@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.100',
        'multipart/related; type="image/png"; transfer-syntax=*',
        "image/jp2",
        "application/dicom",
        None,
    ],
)
async def test_unacceptable_frames_are_406_even_for_missing_instances(client, accept):
    request = client.build_request(
        "GET", f"/v2/studies/{generate_uid()}/series/{generate_uid()}/instances/{generate_uid()}/frames/1"
    )
    del request.headers["Accept"]
    if accept is not None:
        request.headers["Accept"] = accept
    assert (await client.send(request)).status_code == 406


async def test_single_part_with_several_frames_is_400(client):
    ds = await put(client, to_bytes(multiframe()))
    response = await client.get(
        frames_path(ds, "1,2"), headers={"Accept": "application/octet-stream; transfer-syntax=*"}
    )
    assert response.status_code == 400
    assert (
        response.text
        == "The accept header is supported for single frame retrieval, use multi-part accept header instead."
    )


async def test_duplicated_transfer_syntax_parameter_is_400(client):
    ds = await put(client, to_bytes(multiframe()))
    accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*; transfer-syntax=*'
    response = await client.get(frames_path(ds, "1"), headers={"Accept": accept})
    assert (response.status_code, response.text) == (400, "Transfer Syntax parameter is specified more than once")


def corrupted_jpeg() -> pydicom.Dataset:
    ds = make_dataset(transfer_syntax=JPEGBaseline8Bit, BitsAllocated=8, BitsStored=8, HighBit=7)
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0" + bytes(40) + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    return ds


async def test_corrupted_compressed_frame_is_served_as_stored_and_refused_for_transcoding(client):
    ds = await put(client, to_bytes(corrupted_jpeg()))
    stored = await client.get(frames_path(ds, "1"), headers={"Accept": OCTET_ANY})
    assert stored.status_code == 200
    assert parse_multipart(stored)[0][1] == expected_frames(ds)[0]
    for accept in ('multipart/related; type="application/octet-stream"', 'multipart/related; type="image/jp2"'):
        response = await client.get(frames_path(ds, "1"), headers={"Accept": accept})
        assert (response.status_code, response.text) == (406, "The specified transcoding is not supported.")


async def test_instance_transcoding_to_jpeg_2000_and_from_compressed(client):
    ds = await put(client, sample_bytes("SC_rgb_rle.dcm"))
    response = await client.get(
        instance_path(ds), headers={"Accept": f"application/dicom; transfer-syntax={JPEG_2000_LOSSLESS}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"application/dicom; transfer-syntax={JPEG_2000_LOSSLESS}"
    assert np.array_equal(pydicom.dcmread(io.BytesIO(response.content)).pixel_array, ds.pixel_array)
    explicit = await client.get(instance_path(ds), headers={"Accept": "application/dicom"})
    assert explicit.status_code == 200
    assert np.array_equal(pydicom.dcmread(io.BytesIO(explicit.content)).pixel_array, ds.pixel_array)
    corrupted = await put(client, to_bytes(corrupted_jpeg()))
    refused = await client.get(instance_path(corrupted), headers={"Accept": "application/dicom"})
    assert (refused.status_code, refused.text) == (406, "The specified transcoding is not supported.")


async def test_files_above_the_transcoding_limit_are_406(client, monkeypatch):
    """Azure's limit is 100 MB; lowered here so that a small file is over it."""
    from azure_dicom_emulator.features.retrieve import instances as retrieve
    from azure_dicom_emulator.features.retrieve import rendered

    ds = await put(client, sample_bytes("SC_rgb_rle.dcm"))
    monkeypatch.setattr(retrieve, "MAX_TRANSCODE_BYTES", 1000)
    monkeypatch.setattr(rendered, "MAX_TRANSCODE_BYTES", 1000)
    too_large = "Requested DICOM instance size is above the supported limit of 1000."
    frames = await client.get(
        frames_path(ds, "1"), headers={"Accept": 'multipart/related; type="application/octet-stream"'}
    )
    assert (frames.status_code, frames.text.split(" The entire")[0]) == (406, too_large)
    instance = await client.get(instance_path(ds), headers={"Accept": "application/dicom"})
    assert (instance.status_code, instance.text.split(" The entire")[0]) == (406, too_large)
    image = await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/jpeg"})
    assert image.status_code == 406
    assert image.text == "Requested DICOM instance size is above the supported limit of 1000 for rendering."
    as_stored = await client.get(frames_path(ds, "1"), headers={"Accept": OCTET_ANY})
    assert as_stored.status_code == 200
