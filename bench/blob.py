"""Blob-store benchmark: the emulator keeping its files in Azurite's blob service, against Azurite's own floors.

Run from the repository root once `make test` has installed `.venv` and Azurite:
``.venv/bin/python bench/blob.py [--instances 1000] [--rounds 3] [--frame-requests 300]``
(``--smoke`` runs a few seconds with tiny sizes, only to prove the script works). Everything listens
on free loopback ports: Azurite's blob service (in memory), the emulator started afresh for each
measurement (its own data dir and container, deleted after it, so that no round finds the blobs of
the rounds before in Azurite's memory), and PostgreSQL at ``--postgres-url`` for the workers'
figures. Each round, in alternating order, it times

- STOW of the CT instances (batches of 50, one client) to an emulator on SQLite whose blob store is
  Azurite, against the same files uploaded from memory by ``azure-storage-blob``'s asyncio client
  with as many uploads in flight as one STOW batch has (``UPLOADS_AT_ONCE``), each in one Put Blob and,
  in the spool-or-stage comparison, each as a staged block and a Put Block List; and against the same STOW into
  an emulator keeping its files in its data dir; the CPU seconds of the emulator's processes, Azurite and the
  client over each (from ``/proc``), and the ratio STOW to Blob could reach on this machine;
- STOW of the same instances from two clients to an emulator on PostgreSQL and Azurite with
  ``--workers 1`` and ``--workers 2``;
- one frame of a 100-frame instance (a different frame each request, one client, keep-alive), against
  azure-storage-blob's ranged GET of the same bytes: the floor of a frame read from Blob.

Results (medians, and the spread from the fastest to the slowest round) go to ``bench/BLOB-RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from azure.storage.blob import BlobBlock
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

import multipart_body  # noqa: E402
import servers  # noqa: E402
import testdata  # noqa: E402
import workloads  # noqa: E402

from azure_dicom_emulator.settings import DEFAULT_BLOB_API_VERSION  # noqa: E402
from azure_dicom_emulator.storage.azure_blob_client import container_from_connection_string  # noqa: E402
from azure_dicom_emulator.storage.azure_blobs import UPLOADS_AT_ONCE  # noqa: E402
from harness.azurite import Azurite, new_container  # noqa: E402
from harness.postgres import create_database, drop_database  # noqa: E402

WORK_DIR = BENCH_DIR / "work" / "blob"
DATA_DIR = BENCH_DIR / "work" / "data"
RESULTS_PATH = BENCH_DIR / "BLOB-RESULTS.md"
FRAMES = 100
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
EMULATOR, AZURITE, CLIENT = "the emulator's processes", "Azurite", "the client"
WARM_UP_INSTANCES, WARM_UP_TAG, WARM_UP_PAUSE_S = 10, testdata.PLACEHOLDER_TAG + 3_001, 2.0


@contextlib.contextmanager
def emulator(azurite: Azurite, workers: int = 1, database_url: str | None = None) -> Iterator[tuple]:
    """The emulator on a free port, a fresh data dir and a fresh container of ``azurite``; and the container."""
    container = new_container(azurite, f"bench-{uuid.uuid4().hex[:12]}")
    env = {
        **os.environ,
        "DICOM_EMULATOR_BLOB_URL": f"{azurite.endpoint}/{container.container_name}",
        "DICOM_EMULATOR_WORKERS": str(workers),
    }
    if database_url:
        env["DICOM_EMULATOR_DATABASE_URL"] = database_url
    try:
        with servers.ours_on_free_port(servers.new_start_dir(WORK_DIR / "ours"), env=env) as server:
            yield server, container
    finally:
        container.delete_container()  # Azurite keeps blobs in memory: each round starts from an empty service


def stow_rate(
    azurite: Azurite,
    items: list,
    clients: int,
    workers: int = 1,
    postgres: str | None = None,
    cpu: dict[str, float] | None = None,
) -> float:
    """Instances per second stored by STOW into an emulator whose blob store is Azurite; ``cpu`` (when given)
    gets the CPU seconds the emulator's processes, Azurite and this client spent on it."""
    database_url = create_database(postgres, "bench_blob") if postgres else None
    try:
        with emulator(azurite, workers, database_url) as (server, _):
            pids = {EMULATOR: server.process.pid, AZURITE: azurite.process.pid}
            return timed_stow(server, items, clients, pids, cpu)
    finally:
        if database_url:
            drop_database(postgres, database_url)


