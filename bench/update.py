"""Bulk update benchmark: updating one large study against storing the same instances, with the server's memory.

Run from the repository root once the project is installed in `.venv`:
``.venv/bin/python bench/update.py [--instances 1000] [--rounds 3]``. Each round starts the emulator
on a fresh data directory and a free loopback port, stores one study of ``--instances`` CT slices
(0.5 MB each, bench/testdata.py's, 50 per STOW-RS request, 1 client; bodies built before the clock
starts) and then updates that study's patient name with ``$bulkUpdate``, timed from the POST until
the operation reads ``succeeded``. Every updated file is checked afterwards for the new name and its
pixels. The peak resident set (VmHWM) of each of the server's processes is reset when the STOW-RS phase
ends (``/proc/<pid>/clear_refs``) and sampled during the update. Results go to ``bench/UPDATE-RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
from pydicom.filebase import DicomBytesIO

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

import servers  # noqa: E402
import testdata  # noqa: E402
import workloads  # noqa: E402

WORK_DIR = BENCH_DIR / "work" / "update"
DATA_DIR = WORK_DIR / "data"
RESULTS_PATH = BENCH_DIR / "UPDATE-RESULTS.md"
UPDATE_TIMEOUT_S = 1800.0
NEW_NAME = "Updated^Bench^Patient"


@dataclass
class Round:
    """One round's figures."""

    stow_per_second: float
    update_seconds: float
    update_per_second: float
    peak_rss_bytes: int
    server_peak_rss_bytes: int
    processes: int


def one_study(count: int, tag: int) -> list[testdata.Instance]:
    """``count`` cached CT slices of a single study and series, under run tag ``tag``."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    study_uid = testdata.make_uid(tag, "study", 0)
    series_uid = testdata.make_uid(tag, "series", 0)
    items = []
    for index in range(count):
        path = DATA_DIR / f"instance{index + 1:05d}.dcm"
        if not path.exists():
            dataset = testdata.ct_header(0, index)
            dataset.PixelData = testdata.ct_pixels(0, index % testdata.INSTANCES_PER_STUDY).tobytes()
            dataset.save_as(path, enforce_file_format=True)
        sop_uid = testdata.make_uid(tag, "instance", 0, index)
        items.append(testdata.Instance(path, tag, study_uid, series_uid, sop_uid, path.stat().st_size))
    return items


@contextlib.contextmanager
def emulator() -> Iterator[servers.Server]:
    """The emulator on a free port and a fresh data directory."""
    with servers.ours_on_free_port(servers.new_start_dir(WORK_DIR / "ours")) as server:
        yield server


def reset_peak_rss(pid: int) -> None:
    """Resets the VmHWM of ``pid`` and its descendants to their current resident sets."""
    for member in servers.process_tree(pid):
        with contextlib.suppress(OSError):
            Path(f"/proc/{member}/clear_refs").write_text("5")


def timed_update(server: servers.Server, study_uid: str) -> float:
    """Seconds from the ``$bulkUpdate`` POST until its operation has succeeded."""
    body = {
        "studyInstanceUids": [study_uid],
        "changeDataset": {"00100010": {"vr": "PN", "Value": [{"Alphabetic": NEW_NAME}]}},
    }
    with httpx.Client(timeout=60) as http:
        started = time.perf_counter()
        reference = http.post(server.base_url + "/studies/$bulkUpdate", json=body)
        if reference.status_code != 202:
            raise workloads.WorkloadError(f"$bulkUpdate answered {reference.status_code}: {reference.text}")
        deadline = time.monotonic() + UPDATE_TIMEOUT_S
        while True:
            answer = http.get(reference.json()["href"])
            if answer.status_code == 200:
                break
            if time.monotonic() > deadline:
                raise workloads.WorkloadError("the update did not end in time")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    if answer.json()["status"] != "succeeded":
        raise workloads.WorkloadError(f"the update ended {answer.json()}")
    return elapsed


def verify(server: servers.Server, items: list[testdata.Instance]) -> None:
    """Every instance has the new name and its pixels as sent."""
    with httpx.Client(timeout=60) as http:
        for item in items:
            response = http.get(workloads.instance_url(server, item), headers={"Accept": server.instance_accept})
            ds = pydicom.dcmread(DicomBytesIO(response.content))
            sent = pydicom.dcmread(DicomBytesIO(item.read()))
            if str(ds.PatientName) != NEW_NAME or ds.PixelData != sent.PixelData:
                raise workloads.WorkloadError(f"instance {item.sop_uid} was not updated as asked")


def run(args: argparse.Namespace) -> list[Round]:
    rounds = []
    servers.remove_start_dirs([WORK_DIR / "ours"])
    try:
        for number in range(args.rounds):
            items = one_study(args.instances, testdata.PLACEHOLDER_TAG + 2_000 + number)
            with emulator() as server:
                stored = workloads.stow_throughput(server, items, clients=1)
                reset_peak_rss(server.process.pid)
                with workloads.RssWatch(server.process.pid) as watch:
                    seconds = timed_update(server, items[0].study_uid)
                verify(server, items)
            figures = Round(
                stow_per_second=stored.per_second,
                update_seconds=seconds,
                update_per_second=len(items) / seconds,
                peak_rss_bytes=sum(watch.peaks.values()),
                server_peak_rss_bytes=watch.peaks.get(server.process.pid, 0),
                processes=len(watch.peaks),
            )
            rounds.append(figures)
            print(
                f"round {number + 1}: STOW {figures.stow_per_second:.1f}/s, update {figures.update_per_second:.1f}/s, "
                f"peak RSS {figures.peak_rss_bytes / 2**20:.0f} MB",
                flush=True,
            )
    finally:
        servers.remove_start_dirs([WORK_DIR / "ours"])
    return rounds


def report(args: argparse.Namespace, rounds: list[Round]) -> str:
    def median(name: str) -> float:
        return statistics.median(getattr(figures, name) for figures in rounds)

    ratio = median("update_per_second") / median("stow_per_second")
    return "\n".join(
        [
            "# Bulk update benchmark",
            "",
            f"`bench/update.py --instances {args.instances} --rounds {args.rounds}`: one study of {args.instances} "
            "CT slices of 0.5 MB stored over STOW-RS (50 per request, 1 client) on a fresh SQLite server, then "
            "its patient name changed with `$bulkUpdate`, timed from the POST until the operation succeeded; "
            "medians of the rounds.",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| STOW-RS of the study | {median('stow_per_second'):.1f} instances/s |",
            f"| bulk update of the study | {median('update_per_second'):.1f} instances/s "
            f"({median('update_seconds'):.1f} s) |",
            f"| update / STOW-RS | {ratio:.1%} |",
            f"| peak RSS during the update, all {rounds[0].processes} server processes (VmHWM) | "
            f"{median('peak_rss_bytes') / 2**20:.0f} MB |",
            f"| of which the main server process | {median('server_peak_rss_bytes') / 2**20:.0f} MB |",
            "",
            "Rounds (STOW-RS / update, instances/s): "
            + ", ".join(f"{r.stow_per_second:.1f} / {r.update_per_second:.1f}" for r in rounds),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="instances in the study")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on a fresh server")
    args = parser.parse_args()
    text = report(args, run(args))
    RESULTS_PATH.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
