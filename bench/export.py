"""Export benchmark: the emulator exporting CT instances to Azurite, against a plain azure-storage-blob upload loop.

Run from the repository root once `make test` has installed `.venv` and Azurite:
``.venv/bin/python bench/export.py [--instances 1000] [--rounds 3]``. Everything listens on free
loopback ports: the emulator (SQLite, a fresh data directory) and Azurite's blob service. The
instances are stored once; then each round, in alternating order, times

- the emulator's export of the whole partition (``source`` left out), from the POST to the
  operation's 200, and
- the same files (already in memory) uploaded by ``azure-storage-blob``'s asyncio client with the
  same number of uploads in flight and the same pinned API version: the floor any export can reach.

Results go to ``bench/EXPORT-RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

import servers  # noqa: E402
import testdata  # noqa: E402
import workloads  # noqa: E402

from azure_dicom_emulator.features.export.operation import UPLOADS_IN_FLIGHT  # noqa: E402
from azure_dicom_emulator.settings import DEFAULT_BLOB_API_VERSION  # noqa: E402
from azure_dicom_emulator.storage.azure_blob_client import container_from_connection_string  # noqa: E402
from harness.azurite import Azurite, new_container  # noqa: E402

WORK_DIR = BENCH_DIR / "work" / "export"
DATA_DIR = BENCH_DIR / "work" / "data"
RESULTS_PATH = BENCH_DIR / "EXPORT-RESULTS.md"
EXPORT_TIMEOUT_S = 900.0


@contextlib.contextmanager
def emulator() -> Iterator[servers.Server]:
    """The emulator on a free port and a fresh data directory."""
    with servers.ours_on_free_port(servers.new_start_dir(WORK_DIR / "ours")) as server:
        yield server


def export_seconds(server: servers.Server, azurite: Azurite, expected: int) -> float:
    """Seconds from the export's POST to its operation's end; checks that every instance was exported."""
    container = new_container(azurite, f"export-{uuid.uuid4().hex[:12]}")
    settings = {"connectionString": azurite.connection_string, "blobContainerName": container.container_name}
    with httpx.Client(timeout=60) as http:
        started = time.perf_counter()
        response = http.post(
            f"{server.base_url}/export", json={"destination": {"type": "azureblob", "settings": settings}}
        )
        if response.status_code != 202:
            raise workloads.WorkloadError(f"export answered {response.status_code}: {response.text}")
        href = response.json()["href"]
        deadline = time.monotonic() + EXPORT_TIMEOUT_S
        while (status := http.get(href)).status_code == 202:
            if time.monotonic() > deadline:
                raise workloads.WorkloadError("the export did not finish")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    copies = sum(1 for _ in container.list_blobs(name_starts_with=f"{response.json()['id']}/results/"))
    if status.json()["status"] != "succeeded" or copies != expected:
        raise workloads.WorkloadError(f"the export ended {status.json()['status']} with {copies} of {expected} copies")
    return elapsed


def upload_loop_seconds(azurite: Azurite, files: list[tuple[str, bytes]]) -> float:
    """Seconds for azure-storage-blob's asyncio client to upload ``files``, UPLOADS_IN_FLIGHT at a time."""
    name = new_container(azurite, f"plain-{uuid.uuid4().hex[:12]}").container_name

    async def upload_all() -> float:
        container = container_from_connection_string(
            azurite.connection_string, name, api_version=DEFAULT_BLOB_API_VERSION
        )
        in_flight = asyncio.Semaphore(UPLOADS_IN_FLIGHT)

        async def upload(blob_name: str, data: bytes) -> None:
            async with in_flight:
                await container.upload_blob(blob_name, data, length=len(data), overwrite=True)

        async with container:
            started = time.perf_counter()
            async with asyncio.TaskGroup() as group:
                for blob_name, data in files:
                    group.create_task(upload(blob_name, data))
            return time.perf_counter() - started

    return asyncio.run(upload_all())


def run(args: argparse.Namespace) -> str:
    testdata.ensure_cache(DATA_DIR, args.instances)
    items = testdata.instances(DATA_DIR, args.instances, testdata.PLACEHOLDER_TAG + 2_000)
    files = [(f"results/{i.study_uid}/{i.series_uid}/{i.sop_uid}.dcm", i.read()) for i in items]
    exports: list[float] = []
    uploads: list[float] = []
    azurite = Azurite(WORK_DIR / "azurite", service="blob").start()
    try:
        with emulator() as server:
            workloads.stow_throughput(server, items, clients=1)
            for round_number in range(args.rounds):
                order = ["export", "upload"] if round_number % 2 == 0 else ["upload", "export"]
                for kind in order:
                    if kind == "export":
                        exports.append(export_seconds(server, azurite, len(items)))
                    else:
                        uploads.append(upload_loop_seconds(azurite, files))
    finally:
        azurite.stop()
        servers.remove_start_dirs([WORK_DIR / "ours"])
    return report(args, exports, uploads, sum(len(data) for _, data in files))


def report(args: argparse.Namespace, exports: list[float], uploads: list[float], total_bytes: int) -> str:
    export_median, upload_median = statistics.median(exports), statistics.median(uploads)
    count = args.instances
    rows = [
        "| measure | seconds (median) | instances/s | MB/s |",
        "| --- | --- | --- | --- |",
        f"| emulator export, POST to 200 | {export_median:.2f} | {count / export_median:.0f} | "
        f"{total_bytes / 1e6 / export_median:.0f} |",
        f"| azure-storage-blob upload loop | {upload_median:.2f} | {count / upload_median:.0f} | "
        f"{total_bytes / 1e6 / upload_median:.0f} |",
        f"| export / upload loop | {export_median / upload_median:.2f}x | | |",
    ]
    lines = [
        "# Export benchmark",
        "",
        f"`bench/export.py --instances {count} --rounds {args.rounds}`: {count} CT instances "
        f"({total_bytes / count / 1e6:.2f} MB each) exported from a SQLite emulator to Azurite's blob service "
        f"(in memory), against the same files uploaded from memory by azure-storage-blob's asyncio client; "
        f"{UPLOADS_IN_FLIGHT} uploads in flight in both, API version {DEFAULT_BLOB_API_VERSION}. Rounds alternate "
        "which one goes first; everything shares this machine's cores with Azurite.",
        "",
        *rows,
        "",
        f"Rounds, export: {', '.join(f'{s:.2f}' for s in exports)} s; "
        f"upload loop: {', '.join(f'{s:.2f}' for s in uploads)} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="instances to store and export")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both measurements")
    args = parser.parse_args()
    text = run(args)
    RESULTS_PATH.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
