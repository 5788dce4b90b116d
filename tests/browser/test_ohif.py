"""The OHIF viewer (the prebuilt ``@ohif/app``), in headless Chromium, finds and shows a study stored in the emulator.

OHIF's data source points at the emulator for everything: its QIDO-RS searches (the study list and the
viewer's study and series searches), its WADO-RS metadata and its frames. The page's own server only
serves OHIF's files. Every request the browser sends to the emulator is recorded from Chromium's
network log, and the test fails if any of them fails, naming the request and the emulator's answer.

Run with ``make test-browser``: it fetches OHIF's ``dist/`` from the npm registry and Debian's
chromium and chromium-driver when they are missing.
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from harness.factories import make_dataset, multipart, to_bytes
from harness.loopback import free_port
from harness.server import Server

from ..support.chromium import CHROMEDRIVER, CHROMIUM, headless_chromium

pytestmark = pytest.mark.browser

OHIF_DIST = Path(__file__).resolve().parents[2] / ".cache" / "ohif" / "dist"
PUBLIC_DEMO = re.compile(r"https://[a-z0-9.]+cloudfront\.net/dicomweb")
SHOWN_WITHIN_S = 120
PATIENT_NAME = "Emulator^Ohif"
LISTED_AS = "Emulator, Ohif"


class _SinglePageHandler(SimpleHTTPRequestHandler):
    """Serves OHIF's files, its app-config.js, and its index.html for the app's own routes (e.g. /viewer)."""

    config = b""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/app-config.js":
            body = self.config
            self.send_response(200)
            self.send_header("Content-Type", "application/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not (OHIF_DIST / path.lstrip("/")).is_file():
            self.path = "/index.html"
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


def viewer_config(dicomweb_root: str) -> bytes:
    """OHIF's own app-config.js, with its data source (searches, metadata and frames) pointed at the emulator."""
    text = (OHIF_DIST / "app-config.js").read_text()
    text, roots = PUBLIC_DEMO.subn(dicomweb_root, text)
    assert roots == 3, "OHIF's app-config.js no longer names the public demo's wadoUriRoot, qidoRoot and wadoRoot"
    # The settings a DICOM service needs: it takes includefield and fuzzymatching, it is no static
    # DICOMweb store, thumbnails come from frames, and bulk data stays inline in the metadata.
    for old, new in [
        ("qidoSupportsIncludeField: false", "qidoSupportsIncludeField: true"),
        ("supportsFuzzyMatching: false", "supportsFuzzyMatching: true"),
        ("staticWado: true", "staticWado: false"),
        ("thumbnailRendering: 'thumbnail'", "thumbnailRendering: 'wadors'"),
    ]:
        assert old in text, f"OHIF's app-config.js no longer sets {old}"
        text = text.replace(old, new)
    text = re.sub(r"bulkDataURI: \{\s*enabled: true", "bulkDataURI: {\n          enabled: false", text)
    return text.encode()


