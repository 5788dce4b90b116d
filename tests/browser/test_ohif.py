"""The OHIF viewer (the prebuilt ``@ohif/app``), in headless Chromium, shows a study stored in the emulator.

OHIF reads the study's metadata and frames from the emulator. It also checks the study with a
QIDO-RS search first; while the emulator has no QIDO-RS, the page's own server answers those
searches from the emulator's metadata, and once the emulator answers them OHIF asks it directly.

Run with ``make test-browser``: it fetches OHIF's ``dist/`` from the npm registry and Debian's
chromium and chromium-driver when they are missing.
"""

from __future__ import annotations

import functools
import io
import json
import re
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from ..e2e.conftest import Server, free_port
from ..factories import make_dataset, multipart, to_bytes

pytestmark = pytest.mark.browser

OHIF_DIST = Path(__file__).resolve().parents[2] / "node_modules" / ".ohif" / "dist"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
PUBLIC_DEMO = re.compile(r"https://[a-z0-9.]+cloudfront\.net/dicomweb")
SHOWN_WITHIN_S = 120


class _SinglePageHandler(SimpleHTTPRequestHandler):
    """Serves OHIF's files, its index.html for the app's own routes (e.g. /viewer), and - under /qido/ -
    study and series searches answered from the emulator's metadata."""

    config = b""
    emulator_root = ""

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        path = self.path.split("?", 1)[0]
        if path == "/app-config.js":
            self._send(self.config, "application/javascript")
            return
        if path.startswith("/qido/"):
            self._send(json.dumps(self._search(path)).encode(), "application/dicom+json")
            return
        if not (OHIF_DIST / path.lstrip("/")).is_file():
            self.path = "/index.html"
        super().do_GET()

    def _search(self, path: str) -> list[dict]:
        query = dict(part.split("=", 1) for part in self.path.partition("?")[2].split("&") if "=" in part)
        match = re.match(r"^/qido/studies/([0-9.]+)/series", path)
        study = match.group(1) if match else query.get("StudyInstanceUID", "")
        response = httpx.get(
            f"{self.emulator_root}/studies/{study}/metadata", headers={"Accept": "application/dicom+json"}
        )
        if response.status_code != 200:
            return []
        instances = response.json()
        first = instances[0]
        shared = {key: first[key] for key in ("0020000D", "00100010", "00100020", "00080020") if key in first}
        if match:
            series = {key: first[key] for key in ("0020000E", "00080060") if key in first}
            return [shared | series | {"00201209": {"vr": "IS", "Value": [len(instances)]}}]
        return [shared | {"00080061": first["00080060"], "00201208": {"vr": "IS", "Value": [len(instances)]}}]

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def viewer_config(dicomweb_root: str, qido_root: str) -> bytes:
    """OHIF's own app-config.js, with its data source pointed at the emulator (searches at ``qido_root``)."""
    text = (OHIF_DIST / "app-config.js").read_text()
    text = PUBLIC_DEMO.sub(dicomweb_root, text)
    text = text.replace(f"qidoRoot: '{dicomweb_root}'", f"qidoRoot: '{qido_root}'")
    for old, new in [
        ("enableStudyLazyLoad: true", "enableStudyLazyLoad: false"),
        ("staticWado: true", "staticWado: false"),
        ("thumbnailRendering: 'thumbnail'", "thumbnailRendering: 'wadors'"),
    ]:
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
        ds = make_dataset(study_uid=study, series_uid=series, rows=256, columns=256, InstanceNumber=number + 1)
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
    port = free_port()
    root = emulator.url + "/v2"
    search = httpx.get(root + "/studies", headers={"Accept": "application/dicom+json"})
    qido_root = root if search.status_code in (200, 204) else f"http://127.0.0.1:{port}/qido"
    _SinglePageHandler.config = viewer_config(root, qido_root)
    _SinglePageHandler.emulator_root = root
    handler = functools.partial(_SinglePageHandler, directory=str(OHIF_DIST))
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def lit_share(png: bytes) -> float:
    """The share of pixels of a screenshot that are lit (the disc; a blank viewport is black).

    OHIF may dim the page under a welcome tour, so "lit" is well above black, not white."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float((grey > 50).mean())


def test_ohif_shows_a_stored_study(emulator, viewer):
    from selenium.webdriver.common.by import By

    study, files = ct_study()
    stored = httpx.post(
        emulator.url + "/v2/studies",
        content=multipart(files),
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'},
        timeout=30,
    )
    assert stored.status_code == 200, stored.text
    driver = browser()
    try:
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
        driver.save_screenshot(str(emulator.data_dir.parent / "ohif.png"))
        console = "\n".join(entry["message"][:300] for entry in driver.get_log("browser")[-10:])
        assert shown > 0.05, f"the viewport stayed blank (screenshot in {emulator.data_dir.parent}):\n{console}"
    finally:
        driver.quit()
