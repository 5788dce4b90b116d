"""Rendered images in-process: JPEG and PNG, windowing, colour, Accept rules (strict and lenient), bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.pixels import apply_color_lut
from pydicom.uid import generate_uid

from harness.factories import make_dataset, to_bytes

from ..support.app import running_app
from ..support.pixel_samples import sample_bytes
from .test_frames import corrupted_jpeg, multiframe, put
from .test_retrieve import instance_path


def image(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 to 0..255."""
    result = np.where(
        values <= center - 0.5 - (width - 1) / 2,
        0.0,
        np.where(values > center - 0.5 + (width - 1) / 2, 255.0, ((values - (center - 0.5)) / (width - 1) + 0.5) * 255),
    )
    return np.floor(result + 0.5)


def ct(photometric: str = "MONOCHROME2", window: bool = True) -> object:
    ds = make_dataset(rows=16, columns=20, PixelRepresentation=1, PhotometricInterpretation=photometric)
    values = (np.arange(16 * 20, dtype=np.int32) * 13 - 900).astype("<i2")
    ds.PixelData = values.tobytes()
    ds.RescaleSlope, ds.RescaleIntercept = 2, -24
    if window:
        ds.WindowCenter, ds.WindowWidth = [40, 400], [350, 2000]
    return ds


async def test_png_follows_the_windowing_formula(client):
    ds = await put(client, to_bytes(ct()))
    response = await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/png"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    pixels = image(response)
    assert pixels.shape == (16, 20)
    modality = ds.pixel_array.astype(np.float64) * 2 - 24
    expected = linear_window(modality, 40, 350)
    assert (expected == 0).sum() > 0 and (expected == 255).sum() > 0 and ((expected > 0) & (expected < 255)).any()
    for row, column in [(0, 0), (5, 3), (8, 10), (9, 1), (15, 19)]:
        assert pixels[row, column] == expected[row, column]
    assert np.abs(pixels.astype(int) - expected).max() <= 1


