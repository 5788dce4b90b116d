"""Big requests: one STOW-RS of thousands of CT instances, and one single instance of gigabytes.

Run from the repository root once the project is installed in `.venv`, on a quiet machine:
``.venv/bin/python bench/big.py [--instances 5000] [--big-frames 4000] [--rounds 1]``. Each measure starts the
emulator afresh on a free loopback port and samples the peak resident memory (VmHWM) of the server and every
process under it while it runs (``workloads.RssWatch``):

- one STOW-RS request streaming ``--instances`` cached 512x512 CT slices (about 0.5 MB each);
- one instance of ``--big-frames`` 512x512 16-bit frames (4,000 frames: 2 GB), written to disk without being
  held in memory (``harness.big_instance``), stored in one streamed STOW-RS request, retrieved and checked
  byte for byte (SHA-256), and one frame of it read and checked.

The figures go to the ``big-results`` section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import report  # noqa: E402
import servers  # noqa: E402
import testdata  # noqa: E402
import workloads  # noqa: E402

from harness.big_instance import frame_bytes, write_big_instance  # noqa: E402

RESULTS = BENCH / "RESULTS.md"
CACHE = BENCH / "work" / "data"
MEGABYTE = 1024 * 1024
CHUNK = MEGABYTE
RSS_TARGET_MB = 300


def file_chunks(path: Path) -> Iterator[bytes]:
    """The file at ``path`` in 1 MB pieces."""
    with open(path, "rb") as source:
        while block := source.read(CHUNK):
            yield block


def big_instance_round(work: Path, path: Path, ds: object, digest: str, frames: int) -> dict[str, float]:
    """Stores, retrieves and frames the big instance on a new server; seconds and peak RSS (MB) of each step."""
    figures: dict[str, float] = {}
    size = path.stat().st_size
    url = f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    with servers.ours_on_free_port(work) as server, httpx.Client(base_url=server.base_url, timeout=3600) as http:
        with workloads.RssWatch(server.process.pid) as watch:
            began = time.perf_counter()
            stored = http.post(
                "/studies",
                content=file_chunks(path),
                headers={"Content-Type": "application/dicom", "Content-Length": str(size)},
            )
            figures["store_s"] = time.perf_counter() - began
        if stored.status_code != 200:
            raise RuntimeError(f"the big instance was refused: {stored.status_code} {stored.text[:300]}")
        figures["store_rss"] = sum(watch.peaks.values()) / MEGABYTE
        with workloads.RssWatch(server.process.pid) as watch:
            began = time.perf_counter()
            received = hashlib.sha256()
            with http.stream("GET", url, headers={"Accept": "application/dicom; transfer-syntax=*"}) as answer:
                for block in answer.iter_bytes():
                    received.update(block)
            figures["retrieve_s"] = time.perf_counter() - began
        if received.hexdigest() != digest:
            raise RuntimeError("the retrieved big instance differs from the stored one")
        figures["retrieve_rss"] = sum(watch.peaks.values()) / MEGABYTE
        number = frames // 2 + 1
        with workloads.RssWatch(server.process.pid) as watch:
            began = time.perf_counter()
            accept = {"Accept": "application/octet-stream; transfer-syntax=*"}
            frame = http.get(f"{url}/frames/{number}", headers=accept)
            figures["frame_s"] = time.perf_counter() - began
        if frame.content != frame_bytes(number):
            raise RuntimeError(f"frame {number} of the big instance differs from the stored one")
        figures["frame_rss"] = sum(watch.peaks.values()) / MEGABYTE
    return figures


def spread(values: list[float], digits: int = 0) -> str:
    """The median of ``values``, with their range when there are several."""
    median = f"{statistics.median(values):.{digits}f}"
    return median if len(values) == 1 else f"{median} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def verdict(values: list[float]) -> str:
    """Whether the peak RSS target holds in the median round."""
    return "met" if statistics.median(values) < RSS_TARGET_MB else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--big-frames", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    testdata.ensure_cache(CACHE, args.instances)
    load = os.getloadavg()[0]
    stow: list[workloads.LargeStow] = []
    big: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-big-") as folder:
        work = Path(folder)
        path = work / "big.dcm"
        ds, digest = write_big_instance(path, args.big_frames)
        for number in range(args.rounds):
            items = testdata.instances(CACHE, args.instances, tag=testdata.PLACEHOLDER_TAG + 10 + number)
            (work / f"stow-{number}").mkdir()
            (work / f"big-{number}").mkdir()
            with servers.ours_on_free_port(work / f"stow-{number}") as server:
                stow.append(workloads.large_stow(server, items))
            big.append(big_instance_round(work / f"big-{number}", path, ds, digest, args.big_frames))
        size_gb = path.stat().st_size / 1e9
    stow_rss = [item.peak_rss_bytes / MEGABYTE for item in stow]
    stow_gb = statistics.median(item.body_bytes for item in stow) / 1e9

    def column(key: str) -> list[float]:
        return [round_[key] for round_ in big]

    lines = [
        "## Big requests",
        "",
        f"Measured by `bench/big.py --instances {args.instances} --big-frames {args.big_frames}"
        f" --rounds {args.rounds}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average"
        f" {load:.2f} at the start; each measure on a freshly started server. Peak RSS is the summed VmHWM of"
        " the server and every process under it, sampled during the request.",
        "",
        "| Measure | Time (s) | Peak RSS (MB) | Target | Status |",
        "| --- | ---: | ---: | --- | --- |",
        f"| One STOW-RS of {args.instances} CT instances ({stow_gb:.1f} GB, streamed)"
        f" | {spread([item.seconds for item in stow], 1)} | {spread(stow_rss)} | < {RSS_TARGET_MB} MB"
        f" | {verdict(stow_rss)} |",
        f"| One instance of {size_gb:.1f} GB stored (one streamed STOW-RS)"
        f" | {spread(column('store_s'), 1)} | {spread(column('store_rss'))} | < {RSS_TARGET_MB} MB"
        f" | {verdict(column('store_rss'))} |",
        f"| The same retrieved, checked byte for byte | {spread(column('retrieve_s'), 1)}"
        f" | {spread(column('retrieve_rss'))} | < {RSS_TARGET_MB} MB | {verdict(column('retrieve_rss'))} |",
        f"| One frame of it | {spread(column('frame_s'), 3)} | {spread(column('frame_rss'))}"
        f" | < {RSS_TARGET_MB} MB | {verdict(column('frame_rss'))} |",
        "",
        f"- STOW-RS rate: {spread([item.instances / item.seconds for item in stow])} instances/s, over"
        f" {statistics.median(item.processes for item in stow):.0f} processes.",
    ]
    report.write_section(RESULTS, "big", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
