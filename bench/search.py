"""Search (QIDO-RS) benchmark: latency of typical study searches, at scale and beside Orthanc.

Two parts, both writing the section "Search (QIDO-RS)" of bench/RESULTS.md:

* ``python bench/search.py --scale`` (no root needed): the emulator alone with 10,000 and 100,000
  instances (50 per study) indexed, on SQLite and on PostgreSQL (``--postgres-url``, default the
  test server at 127.0.0.1:5432). The index is loaded in-process through the emulator's own STOW
  code (``features.store.service.store``: the same spooling, inspection, validation, files and rows as a
  STOW-RS request, without the HTTP framing), then the real server answers the timed searches.
  Sizes above ``--store-up-to`` (PostgreSQL only) store a seed of ``--seed-instances`` so, then copy it with
  ``harness/bulk_index.py`` (bench/million.py); ``--explain`` writes the PostgreSQL plans of the four
  targeted searches, ``--stow-sizes`` times STOW-RS on an index of that size against an empty one. A
  million instances:
  ``python bench/search.py --scale --databases PostgreSQL --sizes 10000 100000 1000000 --explain
  --stow-sizes 1000000 --reuse``
* ``python bench/search.py --orthanc`` (as root, like run.py): the emulator (SQLite) and Orthanc in
  the loopback-only namespace, each loaded with the same 2,000 instances over STOW-RS, then timed
  on the same searches.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import multiprocessing
import os
import random
import re
import shutil
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import namespace

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

import million  # noqa: E402

from harness.postgres import create_database  # noqa: E402

WORK_DIR = BENCH_DIR / "work" / "search"
RESULTS_PATH = BENCH_DIR / "RESULTS.md"
PROJECT_PYTHON = REPO / ".venv" / "bin" / "python"
EXECUTABLE = REPO / ".venv" / "bin" / "azure-dicom-emulator"
INSTANCES_PER_STUDY = 50
REQUESTS = 200
WARMUP = 10
SECTION_START = "<!-- search-results -->"
SECTION_END = "<!-- /search-results -->"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
LOADED_MARKER = "loaded"


# ---------------------------------------------------------------- data


def instance_bytes(run: int, study: int, index: int) -> bytes:
    """A CT header of about 100 elements (bench/testdata.py) with 16x16 pixels, under UIDs of ``run``."""
    import io

    import numpy as np
    import testdata

    ds = testdata.ct_header(study, index)
    ds.Rows = ds.Columns = 16
    ds.PixelData = np.zeros((16, 16), dtype="<i2").tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue().replace(testdata.tag_bytes(testdata.PLACEHOLDER_TAG), testdata.tag_bytes(run))


def study_uid(run: int, study: int) -> str:
    """The StudyInstanceUID of ``study`` under ``run``."""
    import testdata

    return testdata.make_uid(run, "study", study)


def study_date(study: int) -> str:
    """The StudyDate testdata gives ``study``."""
    return (datetime.date(2024, 1, 1) + datetime.timedelta(days=study)).strftime("%Y%m%d")


# ---------------------------------------------------------------- queries


@dataclass(frozen=True)
class Query:
    """A timed search: a label and the path (after the DICOMweb root) of its n-th request."""

    label: str
    path: Callable[[int], str]


def queries(run: int, studies: int, rng: random.Random, orthanc: bool = False, factor: int = 1) -> list[Query]:
    """The searches timed on a server holding ``studies`` studies of run ``run``: ``studies // factor`` stored and
    ``factor - 1`` bulk-loaded copies of each (harness/bulk_index.py), which share its patient, names and dates."""

    def pick() -> int:
        return rng.randrange(studies // factor)

    def any_study() -> str:
        from harness.bulk_index import derived_uid

        uid, number = study_uid(run, pick()), rng.randrange(factor)
        return derived_uid(uid, number) if number else uid

    def fuzzy(n: int) -> str:
        prefix = f"patient{pick() + 1:03d}"[: rng.randrange(8, 11)]
        # Orthanc has no fuzzy matching. Its wildcards match the whole value (``Bench^Patient012``), so
        # the prefix of the name's second word needs one in front as well: ``*patient01*``.
        return f"studies?PatientName=*{prefix}*" if orthanc else f"studies?PatientName={prefix}&fuzzymatching=true"

    def date_range(n: int) -> str:
        first = pick()
        return f"studies?StudyDate={study_date(first)}-{study_date(first + 30)}&limit=100"

    return [
        Query("study by PatientID", lambda n: f"studies?PatientID=PAT{pick() + 1:06d}"),
        Query("study by PatientName prefix (fuzzy)", fuzzy),
        Query("study by StudyDate range, limit 100", date_range),
        Query("series of a study", lambda n: f"studies/{any_study()}/series"),
        Query("studies?limit=50", lambda n: "studies?limit=50"),
        Query(
            "OHIF study list",
            lambda n: (
                "studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060%2C00080090%2C00100030"
            ),
        ),
    ]


@dataclass
class Timing:
    """Latency percentiles of one query, in milliseconds, and the number of results of each timed request."""

    p50: float
    p95: float
    counts: list[int]

    def results(self) -> str:
        """The range of the result counts, as ``1`` or ``10-40``."""
        low, high = min(self.counts), max(self.counts)
        return f"{low}" if low == high else f"{low}-{high}"


def time_queries(base_url: str, timed: list[Query], requests: int = REQUESTS) -> dict[str, Timing]:
    """Sequential requests of each query on one persistent connection; every answer must be 200 or 204 (none).

    The client is ``wire``, whose cost per request is far below either server's: a viewer's HTTP stack
    is native code, while Python's http.client would add about as much CPU as a small search takes.
    """
    import json
    from urllib.parse import urlsplit

    from wire import WireConnection

    address = urlsplit(base_url)
    headers = {"Accept": "application/dicom+json", "Accept-Encoding": "identity"}
    results = {}
    with WireConnection(address.hostname, address.port) as connection:
        for query in timed:
            samples = []
            counts = []
            for n in range(WARMUP + requests):
                path = f"{address.path}/{query.path(n)}"
                started = time.perf_counter()
                answer = connection.get(path, headers)
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status not in (200, 204):
                    raise RuntimeError(f"{path} answered {answer.status}: {answer.content()[:300]!r}")
                if n >= WARMUP:
                    samples.append(elapsed)
                    counts.append(len(json.loads(answer.content())) if answer.status == 200 else 0)
            cuts = statistics.quantiles(samples, n=100, method="inclusive")
            results[query.label] = Timing(cuts[49], cuts[94], counts)
    return results


# ---------------------------------------------------------------- loading


async def load_in_process(data_dir: Path, database_url: str | None, run: int, studies: int) -> float:
    """Stores ``studies`` studies through the emulator's STOW code; returns the seconds it took."""
    from azure_dicom_emulator.features.scope import Scope
    from azure_dicom_emulator.features.store import service as store
    from azure_dicom_emulator.settings import Settings
    from azure_dicom_emulator.wiring import build_services

    # Generating the files costs as much as storing them: a process of its own makes them meanwhile.
    generator = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    settings = Settings(data_dir=data_dir, database_url=database_url)
    services = build_services(settings)
    await services.db.migrate()
    scope = Scope(2, "v2", 1, "Microsoft.Default", False, "http://127.0.0.1")
    started = time.perf_counter()

    async def one_study(study: int) -> None:
        files = await asyncio.get_running_loop().run_in_executor(generator, study_files, run, study)

        async def parts() -> AsyncIterator[AsyncIterator[bytes]]:
            for data in files:
                yield _single(data)

        outcome = await store.store(services, scope, parts(), None, upsert=False)
        if outcome.status != 200:
            raise RuntimeError(f"study {study} was not stored: {outcome.status}")

    try:
        pending: set[asyncio.Task] = set()
        for study in range(studies):
            pending.add(asyncio.create_task(one_study(study)))
            if len(pending) >= 3:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            if study % 200 == 199:
                log(f"  stored {study + 1} studies")
        await asyncio.gather(*pending)
    finally:
        await services.close()
        generator.shutdown()
    return time.perf_counter() - started


