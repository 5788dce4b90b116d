"""Workitems (UPS-RS) benchmark: search latency with many workitems stored, and create latency.

Run from the repository root once the project is installed in `.venv`:
``.venv/bin/python bench/workitems.py [--workitems 100000] [--requests 200] [--postgres-url URL]``.
For each database (SQLite, and PostgreSQL at ``--postgres-url``, default the test server at
127.0.0.1:5432, in a fresh database dropped afterwards) the workitems are loaded in-process
through the emulator's own storage function (``storage.workitems.add_workitem``, with the DICOM
JSON and matching keys of ``dicom.ups_dataset`` and ``dicom.ups_search_keys``), a thousand per
transaction; then the real server answers the timed requests over HTTP: searches by PatientID (a
hundred workitems per patient) and by ProcedureStepState (a tenth IN PROGRESS), and creates.
Figures go to ``bench/WORKITEMS-RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

import servers  # noqa: E402

from azure_dicom_emulator.dicom.ups_dataset import dataset_json, prepare_new, with_state  # noqa: E402
from azure_dicom_emulator.dicom.ups_search_keys import search_values  # noqa: E402
from azure_dicom_emulator.dicom.ups_states import ProcedureStepState  # noqa: E402
from azure_dicom_emulator.storage import workitems as queries  # noqa: E402
from azure_dicom_emulator.storage.database import Database  # noqa: E402
from harness.loopback import free_port  # noqa: E402
from harness.postgres import create_database, drop_database  # noqa: E402
from harness.workitems import HEADERS, body, workitem  # noqa: E402

WORK_DIR = BENCH_DIR / "work" / "workitems"
RESULTS_PATH = BENCH_DIR / "WORKITEMS-RESULTS.md"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PER_PATIENT = 100
BATCH = 1000
WARMUP = 10
DEFAULT_PARTITION_KEY = 1


def templates(patients: int) -> list[tuple[str, dict, list]]:
    """(DICOM JSON, top-level matching keys, sequence keys) of one workitem per patient, and of it IN PROGRESS."""
    now = datetime.now(UTC)
    made = []
    for number in range(patients):
        ds = workitem(PatientID=f"BENCH{number:06d}", PatientName=f"Patient^Number{number}")
        prepare_new(ds, "1.2.3", now)
        for state in (ProcedureStepState.SCHEDULED, ProcedureStepState.IN_PROGRESS):
            stated = with_state(ds, state, now)
            values = search_values(stated)
            columns = {name: value for name, value in vars(values).items() if name != "sequence_values"}
            made.append((dataset_json(stated), columns, values.sequence_values))
    return made


async def load(database_url: str, count: int) -> None:
    """Stores ``count`` workitems directly through the storage functions (migrating the database first)."""
    db = Database(database_url)
    await db.migrate()
    made = templates(max(1, count // PER_PATIENT))
    now = datetime.now(UTC)
    try:
        for start in range(0, count, BATCH):
            async with db.write() as conn:
                for number in range(start, min(count, start + BATCH)):
                    in_progress = number % 10 == 0
                    text, columns, sequence_values = made[(number % (len(made) // 2)) * 2 + in_progress]
                    state = ProcedureStepState.IN_PROGRESS if in_progress else ProcedureStepState.SCHEDULED
                    uid = f"2.25.{uuid.uuid4().int}"
                    await queries.add_workitem(
                        conn, DEFAULT_PARTITION_KEY, uid, state.value, text, now, columns, sequence_values
                    )
    finally:
        await db.dispose()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed(client: httpx.Client, requests: list[tuple[str, str, bytes | None]]) -> list[float]:
    """Each request's seconds, after a warm-up; every answer must be a success."""
    for method, url, content in requests[:WARMUP]:
        client.request(method, url, content=content, headers=HEADERS)
    samples = []
    for method, url, content in requests[WARMUP:]:
        started = time.perf_counter()
        response = client.request(method, url, content=content, headers=HEADERS)
        samples.append(time.perf_counter() - started)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:200]}")
    return samples


def measure(name: str, database_url: str | None, count: int, requests: int) -> dict:
    """Loads ``count`` workitems into a fresh store, starts the server on it and times the requests."""
    data_dir = WORK_DIR / name
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    url = database_url or f"sqlite:///{data_dir / 'index.db'}"
    started = time.perf_counter()
    asyncio.run(load(url, count))
    load_s = time.perf_counter() - started
    port = free_port()
    command = [str(servers.OURS_EXECUTABLE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--database-url", url]
    log_path = data_dir / "server.log"
    process = servers.launch(command, log_path)
    base = f"http://127.0.0.1:{port}/v2"
    try:
        servers.wait_until_ready(process, base, log_path)
        patients = max(1, count // PER_PATIENT)
        total = requests + WARMUP
        with httpx.Client(timeout=60) as client:
            searches = [f"{base}/workitems?PatientID=BENCH{random.randrange(patients):06d}" for _ in range(total)]
            by_patient = timed(client, [("GET", search, None) for search in searches])
            by_state = timed(
                client, [("GET", f"{base}/workitems?ProcedureStepState=IN%20PROGRESS&limit=100", None)] * total
            )
            new = [("POST", f"{base}/workitems?2.25.{uuid.uuid4().int}", body(workitem())) for _ in range(total)]
            creates = timed(client, new)
    finally:
        servers.stop(process)
    return {
        "database": name,
        "workitems": count,
        "load_s": load_s,
        "patient_id_p95_ms": percentile(by_patient, 0.95) * 1000,
        "state_p95_ms": percentile(by_state, 0.95) * 1000,
        "create_p50_ms": statistics.median(creates) * 1000,
    }


def write_results(results: list[dict], requests: int) -> None:
    lines = [
        "# Workitems (UPS-RS)",
        "",
        f"`bench/workitems.py`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs; "
        f"{requests} timed requests of each kind after {WARMUP} warm-up requests, one client.",
        "",
        "| database | workitems | load (s) | search by PatientID p95 (ms) | search by ProcedureStepState p95 (ms) "
        "| create p50 (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['database']} | {r['workitems']:,} | {r['load_s']:.1f} | {r['patient_id_p95_ms']:.1f} "
            f"| {r['state_p95_ms']:.1f} | {r['create_p50_ms']:.1f} |"
        )
    RESULTS_PATH.write_text("\n".join(lines) + "\n")
    print(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workitems", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results = [measure("SQLite", None, args.workitems, args.requests)]
    if not args.skip_postgres:
        url = create_database(args.postgres_url, "bench_workitems")
        try:
            results.append(measure("PostgreSQL", url, args.workitems, args.requests))
        finally:
            drop_database(args.postgres_url, url)
    write_results(results, args.requests)


if __name__ == "__main__":
    main()