def embedded_stow_rate(items: list, cpu: dict[str, float]) -> float:
    """Instances per second stored by STOW, one client, into an emulator keeping its files in its data dir;
    ``cpu`` gets the CPU seconds its processes and this client spent: the DICOM work of a store alone."""
    with servers.ours_on_free_port(servers.new_start_dir(WORK_DIR / "ours")) as server:
        return timed_stow(server, items, 1, {EMULATOR: server.process.pid}, cpu)


def timed_stow(
    server: servers.Server, items: list, clients: int, pids: dict[str, int], cpu: dict[str, float] | None
) -> float:
    """Instances per second of ``workloads.stow_throughput`` once a few other instances are stored; into ``cpu``,
    the CPU seconds of each process tree of ``pids`` and of this process (CLIENT) over the timed part."""
    # The parsing workers start with the first upload: a few instances first, so that their start-up is not counted.
    workloads.stow_throughput(server, testdata.instances(DATA_DIR, WARM_UP_INSTANCES, WARM_UP_TAG), clients=1)
    time.sleep(WARM_UP_PAUSE_S)
    before: dict[str, float] = {}

    def start_counting() -> None:
        before.update({name: servers.cpu_seconds(pid) for name, pid in pids.items()})
        before[CLIENT] = time.process_time()

    rate = workloads.stow_throughput(server, items, clients=clients, before_clock=start_counting).per_second
    if cpu is not None:
        cpu.update({name: servers.cpu_seconds(pid) - before[name] for name, pid in pids.items()})
        cpu[CLIENT] = time.process_time() - before[CLIENT]
    return rate


def upload_loop_rate(
    azurite: Azurite, files: list[tuple[str, bytes]], cpu: dict[str, float], in_blocks: bool = False
) -> float:
    """Instances per second uploaded by azure-storage-blob's asyncio client, UPLOADS_AT_ONCE at a time, each in
    one Put Blob, or ``in_blocks`` as a staged block and a Put Block List (how a store could upload while the
    body arrives); ``cpu`` gets the CPU seconds Azurite and this process (CLIENT) spent on it."""
    plain = new_container(azurite, f"plain-{uuid.uuid4().hex[:12]}")
    name = plain.container_name

    async def upload_all() -> float:
        container = container_from_connection_string(
            azurite.connection_string, name, api_version=DEFAULT_BLOB_API_VERSION
        )
        in_flight = asyncio.Semaphore(UPLOADS_AT_ONCE)

        async def upload(blob_name: str, data: bytes) -> None:
            async with in_flight:
                if not in_blocks:
                    await container.upload_blob(blob_name, data, length=len(data), overwrite=True)
                    return
                blob, block_id = container.get_blob_client(blob_name), uuid.uuid4().hex
                await blob.stage_block(block_id, data, length=len(data))
                await blob.commit_block_list([BlobBlock(block_id)])

        async with container:
            azurite_before, client_before = servers.cpu_seconds(azurite.process.pid), time.process_time()
            started = time.perf_counter()
            async with asyncio.TaskGroup() as group:
                for blob_name, data in files:
                    group.create_task(upload(blob_name, data))
            elapsed = time.perf_counter() - started
            cpu[AZURITE] = servers.cpu_seconds(azurite.process.pid) - azurite_before
            cpu[CLIENT] = time.process_time() - client_before
            return len(files) / elapsed

    try:
        return asyncio.run(upload_all())
    finally:
        plain.delete_container()


