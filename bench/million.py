"""The search benchmark's big PostgreSQL indexes: bulk loading, STOW-RS on a big index against an empty one, and
the query plans of the timed searches.

Used by ``search.py --scale`` for sizes above ``--store-up-to``: a seed of ``--seed-instances`` is stored
through the emulator's STOW code, then ``harness.bulk_index.multiply`` copies it up to the size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
STOW_DATA_DIR = BENCH_DIR / "work" / "data"
STOW_INSTANCES = 1000
STOW_FIRST_TAG = 400001


@dataclass(frozen=True)
class BulkLoaded:
    """How one index was loaded: the seed through STOW, then the copies with the bulk loader (seconds)."""

    seed_instances: int
    factor: int
    seed_seconds: float
    seed_cloned: bool
    rows_seconds: float
    links_seconds: float
    vacuum_seconds: float

    def note(self, size: int) -> str:
        """A line for the results' notes."""
        total = self.seed_seconds + self.rows_seconds + self.links_seconds + self.vacuum_seconds
        how = "the kept index of that size, cloned" if self.seed_cloned else "stored through the STOW code"
        return (
            f"- {size:,} instances on PostgreSQL: {self.seed_instances:,} ({how}) in "
            f"{self.seed_seconds:.0f} s, then copied {self.factor - 1} times by `harness/bulk_index.py` (rows "
            f"{self.rows_seconds:.0f} s, file links {self.links_seconds:.0f} s, VACUUM ANALYZE "
            f"{self.vacuum_seconds:.0f} s): {total:.0f} s in all."
        )


def bulk_load(
    data_dir: Path, url: str, seed_seconds: float, seed_cloned: bool, seed_instances: int, factor: int
) -> BulkLoaded:
    """Multiplies the seed in ``data_dir`` and ``url`` by ``factor``."""
    from azure_dicom_emulator.settings import Settings
    from harness.bulk_index import multiply

    loaded = asyncio.run(multiply(Settings(data_dir=data_dir, database_url=url), factor))
    return BulkLoaded(
        seed_instances,
        factor,
        seed_seconds,
        seed_cloned,
        loaded.rows_seconds,
        loaded.links_seconds,
        loaded.vacuum_seconds,
    )


def clone_index(source: Path, target: Path, source_url: str, admin_url: str) -> str:
    """A copy of the index loaded in ``source`` (its ``data`` folder, files hard-linked, and its database) in
    ``target``; returns the copy's database URL."""
    import subprocess

    from harness.postgres import create_database

    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(source / "data"), str(target / "data")], check=True)
    return create_database(admin_url, "bench_search", template_url=source_url)


# ---------------------------------------------------------------- STOW-RS on a big index


@dataclass(frozen=True)
class StowRatio:
    """Instances per second of each round on the big index and on an empty one."""

    loaded: list[float]
    empty: list[float]

    @property
    def ratio(self) -> float:
        """The big index's median rate over the empty index's."""
        return statistics.median(self.loaded) / statistics.median(self.empty)

    def line(self, size: int) -> str:
        """A table line: size, medians, ratio and whether it is within 20%."""
        verdict = "met" if self.ratio >= 0.8 else "NOT met"
        return (
            f"| {size:,} | {statistics.median(self.loaded):.0f} | {statistics.median(self.empty):.0f} "
            f"| {self.ratio:.2f}x | {verdict} |"
        )

    def note(self, size: int) -> str:
        """The rounds, for the notes."""
        rounds = ", ".join(f"{a:.0f} / {b:.0f}" for a, b in zip(self.loaded, self.empty, strict=True))
        return f"- {size:,}: rounds (big index / empty index, instances/s): {rounds}."


def stow_ratio(
    serve: Callable[[Path, str], contextlib.AbstractContextManager],
    data_dir: Path,
    url: str,
    empty_index: Callable[[], tuple[Path, str]],
    rounds: int,
) -> StowRatio:
    """STOW-RS of STOW_INSTANCES CT instances (1 client) on the index in ``data_dir``/``url`` and on a fresh empty
    index (``empty_index()``: its data directory and database), taking turns; new UIDs every round.

    ``serve(data_dir, url)`` runs the real server on an index and yields its ``Emulator``.
    """
    import servers
    import suite
    import testdata
    import workloads

    testdata.ensure_cache(STOW_DATA_DIR, STOW_INSTANCES)
    tags = iter(range(STOW_FIRST_TAG, testdata.LAST_TAG))
    rates: dict[str, list[float]] = {"loaded": [], "empty": []}
    for number in range(rounds):
        for kind in ("loaded", "empty") if number % 2 == 0 else ("empty", "loaded"):
            where = (data_dir, url) if kind == "loaded" else empty_index()
            items = testdata.instances(STOW_DATA_DIR, STOW_INSTANCES, next(tags))
            with serve(*where) as emulator:
                server = servers.Server("ours", emulator.base_url, "", "", emulator.process)
                throughput = workloads.stow_throughput(server, items, 1, before_clock=suite.warm_free_memory(items))
            rates[kind].append(throughput.per_second)
            print(f"[{time.strftime('%H:%M:%S')}]   STOW-RS on the {kind} index: {throughput.per_second:.0f}/s")
    return StowRatio(rates["loaded"], rates["empty"])


# ---------------------------------------------------------------- query plans


def explain(data_dir: Path, url: str, paths: list[str], out: Path) -> float:
    """Runs each search path once on the app in-process, EXPLAIN ANALYZEs every statement it ran, writes the
    plans to ``out``; returns the slowest statement's execution time (ms)."""
    return asyncio.run(_explain(data_dir, url, paths, out))


async def _explain(data_dir: Path, url: str, paths: list[str], out: Path) -> float:
    import asyncpg
    import httpx
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from azure_dicom_emulator.app import create_app
    from azure_dicom_emulator.settings import Settings

    app = create_app(Settings(data_dir=data_dir, database_url=url))
    captured: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, tuple(parameters or ())))

    report: list[str] = []
    slowest = 0.0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
            plain = await asyncpg.connect(url.replace("+asyncpg", ""))
            try:
                for path in paths:
                    await client.get(f"/v2/{path}", headers={"Accept": "application/dicom+json"})
                    event.listen(Engine, "before_cursor_execute", capture)
                    try:
                        captured.clear()
                        response = await client.get(f"/v2/{path}", headers={"Accept": "application/dicom+json"})
                    finally:
                        event.remove(Engine, "before_cursor_execute", capture)
                    report.append(f"## GET {path}: {response.status_code}, {_count(response)} results\n")
                    for statement, parameters in captured:
                        rows = await plain.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *parameters)
                        plan = "\n".join(row[0] for row in rows)
                        slowest = max(slowest, _execution_ms(plan))
                        report.append(f"```sql\n{statement}\n-- {parameters}\n```\n```\n{plan}\n```\n")
            finally:
                await plain.close()
    out.write_text("\n".join(report))
    return slowest


def _count(response) -> int:
    return len(json.loads(response.content)) if response.status_code == 200 else 0


def _execution_ms(plan: str) -> float:
    for line in plan.splitlines():
        if line.strip().startswith("Execution Time:"):
            return float(line.split(":")[1].split()[0])
    return 0.0