def study_files(run: int, study: int) -> list[bytes]:
    """The files of one study of ``run``."""
    return [instance_bytes(run, study, index) for index in range(INSTANCES_PER_STUDY)]


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


def load_over_stow(base_url: str, run: int, studies: int) -> None:
    """Stores ``studies`` studies with one STOW-RS request each."""
    import httpx
    import multipart_body

    with httpx.Client(timeout=300) as client:
        for study in range(studies):
            body = multipart_body.build_body(instance_bytes(run, study, i) for i in range(INSTANCES_PER_STUDY))
            response = client.post(
                f"{base_url}/studies",
                content=body,
                headers={"Content-Type": multipart_body.STOW_CONTENT_TYPE, "Accept": "application/dicom+json"},
            )
            if response.status_code != 200:
                raise RuntimeError(f"STOW answered {response.status_code}: {response.text[:300]}")


# ---------------------------------------------------------------- runs


def log(message: str) -> None:
    """A progress line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Emulator:
    """The emulator served from a data directory (and database) on a port."""

    def __init__(self, data_dir: Path, database_url: str | None, port: int = 8080) -> None:
        self.command = [str(EXECUTABLE), "serve", "--port", str(port), "--data-dir", str(data_dir)]
        if database_url:
            self.command += ["--database-url", database_url]
        self.base_url = f"http://127.0.0.1:{port}/v2"
        self.log_path = data_dir.parent / f"server-{port}.log"

    def __enter__(self) -> Emulator:
        import servers

        self.process = servers.launch(self.command, self.log_path)
        servers.wait_until_ready(self.process, self.base_url, self.log_path)
        return self

    def __exit__(self, *exc_info: object) -> None:
        import servers

        servers.stop(self.process)


def scale_run(args: argparse.Namespace) -> tuple[list[str], list[str], list[str], list[str]]:
    """The emulator alone at each size, on SQLite and PostgreSQL: the search table's lines, its notes on bulk
    loads, the STOW-RS table's lines and its notes."""
    lines, load_notes, stow_lines, stow_notes = [], [], [], []
    for size in args.sizes:
        studies = size // INSTANCES_PER_STUDY
        bulk = size > args.store_up_to
        factor = size // args.seed_instances if bulk else 1
        if bulk and factor * args.seed_instances != size:
            raise SystemExit(f"{size} is not a multiple of --seed-instances {args.seed_instances}")
        for database in ("SQLite", "PostgreSQL"):
            if database not in args.databases or (bulk and database == "SQLite"):
                continue
            work = WORK_DIR / f"{database.lower()}-{size}"
            seed_work = WORK_DIR / f"postgresql-{args.seed_instances}"
            seed_url, seed_kept = _loaded_index(seed_work) if bulk else (None, False)
            # A bulk-loaded size copies the seed's UIDs: those of the seed's own size when that index is kept.
            run = 200000 + (args.seed_instances if seed_kept else size) // 1000
            url, loaded = _loaded_index(work) if args.reuse else (None, False)
            if not loaded:
                shutil.rmtree(work, ignore_errors=True)
                stored = size // factor
                if seed_kept:
                    log(f"{database}, {size} instances: copying the kept {stored}-instance index")
                    started = time.perf_counter()
                    url = million.clone_index(seed_work, work, seed_url, args.postgres_url)
                    seconds = time.perf_counter() - started
                else:
                    (work / "data").mkdir(parents=True)
                    url = create_database(args.postgres_url, "bench_search") if database == "PostgreSQL" else None
                    log(f"{database}, {size} instances: storing {stored}")
                    seconds = asyncio.run(load_in_process(work / "data", url, run, stored // INSTANCES_PER_STUDY))
                log(f"{database}, {size} instances: {stored} in place in {seconds:.0f} s")
                if bulk:
                    how = million.bulk_load(work / "data", url, seconds, seed_kept, stored, factor)
                    load_notes.append(how.note(size))
                    log(load_notes[-1])
                (work / LOADED_MARKER).write_text(url or "")
            if args.load_only:
                continue
            log(f"{database}, {size} instances: timing searches")
            timed = queries(run, studies, random.Random(size), factor=factor)
            with Emulator(work / "data", url) as server:
                timings = time_queries(server.base_url, timed)
            for label, timing in timings.items():
                lines.append(
                    f"| {label} | {database} | {size:,} | {timing.results()} | {timing.p50:.1f} | {timing.p95:.1f} |"
                )
            if database == "PostgreSQL" and args.explain:
                plans = WORK_DIR / f"plans-{size}.md"
                paths = [query.path(0) for query in timed[:4]]
                slowest = million.explain(work / "data", url, paths, plans)
                log(f"query plans in {plans}; slowest statement {slowest:.1f} ms")
            if database == "PostgreSQL" and size in args.stow_sizes:
                log(f"PostgreSQL, {size} instances: STOW-RS against an empty index")
                ratio = million.stow_ratio(
                    lambda data, url: Emulator(data, url), work / "data", url, _empty_index(args), args.stow_rounds
                )
                shutil.rmtree(WORK_DIR / "empty", ignore_errors=True)
                stow_lines.append(ratio.line(size))
                stow_notes.append(ratio.note(size))
            if not args.reuse:
                shutil.rmtree(work, ignore_errors=True)
    return lines, load_notes, stow_lines, stow_notes


def _empty_index(args: argparse.Namespace) -> Callable[[], tuple[Path, str]]:
    """A maker of fresh empty PostgreSQL indexes under WORK_DIR: their data directory and database URL."""
    count = iter(range(1_000_000))

    def make() -> tuple[Path, str]:
        data = WORK_DIR / "empty" / f"round-{next(count)}" / "data"
        shutil.rmtree(data.parent, ignore_errors=True)
        data.mkdir(parents=True)
        return data, create_database(args.postgres_url, "bench_empty")

    return make


def _loaded_index(work: Path) -> tuple[str | None, bool]:
    """The database URL of an index an earlier run loaded into ``work`` (None for SQLite), and whether it did."""
    marker = work / LOADED_MARKER
    if not marker.exists():
        return None, False
    return marker.read_text() or None, True


def orthanc_run(args: argparse.Namespace) -> list[str]:
    """Ours (SQLite) and Orthanc with the same 2,000 instances: the table lines."""
    import servers

    studies = args.orthanc_instances // INSTANCES_PER_STUDY
    run = 300001
    timings = {}
    server_dirs = [WORK_DIR / "ours", WORK_DIR / "orthanc"]
    try:
        for name in ("ours", "orthanc"):
            with servers.running(name, WORK_DIR) as server:
                log(f"{name}: storing {args.orthanc_instances} instances over STOW-RS")
                load_over_stow(server.base_url, run, studies)
                log(f"{name}: timing searches")
                timings[name] = time_queries(
                    server.base_url, queries(run, studies, random.Random(7), orthanc=name == "orthanc")
                )
    finally:
        servers.remove_start_dirs(server_dirs)
    lines = []
    for label, ours in timings["ours"].items():
        theirs = timings["orthanc"][label]
        if ours.counts != theirs.counts:
            n, mine, other = next(
                (n, a, b) for n, (a, b) in enumerate(zip(ours.counts, theirs.counts, strict=True)) if a != b
            )
            raise RuntimeError(f"{label}: request {n} returned {mine} results from ours, {other} from Orthanc")
        ratio = ours.p50 / theirs.p50
        verdict = "met" if ratio <= 0.5 else "NOT met"
        lines.append(
            f"| {label} | {ours.results()} | {ours.p50:.1f} | {ours.p95:.1f} | {theirs.p50:.1f} | {theirs.p95:.1f} "
            f"| {ratio:.2f}x | {verdict} |"
        )
    return lines


def write_section(title: str, header: list[str], lines: list[str], notes: list[str]) -> None:
    """Replaces (or adds) one table of the search section of RESULTS.md."""
    text = RESULTS_PATH.read_text() if RESULTS_PATH.exists() else ""
    if SECTION_START not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION_START}\n## Search (QIDO-RS)\n\nWritten by `bench/search.py`."
        text += f" See its docstring for how to run it.\n{SECTION_END}\n"
    before, rest = text.split(SECTION_START, 1)
    section, after = rest.split(SECTION_END, 1)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            f"### {title}",
            "",
            f"Measured {now}, load average {os.getloadavg()[0]:.2f}.",
            "",
            *header,
            *lines,
            "",
            *notes,
            "",
        ]
    )
    pattern = re.compile(rf"### {re.escape(title)}\n.*?(?=\n### |\Z)", re.S)
    section = (
        pattern.sub(lambda _: block, section) if pattern.search(section) else section.rstrip("\n") + "\n\n" + block
    )
    RESULTS_PATH.write_text(before + SECTION_START + section.rstrip("\n") + "\n" + SECTION_END + after)