def multiframe_instance(side: int) -> tuple[bytes, Dataset]:
    """A 100-frame 16-bit instance of ``side`` x ``side`` pixels, as a Part 10 file, and its data set."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality, ds.PatientID, ds.PatientName = "CT", "BENCH-FRAMES", "Bench^Frames"
    ds.Rows = ds.Columns = side
    ds.NumberOfFrames = FRAMES
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = (np.arange(side * side * FRAMES, dtype="<u2") % 4096).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), ds


def frame_latencies(server: servers.Server, ds: Dataset, requests: int) -> list[float]:
    """Seconds of each request for one frame of the instance, a different frame each time."""
    url = f"{server.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    samples = []
    with httpx.Client(timeout=60) as http:
        for number in range(requests):
            started = time.perf_counter()
            response = http.get(f"{url}/frames/{number % FRAMES + 1}", headers={"Accept": FRAME_ACCEPT})
            samples.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise workloads.WorkloadError(f"frame answered {response.status_code}: {response.text[:200]}")
    return samples


def ranged_get_latencies(azurite: Azurite, container: str, key: str, frame_bytes: int, requests: int) -> list[float]:
    """Seconds of each ranged GET of one frame's bytes of the stored blob, by azure-storage-blob's asyncio client."""

    async def measure() -> list[float]:
        client = container_from_connection_string(
            azurite.connection_string, container, api_version=DEFAULT_BLOB_API_VERSION
        )
        data_start = (await (await client.download_blob(key)).readall()).rfind(b"\xe0\x7f\x10\x00") + 12
        samples = []
        async with client:
            for number in range(requests):
                offset = data_start + (number % FRAMES) * frame_bytes
                started = time.perf_counter()
                await (await client.download_blob(key, offset=offset, length=frame_bytes)).readall()
                samples.append(time.perf_counter() - started)
        return samples

    return asyncio.run(measure())


def frame_round(azurite: Azurite, side: int, requests: int, first: str) -> tuple[float, float]:
    """p50 seconds of one frame from the emulator and of Azurite's ranged GET of the same bytes, ``first`` first."""
    data, ds = multiframe_instance(side)
    with emulator(azurite) as (server, container):
        body = multipart_body.build_body([data])
        connection = workloads.stow_connection(server)
        try:
            workloads.check_stow_response(workloads.post_stow(connection, server, body), 1)
        finally:
            connection.close()
        key = next(blob.name for blob in container.list_blobs())
        results = {}
        for kind in (first, "floor" if first == "emulator" else "emulator"):
            if kind == "emulator":
                results[kind] = statistics.median(frame_latencies(server, ds, requests))
            else:
                samples = ranged_get_latencies(azurite, container.container_name, key, side * side * 2, requests)
                results[kind] = statistics.median(samples)
    return results["emulator"], results["floor"]


def median_and_spread(samples: list[float], unit: str = "") -> str:
    return f"{statistics.median(samples):.1f}{unit} ({min(samples):.1f}-{max(samples):.1f})"


def run(args: argparse.Namespace) -> str:
    testdata.ensure_cache(DATA_DIR, args.instances)
    items = testdata.instances(DATA_DIR, args.instances, testdata.PLACEHOLDER_TAG + 3_000)
    files = [(f"{i.study_uid}/{i.series_uid}/{i.sop_uid}.dcm", i.read()) for i in items]
    stow, plain, blocks, embedded, one_worker, two_workers, frames, floors = [], [], [], [], [], [], [], []
    cpu: dict[str, list[dict[str, float]]] = {"stow": [], "plain": [], "blocks": [], "embedded": []}
    azurite = Azurite(WORK_DIR / "azurite", service="blob").start()
    try:
        for round_number in range(args.rounds):
            forward = round_number % 2 == 0
            kinds = ["stow", "plain", "blocks", "embedded"]
            for kind in kinds if forward else kinds[::-1]:
                cpu[kind].append({})
                if kind == "stow":
                    stow.append(stow_rate(azurite, items, clients=1, cpu=cpu[kind][-1]))
                elif kind in ("plain", "blocks"):
                    rates = plain if kind == "plain" else blocks
                    rates.append(upload_loop_rate(azurite, files, cpu[kind][-1], in_blocks=kind == "blocks"))
                else:
                    embedded.append(embedded_stow_rate(items, cpu[kind][-1]))
            if args.postgres_url:
                for workers in [1, 2] if forward else [2, 1]:
                    rate = stow_rate(azurite, items, clients=2, workers=workers, postgres=args.postgres_url)
                    (one_worker if workers == 1 else two_workers).append(rate)
            emulator_p50, floor_p50 = frame_round(
                azurite, args.frame_side, args.frame_requests, "emulator" if forward else "floor"
            )
            frames.append(emulator_p50 * 1000)
            floors.append(floor_p50 * 1000)
    finally:
        azurite.stop()
        servers.remove_start_dirs([WORK_DIR / "ours"])
    return report(args, items, stow, plain, blocks, embedded, one_worker, two_workers, frames, floors) + cpu_report(
        cpu, len(items)
    )


