"""The web inspector in headless Chromium: every page shows the stored data, thumbnails load, screenshots kept.

Screenshots land in ``build/test-artifacts/`` (one per page). Run with ``make test-browser``.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from harness.factories import multipart
from harness.server import Server

from ..support.chromium import CHROMEDRIVER, CHROMIUM, headless_chromium

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
SAMPLES = ["CT_small.dcm", "MR_small.dcm"]
LOADED_WITHIN_S = 60


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """A server holding two pydicom samples, a fault rule and a reindex operation."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("run `make test-browser`: it installs chromium and chromium-driver")
    server = Server(tmp_path_factory.mktemp("inspector") / "data").start()
    files = [Path(get_testdata_file(name)).read_bytes() for name in SAMPLES]
    stored = httpx.post(
        server.url + "/v2/studies",
        content=multipart(files),
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'},
        timeout=60,
    )
    assert stored.status_code == 200, stored.text
    tag = [{"path": "00100040", "vr": "CS", "level": "Study"}]
    assert httpx.post(server.url + "/v2/extendedquerytags", json=tag, timeout=30).status_code == 202
    faults = [{"path": "/v2/nowhere", "status": 418}]
    assert httpx.post(server.url + "/emulator/faults", json=faults, timeout=30).status_code == 201
    yield server
    server.stop()


@pytest.fixture(scope="module")
def driver():
    session = headless_chromium()
    yield session
    session.quit()


def shown(driver, url: str, name: str) -> str:
    """Opens ``url``, keeps its screenshot as ``name``.png and returns the page's text."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"inspector-{name}.png"))
    return driver.find_element(By.TAG_NAME, "body").text


def test_the_studies_page_lists_both_samples_and_a_search_narrows_them(emulator, driver):
    from selenium.webdriver.common.by import By

    names = {str(dcmread(get_testdata_file(name), stop_before_pixels=True).PatientName) for name in SAMPLES}
    text = shown(driver, emulator.url + "/emulator/", "studies")
    assert all(name in text for name in names)

    box = driver.find_element(By.NAME, "patient")
    box.send_keys("CT1")
    box.submit()
    searched = driver.find_element(By.TAG_NAME, "body").text
    assert sum(name in searched for name in names) == 1


def test_the_study_page_shows_loaded_thumbnails_linking_to_the_rendered_route(emulator, driver):
    from selenium.webdriver.common.by import By

    sample = dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)
    text = shown(driver, f"{emulator.url}/emulator/pages/studies/{sample.StudyInstanceUID}", "study")
    assert str(sample.SeriesInstanceUID) in text

    images = driver.find_elements(By.CSS_SELECTOR, ".thumbs img")
    assert len(images) == 1
    loaded = 0
    deadline = time.monotonic() + LOADED_WITHIN_S  # the first rendering starts the pixel workers
    while not loaded and time.monotonic() < deadline:
        time.sleep(0.2)
        loaded = driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", images[0])
    driver.save_screenshot(str(ARTIFACTS / "inspector-study.png"))
    assert loaded == sample.Columns
    link = images[0].find_element(By.XPATH, "..").get_attribute("href")
    assert link.endswith(f"/instances/{sample.SOPInstanceUID}/rendered")


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("changefeed", "Create"),
        ("events", "Microsoft.HealthcareApis.DicomImageCreated"),
        ("operations", "reindex"),
        ("workitems", "Workitems"),
        ("faults", "/v2/nowhere"),
        ("requests", "/v2/extendedquerytags"),
    ],
)
def test_each_tool_page_shows_what_the_server_holds(emulator, driver, page, expected):
    assert expected in shown(driver, f"{emulator.url}/emulator/pages/{page}", page)