def main(argv: list[str]) -> int:
    """Runs the part asked for (re-running itself in the namespace for ``--orthanc``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="store_true", help="the emulator alone at 10,000 to 1,000,000 instances")
    parser.add_argument("--orthanc", action="store_true", help="beside Orthanc at 2,000 instances (as root)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--orthanc-instances", type=int, default=2_000)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--databases", nargs="+", default=["SQLite", "PostgreSQL"], choices=["SQLite", "PostgreSQL"])
    parser.add_argument(
        "--reuse", action="store_true", help="keep each loaded index under bench/work/search and time it again later"
    )
    parser.add_argument("--load-only", action="store_true", help="load (or keep) the indexes without timing them")
    parser.add_argument(
        "--store-up-to", type=int, default=100_000, help="bigger sizes: a seed stored, then bulk-copied (PostgreSQL)"
    )
    parser.add_argument("--seed-instances", type=int, default=100_000, help="the seed of a bulk-loaded size")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the four targeted searches")
    parser.add_argument(
        "--stow-sizes", type=int, nargs="*", default=[], help="sizes to time STOW-RS on, against an empty index"
    )
    parser.add_argument("--stow-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.orthanc and not namespace.inside():
        if os.geteuid() != 0:
            sys.exit("--orthanc needs root, to create a network namespace")
        import run

        run.ensure_orthanc()
        return namespace.run_inside([str(PROJECT_PYTHON), str(Path(__file__).resolve()), *argv])
    stow_lines: list[str] = []
    if args.scale:
        lines, load_notes, stow_lines, stow_notes = scale_run(args)
    if args.scale and not args.load_only:
        bulk = max(args.sizes) > args.store_up_to
        write_section(
            "Up to a million instances (p95 target: 20 ms)" if bulk else "The emulator at scale (p95 target: 20 ms)",
            [
                "| Search | Database | Instances | Results | p50 (ms) | p95 (ms) |",
                "| --- | --- | ---: | ---: | ---: | ---: |",
            ],
            lines,
            [
                f"- {REQUESTS} sequential requests per search after {WARMUP} warm-up ones, each with another "
                "patient, name prefix, date window or study; one persistent connection (`wire`, a lean HTTP/1.1 "
                "client); the server on the same 2 CPUs as the client. Results: the range of the number of "
                "matches over the requests.",
                "- The index is loaded in-process through the emulator's own STOW code "
                "(`features.store.service.store`: spooling, inspection in the worker pool, validation, files and "
                "rows exactly as for a STOW-RS request), 50 instances per study (CT headers of about 100 elements, "
                "16x16 pixels).",
                *(
                    [
                        f"- Above {args.store_up_to:,} instances, {args.seed_instances:,} are stored so and copied by "
                        "`harness/bulk_index.py` (the rows STOW-RS writes for copies with derived UIDs, each file a "
                        "hard link to its seed's); a copy shares its seed's patient, names and dates, so a search "
                        "matches each of its studies once per copy."
                    ]
                    if bulk
                    else []
                ),
                *load_notes,
            ],
        )
    if stow_lines:
        write_section(
            "STOW-RS on a big index (target: within 20% of an empty index)",
            [
                "| Instances indexed | Big index (instances/s) | Empty index (instances/s) | Ratio | Target |",
                "| ---: | ---: | ---: | ---: | --- |",
            ],
            stow_lines,
            [
                f"- `bench/workloads.stow_throughput`: {million.STOW_INSTANCES:,} CT instances of 0.5 MB in "
                "batches of 50, 1 client, new UIDs every round; the big index and a fresh empty PostgreSQL index "
                f"take turns, {args.stow_rounds} rounds each; medians.",
                *stow_notes,
            ],
        )
    if args.orthanc:
        lines = orthanc_run(args)
        write_section(
            "Beside Orthanc (target: ours at most half of Orthanc's p50)",
            [
                "| Search | Results | Ours p50 (ms) | Ours p95 (ms) | Orthanc p50 (ms) | Orthanc p95 (ms) "
                "| Ours / Orthanc (p50) | Target |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            ],
            lines,
            [
                f"- {args.orthanc_instances} instances (50 per study) stored over STOW-RS into each server "
                "(the emulator on SQLite); "
                f"{REQUESTS} sequential requests per search after {WARMUP} warm-up ones, on one persistent "
                "connection (`wire`, a lean HTTP/1.1 client).",
                "- Both servers are asked for the same studies, and every request's number of results is compared "
                "between them (Results: the range over the requests). Orthanc has no fuzzy matching and its wildcards "
                "match the whole name (`Bench^Patient012`), so its name search is `*patient01*`.",
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
