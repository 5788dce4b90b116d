"""The benchmark proper, run inside the network namespace with the project's interpreter."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import big_series
import httpx
import numpy as np
import report
import servers
import testdata
import viewer
import workloads

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / "work"
DATA_DIR = WORK_DIR / "data"
RESULTS_PATH = BENCH_DIR / "RESULTS.md"
LARGE_INSTANCES = 2000
STARTED = time.monotonic()


def log(message: str) -> None:
    """Print a progress line with the time since the start."""
    print(f"[{time.monotonic() - STARTED:7.1f} s] {message}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Measure the selected servers, print the table and write RESULTS.md; 1 if any step failed."""
    signal.signal(signal.SIGTERM, interrupt)
    server_dirs = [WORK_DIR / name for name in ("ours", "orthanc")]
    servers.remove_start_dirs(server_dirs)  # a run that was interrupted leaves its own
    try:
        return measure_all(args)
    finally:
        servers.remove_start_dirs(server_dirs)


def measure_all(args: argparse.Namespace) -> int:
    """The rounds of every selected server, then the large request; writes RESULTS.md."""
    load_at_start = os.getloadavg()[0]
    log(f"making sure {args.instances} test instances are cached in {DATA_DIR}")
    testdata.ensure_cache(DATA_DIR, args.instances)
    tags = itertools.count(testdata.PLACEHOLDER_TAG + 1)
    names = ["ours", "orthanc"] if args.only == "both" else [args.only]
    rounds: dict[str, list[report.Figures]] = {name: [] for name in names}
    for number in range(args.rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            log(f"round {number + 1} of {args.rounds}")
            rounds[name].append(measure(name, args, tags))
    results = {name: report.median_round(figures) for name, figures in rounds.items()}
    if "ours" in results and not args.skip_large:
        measure_large(args, tags, results["ours"])
    text = report.render(results, workload_settings(args), load_at_start) + report.kept_sections(RESULTS_PATH)
    RESULTS_PATH.write_text(text)
    print("\n" + report.table(results) + "\n", flush=True)
    log(f"wrote {RESULTS_PATH}")
    return 1 if any(figures.errors for figures in results.values()) else 0


def interrupt(signum: int, frame: object) -> None:
    """Turn SIGTERM into the same clean stop as Ctrl-C."""
    raise KeyboardInterrupt


def workload_settings(args: argparse.Namespace) -> dict[str, str]:
    """The parameters of this run, as listed in RESULTS.md."""
    return {
        "Instances": (
            f"{args.instances} generated CT slices, 512x512 16-bit signed MONOCHROME2, Explicit VR Little "
            f"Endian, about 106 header elements, {testdata.INSTANCES_PER_STUDY} per study, one series each"
        ),
        "STOW-RS": f"{workloads.BATCH_SIZE} instances per request, fresh UIDs for every phase; before the clock "
        "starts, the client touches and frees twice the phase's file bytes of memory (see bench/README.md)",
        "Retrieval": f"{args.retrievals} sequential requests with transfer-syntax=*, after "
        f"{workloads.WARMUP_REQUESTS} warm-up requests",
        "Study metadata": f"{args.metadata_requests} sequential requests for {testdata.INSTANCES_PER_STUDY}"
        f"-instance studies, after {workloads.WARMUP_REQUESTS} warm-up requests",
        "Frames": f"single frames (transfer-syntax=*) of one {viewer.FRAMES}-frame 512x512 16-bit instance, "
        f"{args.retrievals} sequential requests in random order; scrolling: frame 1 of {args.scroll_instances} "
        f"instances in order over {viewer.SCROLL_CLIENTS} connections",
        "Rendered": f"{args.retrievals} sequential image/jpeg renderings of 512x512 CT instances (default quality), "
        "through the viewer client and again through a plain httpx client",
        "Big series": f"one series of {big_series.INSTANCES} CT instances (about 100 header elements, 16x16 pixels) "
        f"stored {big_series.BATCH} per request; {big_series.REQUESTS} sequential requests for its metadata and for "
        f"a QIDO-RS page of {big_series.QIDO_PAGE} of its instances, after {big_series.WARMUP} warm-up requests",
        "Viewer client": "frames and rendered images are fetched with wire.py, a lean HTTP/1.1 client (about "
        "0.1 ms of CPU per 0.5 MB frame, against 0.8 ms for Python's http.client), one persistent connection per "
        "thread",
        "Peak RSS": "not measured"
        if args.skip_large or args.only == "orthanc"
        else f"VmHWM of a freshly started emulator after one streamed STOW-RS of {LARGE_INSTANCES} instances",
        "Client": "STOW-RS with Python's http.client (the prebuilt body handed to the socket in one call), retrieval "
        "and metadata with httpx; one persistent connection per client thread, Accept-Encoding: identity",
    }


def measure(name: str, args: argparse.Namespace, tags: Iterator[int]) -> report.Figures:
    """All figures for one server; a failing step is recorded and ends that server's measurements."""
    figures = report.Figures()
    with recorded_failure(name, figures):
        measure_main(name, args, tags, figures)
    return figures


@contextlib.contextmanager
def recorded_failure(name: str, figures: report.Figures) -> Iterator[None]:
    """Records a failing step in ``figures`` (ending that server's measurements) instead of raising it."""
    try:
        yield
    except (servers.ServerError, workloads.WorkloadError, httpx.HTTPError, OSError, ValueError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        log(f"{name}: FAILED: {message}")
        figures.errors.append(message)


def measure_main(name: str, args: argparse.Namespace, tags: Iterator[int], figures: report.Figures) -> None:
    """STOW-RS with 1 and 4 clients, then retrieval and metadata latency, on one fresh server."""
    log(f"{name}: starting")
    with servers.running(name, WORK_DIR) as server:
        figures.version = server.version
        first = testdata.instances(DATA_DIR, args.instances, next(tags))
        second = testdata.instances(DATA_DIR, args.instances, next(tags))
        figures.stow_1 = stow_phase(server, first, clients=1)
        figures.stow_4 = stow_phase(server, second, clients=4)
        log(f"{name}: {args.retrievals} instance retrievals")
        figures.retrieval = workloads.retrieval_latency(server, first, args.retrievals)
        log(f"{name}: {args.metadata_requests} study metadata requests")
        studies = first[:: testdata.INSTANCES_PER_STUDY]
        figures.metadata = workloads.metadata_latency(server, studies, args.metadata_requests)
        measure_viewer(server, args, first, next(tags), figures)
    log(f"{name}: stopped")


def measure_viewer(
    server: servers.Server, args: argparse.Namespace, stored: list[testdata.Instance], tag: int, figures: report.Figures
) -> None:
    """Single frames of a 100-frame instance, frames of a scrolled series, and rendered JPEGs."""
    log(f"{server.name}: storing a {viewer.FRAMES}-frame instance")
    item = viewer.multiframe(tag)
    viewer.store_multiframe(server, item)
    log(f"{server.name}: {args.retrievals} single-frame requests")
    figures.frame = viewer.frame_latency(server, item, args.retrievals)
    scrolled = stored[: args.scroll_instances]
    log(f"{server.name}: frame 1 of {len(scrolled)} instances, {viewer.SCROLL_CLIENTS} connections")
    figures.scroll = viewer.scroll_rate(server, scrolled)
    log(f"{server.name}: {figures.scroll.per_second:.0f} frames/s; {args.retrievals} rendered JPEGs")
    figures.rendered = viewer.rendered_latency(server, stored, args.retrievals)
    log(f"{server.name}: {args.retrievals} rendered JPEGs through httpx")
    figures.rendered_httpx = viewer.rendered_latency(server, stored, args.retrievals, viewer.HttpxConnection)
    log(f"{server.name}: a series of {big_series.INSTANCES} instances")
    series = big_series.BigSeries(tag)
    big_series.store_series(server, series)
    figures.series_metadata = big_series.series_metadata_latency(server, series)
    figures.series_instances = big_series.series_instances_latency(server, series)


def stow_phase(server: servers.Server, items: list[testdata.Instance], clients: int) -> workloads.Throughput:
    """One timed STOW-RS phase, logged."""
    log(f"{server.name}: STOW-RS of {len(items)} instances with {clients} client(s)")
    throughput = workloads.stow_throughput(server, items, clients, before_clock=warm_free_memory(items))
    log(f"{server.name}: {throughput.per_second:.1f} instances/s")
    return throughput


def warm_free_memory(items: list[testdata.Instance]) -> Callable[[], None]:
    """Before the clock of a STOW-RS phase of ``items``: touches, then frees, twice as much memory as their files.

    On this virtual machine, memory left free for a few seconds goes back to the host (free page
    reporting), and the kernel's first write into such a page costs several times more CPU than into
    one freed moments ago: storing 0.5 MB instances, the emulator's writes into the page cache took
    1.1 to 1.4 ms of CPU per instance against 0.17 ms (measured with 1,000 instances, 4 clients). That
    cost falls on whichever server stores files, per byte, and shrinks the differences this benchmark is
    for. Memory touched and freed right before the clock is what both servers' new files then go into,
    as on a machine whose memory stays its own. The page cache itself is left as it is.
    """
    size = 2 * sum(item.size for item in items)

    def warm() -> None:
        block = np.ones(size, dtype=np.uint8)
        del block

    return warm


def measure_large(args: argparse.Namespace, tags: Iterator[int], figures: report.Figures) -> None:
    """Peak memory of a freshly started emulator while it stores one streamed 2,000-instance request."""
    items: list[testdata.Instance] = []
    while len(items) < LARGE_INSTANCES:
        count = min(args.instances, LARGE_INSTANCES - len(items))
        items.extend(testdata.instances(DATA_DIR, count, next(tags)))
    log(f"ours: one streamed STOW-RS of {len(items)} instances on a fresh server")
    with recorded_failure("ours", figures), servers.running("ours", WORK_DIR) as server:
        figures.large = workloads.large_stow(server, items)
        log(f"ours: peak RSS {figures.large.peak_rss_bytes / report.MEGABYTE:.0f} MB")