def ct_study(slices: int = 3) -> tuple[str, list[bytes]]:
    """A study of 256x256 CT slices with a bright disc on a dark background, windowed to show it."""
    study, series, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    y, x = np.ogrid[-1:1:256j, -1:1:256j]
    files = []
    for number in range(slices):
        pixels = np.where(x**2 + y**2 < 0.5, 1000, 0).astype("<u2")
        ds = make_dataset(
            study_uid=study,
            series_uid=series,
            rows=256,
            columns=256,
            InstanceNumber=number + 1,
            PatientName=PATIENT_NAME,
        )
        ds.PixelData = pixels.tobytes()
        ds.WindowCenter, ds.WindowWidth = 500, 1000
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, number], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [1, 1], 1
        ds.FrameOfReferenceUID = frame_of_reference
        files.append(to_bytes(ds))
    return study, files


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if not (OHIF_DIST.is_dir() and CHROMIUM and CHROMEDRIVER):
        pytest.fail("run `make test-browser`: it installs OHIF's dist, chromium and chromium-driver")
    server = Server(tmp_path_factory.mktemp("browser") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def viewer(emulator):
    _SinglePageHandler.config = viewer_config(emulator.url + "/v2")
    handler = functools.partial(_SinglePageHandler, directory=str(OHIF_DIST))
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class EmulatorTraffic:
    """The requests the browser sent to the emulator and their statuses, read from Chromium's network log."""

    def __init__(self, driver, emulator_url: str) -> None:
        self.driver = driver
        self.prefix = emulator_url + "/"
        self.requests: dict[str, dict] = {}

    def read(self) -> list[dict]:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent" and params["request"]["url"].startswith(self.prefix):
                request = params["request"]
                self.requests[params["requestId"]] = {
                    "method": request["method"],
                    "url": request["url"],
                    "accept": {k.lower(): v for k, v in request.get("headers", {}).items()}.get("accept"),
                }
            elif params.get("requestId") in self.requests:
                request = self.requests[params["requestId"]]
                if message["method"] == "Network.responseReceived":
                    request["status"] = params["response"]["status"]
                elif message["method"] == "Network.loadingFailed":
                    request["failed"] = params.get("errorText") or "failed"
        return list(self.requests.values())

    def routes(self) -> set[str]:
        """What OHIF asked the emulator for: study and series searches, series metadata, frames."""
        kinds = {
            "study search": r"/v2/studies\?",
            "series search": r"/v2/studies/[0-9.]+/series\?",
            "series metadata": r"/v2/studies/[0-9.]+/series/[0-9.]+/metadata$",
            "frames": r"/v2/studies/[0-9.]+/series/[0-9.]+/instances/[0-9.]+/frames/[0-9,]+$",
        }
        paths = [request["url"][len(self.prefix) - 1 :] for request in self.read()]
        return {kind for kind, pattern in kinds.items() if any(re.match(pattern, path) for path in paths)}

    def failures(self) -> list[str]:
        """Each request that failed, with the emulator's answer when the same request is sent again."""
        failed = []
        for request in self.read():
            if request.get("status", 200) < 400 and "failed" not in request:
                continue
            headers = {"Accept": request["accept"]} if request["accept"] else {}
            again = httpx.request(request["method"], request["url"], headers=headers, timeout=30)
            failed.append(
                f"{request['method']} {request['url']} (Accept: {request['accept']}) got"
                f" {request.get('status', request.get('failed'))}; sent again: {again.status_code} {again.text[:500]}"
            )
        return failed


def lit_share(png: bytes) -> float:
    """The share of pixels of a screenshot that are lit (the disc; a blank viewport is black).

    OHIF may dim the page under a welcome tour, so "lit" is well above black, not white."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float((grey > 50).mean())


def test_ohif_finds_and_shows_a_stored_study(emulator, viewer):
    from selenium.webdriver.common.by import By

    study, files = ct_study()
    stored = httpx.post(
        emulator.url + "/v2/studies",
        content=multipart(files),
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'},
        timeout=30,
    )
    assert stored.status_code == 200, stored.text
    driver = headless_chromium()
    traffic = EmulatorTraffic(driver, emulator.url)
    screenshot = emulator.data_dir.parent / "ohif.png"

    def page_text() -> str:
        return driver.find_element(By.TAG_NAME, "body").text

    def console() -> str:
        entries = [entry for entry in driver.get_log("browser") if entry["level"] in ("WARNING", "SEVERE")]
        return "\n".join(entry["message"][:300] for entry in entries[-10:])

    try:
        driver.get(viewer + "/")
        deadline = time.monotonic() + SHOWN_WITHIN_S
        while LISTED_AS not in page_text() and time.monotonic() < deadline:
            time.sleep(1)
        driver.save_screenshot(str(screenshot))
        assert LISTED_AS in page_text(), (
            f"the study list does not show the study (screenshot {screenshot});"
            f" failed requests: {traffic.failures()}\n{console()}"
        )

        driver.get(f"{viewer}/viewer?StudyInstanceUIDs={study}")
        shown = 0.0
        deadline = time.monotonic() + SHOWN_WITHIN_S
        while time.monotonic() < deadline:
            canvases = driver.find_elements(By.CSS_SELECTOR, "canvas.cornerstone-canvas")
            if canvases:
                shown = lit_share(canvases[0].screenshot_as_png)
                if shown > 0.05:
                    break
            time.sleep(1)
        driver.save_screenshot(str(screenshot))
        assert shown > 0.05, (
            f"the viewport stayed blank (screenshot {screenshot}); failed requests: {traffic.failures()}\n{console()}"
        )
        assert traffic.failures() == []
        assert traffic.routes() == {"study search", "series search", "series metadata", "frames"}
    finally:
        driver.quit()