async def test_a_new_version_is_rendered_with_its_own_window(client):
    ds = await put(client, to_bytes(ct()))
    before = image(await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/png"}))
    replaced = ct()
    replaced.StudyInstanceUID, replaced.SeriesInstanceUID = ds.StudyInstanceUID, ds.SeriesInstanceUID
    replaced.SOPInstanceUID = replaced.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    replaced.WindowCenter, replaced.WindowWidth = 300, 100
    await put(client, to_bytes(replaced))
    after = image(await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/png"}))
    modality = ds.pixel_array.astype(np.float64) * 2 - 24
    assert np.abs(before.astype(int) - linear_window(modality, 40, 350)).max() <= 1
    assert np.abs(after.astype(int) - linear_window(modality, 300, 100)).max() <= 1


async def test_jpeg_is_the_default_with_quality(client):
    ds = await put(client, to_bytes(ct()))
    request = client.build_request("GET", instance_path(ds) + "/rendered")
    del request.headers["Accept"]
    best = await client.send(request)
    assert best.status_code == 200
    assert best.headers["content-type"] == "image/jpeg"
    assert best.content.startswith(b"\xff\xd8")
    worst = await client.get(instance_path(ds) + "/rendered?quality=1", headers={"Accept": "image/jpeg"})
    assert worst.status_code == 200
    assert len(worst.content) < len(best.content)
    assert image(worst).shape == image(best).shape == (16, 20)
    expected = linear_window(ds.pixel_array.astype(np.float64) * 2 - 24, 40, 350)
    assert np.abs(image(best).astype(int) - expected).mean() < 3


async def test_without_window_the_frame_range_is_used_and_monochrome1_is_inverted(client):
    ds = await put(client, to_bytes(ct(photometric="MONOCHROME1", window=False)))
    pixels = image(await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/png"}))
    modality = ds.pixel_array.astype(np.float64) * 2 - 24
    expected = np.floor((1 - (modality - modality.min()) / (modality.max() - modality.min())) * 255 + 0.5)
    assert np.abs(pixels.astype(int) - expected).max() <= 1
    assert pixels[0, 0] == 255 and pixels[-1, -1] == 0


async def test_frame_of_a_multiframe_instance(client):
    ds = await put(client, to_bytes(multiframe(frames=3, rows=8, columns=8)))
    for number in (1, 3):
        response = await client.get(instance_path(ds) + f"/frames/{number}/rendered", headers={"Accept": "image/png"})
        frame = ds.pixel_array[number - 1].astype(np.float64)
        expected = np.floor((frame - frame.min()) / (frame.max() - frame.min()) * 255 + 0.5)
        assert np.abs(image(response).astype(int) - expected).max() <= 1


@pytest.mark.parametrize("name", ["examples_rgb_color.dcm", "SC_rgb_rle_16bit.dcm", "SC_ybr_full_422_uncompressed.dcm"])
async def test_colour_is_rendered_as_rgb(client, name):
    ds = await put(client, sample_bytes(name))
    pixels = image(await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/png"}))
    expected = ds.pixel_array
    if expected.dtype != np.uint8:
        expected = expected >> (ds.BitsStored - 8)
    assert pixels.shape == (ds.Rows, ds.Columns, 3)
    assert np.array_equal(pixels, expected.astype(np.uint8))


async def test_palette_colour_goes_through_its_lookup_tables(client):
    ds = await put(client, sample_bytes("examples_palette.dcm"))
    pixels = image(await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/png"}))
    rgb = apply_color_lut(ds.pixel_array, ds)
    assert np.array_equal(pixels, (rgb >> 8).astype(np.uint8) if rgb.dtype.itemsize > 1 else rgb)


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "MR_small_jp2klossless.dcm", "liver_1frame.dcm", "rtdose_rle.dcm"])
async def test_compressed_one_bit_and_32_bit_sources_render(client, name):
    ds = await put(client, sample_bytes(name))
    response = await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/jpeg"})
    assert response.status_code == 200
    assert image(response).shape == (ds.Rows, ds.Columns)


@pytest.mark.parametrize("quality", ["0", "101", "-5"])
async def test_quality_out_of_range_is_400(client, quality):
    ds = await put(client, to_bytes(ct()))
    response = await client.get(instance_path(ds) + f"/rendered?quality={quality}", headers={"Accept": "image/jpeg"})
    assert (response.status_code, response.text) == (400, "Image quality must be between 1 and 100 inclusive")


@pytest.mark.parametrize(
    ("quality", "detail"),
    [
        ("abc", "The value 'abc' is not valid for quality."),
        ("2147483648", "The value '2147483648' is not valid for quality."),
        ("1" * 5000, f"The value '{'1' * 5000}' is not valid for quality."),
        ("7.0", "The value '7.0' is not valid for quality."),
        ("", "The value '' is invalid."),
    ],
)
async def test_quality_that_is_no_int32_is_400_with_the_model_binding_text(client, quality, detail):
    ds = await put(client, to_bytes(ct()))
    response = await client.get(instance_path(ds) + f"/rendered?quality={quality}", headers={"Accept": "image/jpeg"})
    assert (response.status_code, response.text) == (400, f"The query parameter 'quality' is invalid. {detail}")


@pytest.mark.parametrize("accept", ["*/*", "image/gif", "image/jpeg, image/png"])
@pytest.mark.parametrize("quality", ["0", "abc"])
async def test_a_bad_quality_is_400_before_the_accept_header_gets_its_406(client, accept, quality):
    ds = await put(client, to_bytes(ct()))
    response = await client.get(instance_path(ds) + f"/rendered?quality={quality}", headers={"Accept": accept})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("accept", "message"),
    [
        ("image/jpeg, image/png", "The request contains multiple accept headers, which is not supported."),
        ("*/*", "The request headers are not acceptable"),
        ("image/gif", "The request headers are not acceptable"),
        ("application/dicom", "The request headers are not acceptable"),
    ],
)
async def test_strict_accept_rules(client, accept, message):
    ds = await put(client, to_bytes(ct()))
    response = await client.get(instance_path(ds) + "/rendered", headers={"Accept": accept})
    assert (response.status_code, response.text) == (406, message)


async def test_missing_frames_instances_and_pixel_data_are_404(client):
    ds = await put(client, to_bytes(ct()))
    jpeg = {"Accept": "image/jpeg"}
    response = await client.get(instance_path(ds) + "/frames/2/rendered", headers=jpeg)
    assert (response.status_code, response.text) == (404, "The specified frame cannot be found.")
    other = make_dataset(study_uid=ds.StudyInstanceUID, series_uid=ds.SeriesInstanceUID, sop_uid=generate_uid())
    response = await client.get(instance_path(other) + "/rendered", headers=jpeg)
    assert (response.status_code, response.text) == (404, "The specified instance cannot be found.")
    no_pixels = make_dataset()
    del no_pixels.PixelData
    await put(client, to_bytes(no_pixels))
    response = await client.get(instance_path(no_pixels) + "/rendered", headers=jpeg)
    assert (response.status_code, response.text) == (404, "The specified frame cannot be found.")


@pytest.mark.parametrize("frame", ["0", "-1"])
async def test_frame_below_1_is_400(client, frame):
    ds = await put(client, to_bytes(ct()))
    response = await client.get(instance_path(ds) + f"/frames/{frame}/rendered", headers={"Accept": "image/jpeg"})
    assert response.status_code == 400
    assert response.text.startswith("The specified frames value is not valid.")


@pytest.mark.parametrize("frame", ["a", "1,2", "2147483648", "1" * 5000, "1.0"])
async def test_frame_that_is_no_int32_is_400_with_the_model_binding_text(client, frame):
    ds = await put(client, to_bytes(ct()))
    response = await client.get(instance_path(ds) + f"/frames/{frame}/rendered", headers={"Accept": "image/jpeg"})
    expected = f"The query parameter 'frame' is invalid. The value '{frame}' is not valid for frame."
    assert (response.status_code, response.text) == (400, expected)


async def test_corrupted_compressed_stream_is_406(client):
    ds = await put(client, to_bytes(corrupted_jpeg()))
    response = await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/jpeg"})
    assert (response.status_code, response.text) == (406, "The specified DICOM image cannot be rendered.")


async def test_lenient_mode_honours_the_accept_query_and_any_type(tmp_path):
    async with running_app(data_dir=tmp_path, rendered_accept="lenient") as client:
        ds = await put(client, to_bytes(ct()))
        url = instance_path(ds) + "/rendered"
        for headers, query, expected in [
            ({"Accept": "*/*"}, "", "image/jpeg"),
            ({"Accept": "image/webp,image/png,*/*;q=0.8"}, "", "image/png"),
            ({"Accept": "application/json"}, "?accept=image/jpeg", "image/jpeg"),
            ({"Accept": "*/*"}, "?accept=image%2Fpng", "image/png"),
        ]:
            response = await client.get(url + query, headers=headers)
            assert response.status_code == 200, (headers, query)
            assert response.headers["content-type"] == expected
        refused = await client.get(url, headers={"Accept": "image/gif"})
        assert refused.status_code == 406


async def test_monochrome1_with_a_window_is_inverted(client):
    ds = await put(client, to_bytes(ct(photometric="MONOCHROME1")))
    pixels = image(await client.get(instance_path(ds) + "/rendered", headers={"Accept": "image/png"}))
    expected = 255 - linear_window(ds.pixel_array.astype(np.float64) * 2 - 24, 40, 350)
    assert np.abs(pixels.astype(int) - expected).max() <= 1
    assert pixels[0, 0] == 255 and pixels[-1, -1] == 0
