"""A big series: one series of 1,000 CT instances, its metadata and its instance search, as a viewer opens it."""

from __future__ import annotations

import io
import time

import multipart_body
from servers import Server
from testdata import ct_header, file_meta, make_uid
from workloads import (
    LATENCY_PHASE_TIMEOUT_S,
    Latency,
    WorkloadError,
    check_stow_response,
    new_client,
    percentiles,
    post_stow,
    stow_connection,
    timed_get,
)

INSTANCES = 1000
STUDY = 950  # a study number far from the single-frame and multi-frame studies
SIDE = 16  # small pixels: the header, not the pixel data, makes a series' metadata
BATCH = 100
REQUESTS = 20
WARMUP = 2
QIDO_PAGE = 200


class BigSeries:
    """The UIDs of the big series stored under one run tag."""

    def __init__(self, tag: int) -> None:
        self.tag = tag
        self.study_uid = make_uid(tag, "study", STUDY)
        self.series_uid = make_uid(tag, "series", STUDY)

    def instance(self, index: int) -> bytes:
        """Instance ``index`` of the series as a Part 10 file: a CT header of about 100 elements, 16x16 pixels."""
        ds = ct_header(STUDY, index)
        sop = make_uid(self.tag, "instance", STUDY, index)
        ds.file_meta = file_meta(sop)
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID = self.study_uid, self.series_uid
        ds.Rows = ds.Columns = SIDE
        ds.PixelData = bytes(SIDE * SIDE * 2)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return out.getvalue()

    def url(self, server: Server) -> str:
        """The series' WADO-RS URL on ``server``."""
        return f"{server.base_url}/studies/{self.study_uid}/series/{self.series_uid}"


def store_series(server: Server, series: BigSeries) -> None:
    """Stores the whole series, BATCH instances per STOW-RS request."""
    connection = stow_connection(server)
    try:
        for first in range(0, INSTANCES, BATCH):
            body = multipart_body.build_body(series.instance(index) for index in range(first, first + BATCH))
            check_stow_response(post_stow(connection, server, body), BATCH)
    finally:
        connection.close()


def series_latency(server: Server, series: BigSeries, path: str, accept: str, expected: int) -> Latency:
    """Sequential GETs of the series URL + ``path``; every answer must list ``expected`` instances."""
    samples: list[float] = []
    deadline = time.monotonic() + LATENCY_PHASE_TIMEOUT_S
    url = series.url(server) + path
    with new_client() as client:
        for _ in range(WARMUP):
            timed_get(client, url, accept)
        for _ in range(REQUESTS):
            if time.monotonic() > deadline:
                break
            elapsed_ms, response = timed_get(client, url, accept)
            samples.append(elapsed_ms)
            if len(response.json()) != expected:
                raise WorkloadError(f"GET {url} listed {len(response.json())} instances, not {expected}")
    return Latency(len(samples), *percentiles(samples), verified=len(samples))


def series_metadata_latency(server: Server, series: BigSeries) -> Latency:
    """The series' metadata (WADO-RS), as a viewer asks for it when it opens the series."""
    return series_latency(server, series, "/metadata", "application/dicom+json", INSTANCES)


def series_instances_latency(server: Server, series: BigSeries) -> Latency:
    """QIDO-RS of the series' instances (``studies/{s}/series/{se}/instances``), one page of the largest size
    Azure allows (200)."""
    return series_latency(server, series, f"/instances?limit={QIDO_PAGE}", "application/dicom+json", QIDO_PAGE)