def report(args, items, stow, plain, blocks, embedded, one_worker, two_workers, frames, floors) -> str:
    size = sum(item.size for item in items) / len(items) / 1e6
    rows = [
        "| measure | median (fastest-slowest round) |",
        "| --- | --- |",
        f"| STOW to the Blob adapter, instances/s | {median_and_spread(stow)} |",
        f"| azure-storage-blob upload loop, {UPLOADS_AT_ONCE} in flight, instances/s | {median_and_spread(plain)} |",
        f"| STOW / upload loop | {statistics.median(stow) / statistics.median(plain):.2f} |",
        f"| the same loop, each blob a staged block and a Put Block List, instances/s | {median_and_spread(blocks)} |",
        f"| STOW, files in the data dir (no Blob), instances/s | {median_and_spread(embedded)} |",
    ]
    if one_worker:
        rows += [
            f"| STOW, PostgreSQL + Blob, `--workers 1`, 2 clients, instances/s | {median_and_spread(one_worker)} |",
            f"| STOW, PostgreSQL + Blob, `--workers 2`, 2 clients, instances/s | {median_and_spread(two_workers)} |",
        ]
    rows += [
        f"| one frame of a {FRAMES}-frame instance, p50 ms | {median_and_spread(frames)} |",
        f"| azure-storage-blob ranged GET of the same bytes, p50 ms | {median_and_spread(floors)} |",
        f"| frame / ranged GET | {statistics.median(frames) / statistics.median(floors):.2f} |",
    ]
    lines = [
        "# Blob-store benchmark",
        "",
        f"`bench/blob.py --instances {args.instances} --rounds {args.rounds} --frame-requests {args.frame_requests} "
        f"--frame-side {args.frame_side}`: {len(items)} CT instances ({size:.2f} MB each) in batches of 50; frames of "
        f"{args.frame_side}x{args.frame_side} 16-bit pixels. Azurite's blob service in memory, API version "
        f"{DEFAULT_BLOB_API_VERSION}; rounds alternate which measurement goes first; everything shares this "
        "machine's cores with Azurite.",
        "",
        *rows,
        "",
    ]
    return "\n".join(lines)


def cpu_report(cpu: dict[str, list[dict[str, float]]], instances: int) -> str:
    """CPU seconds per 1,000 instances by process, and the ratio they allow STOW to Blob on this machine."""

    def per_thousand(kind: str, name: str) -> float:
        return statistics.median(sample[name] for sample in cpu[kind]) * 1000 / instances

    def total(kind: str) -> float:
        return sum(per_thousand(kind, name) for name in cpu[kind][0])

    rows = [
        "| measurement | " + " | ".join((EMULATOR, AZURITE, CLIENT)) + " | all |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    labels = {
        "stow": "STOW to the Blob adapter",
        "plain": "upload loop",
        "blocks": "upload loop, staged blocks",
        "embedded": "STOW, files in the data dir",
    }
    for kind, label in labels.items():
        cells = [
            f"{per_thousand(kind, name):.2f}" if name in cpu[kind][0] else "" for name in (EMULATOR, AZURITE, CLIENT)
        ]
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {total(kind):.2f} |")
    bound = total("plain") / (total("plain") + total("embedded"))
    lines = [
        "",
        "CPU seconds per 1,000 instances (medians of the rounds), read from `/proc` over each timed part:",
        "",
        *rows,
        "",
        "A STOW to Blob does a store's DICOM work (receiving, spooling, parsing, validating, indexing: the STOW into",
        "the data dir) and uploads the same blobs as the loop. Were the Blob adapter to cost no more than the loop",
        f"itself, and the cores kept as busy as during the loop, STOW / upload loop would reach {bound:.2f}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="instances each STOW measurement stores")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measurement")
    parser.add_argument("--frame-requests", type=int, default=300, help="frame requests per round")
    parser.add_argument("--frame-side", type=int, default=512, help="rows and columns of each frame")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="for the workers' figures ('' to skip them)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds with tiny sizes, to prove the script works")
    args = parser.parse_args()
    if args.smoke:
        args.instances, args.rounds, args.frame_requests, args.frame_side = 50, 1, 20, 32
    text = run(args)
    RESULTS_PATH.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
