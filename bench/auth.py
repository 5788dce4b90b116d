"""Auth benchmark: QIDO-RS and instance-retrieval latency with authentication on and off, side by side.

Run from the repository root once `make test` has installed `.venv`:
``.venv/bin/python bench/auth.py [--instances 500] [--requests 300] [--rounds 3]``. Two emulators run
at once on free loopback ports and fresh data directories: one as configured by default, one with
``DICOM_EMULATOR_AUTH_ENABLED=true`` and its built-in issuer, whose client sends an owner token
with every request. Both store the same instances. Each round then measures, on each server in turn
(the order alternating, as the machine is noisy), sequential study searches
(``studies?StudyInstanceUID=``) and sequential single-instance retrievals (``transfer-syntax=*``); the
table gives the median round's p50 and p95. Results go to ``bench/AUTH-RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

import multipart_body  # noqa: E402
import servers  # noqa: E402
import testdata  # noqa: E402
import workloads  # noqa: E402

WORK_DIR = BENCH_DIR / "work" / "auth"
DATA_DIR = BENCH_DIR / "work" / "data"
RESULTS_PATH = BENCH_DIR / "AUTH-RESULTS.md"
RUN_TAG = testdata.PLACEHOLDER_TAG + 2_000
KINDS = ("auth off", "auth on")


@contextlib.contextmanager
def emulator(kind: str) -> Iterator[tuple[servers.Server, dict[str, str]]]:
    """The emulator on a free port and a fresh data directory, and the headers its client sends."""
    env = {**os.environ, "DICOM_EMULATOR_AUTH_ENABLED": "true" if kind == "auth on" else "false"}
    with servers.ours_on_free_port(servers.new_start_dir(WORK_DIR / kind.replace(" ", "-")), kind, env=env) as server:
        headers = {}
        if kind == "auth on":
            answer = httpx.post(
                server.base_url.removesuffix("/v2") + "/emulator/auth/token",
                json={"role": "owner", "expires_in": 86400},
            )
            answer.raise_for_status()
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        yield server, headers


def store(server: servers.Server, headers: dict[str, str], items: list[testdata.Instance]) -> None:
    """Stores ``items`` in batches of 50, failing unless each batch is stored whole."""
    connection = workloads.stow_connection(server)
    try:
        for batch in workloads.batches(items):
            body = multipart_body.build_body(instance.read() for instance in batch)
            workloads.check_stow_response(workloads.post_stow(connection, server, body, headers), len(batch))
    finally:
        connection.close()


def search_latency(server: servers.Server, headers: dict[str, str], studies: list[str], requests: int) -> tuple:
    """p50 and p95 (ms) of sequential study searches by UID, each checked to find its study."""
    samples = []
    with httpx.Client(headers={"Accept-Encoding": "identity", **headers}, timeout=60) as client:
        for number, study in enumerate(workloads.spread(studies, workloads.WARMUP_REQUESTS + requests)):
            elapsed_ms, response = workloads.timed_get(
                client, f"{server.base_url}/studies?StudyInstanceUID={study}", "application/dicom+json"
            )
            if len(response.json()) != 1:
                raise workloads.WorkloadError(f"the search for {study} found {len(response.json())} studies")
            if number >= workloads.WARMUP_REQUESTS:
                samples.append(elapsed_ms)
    return workloads.percentiles(samples)


def retrieval_latency(server: servers.Server, headers: dict[str, str], items: list, requests: int) -> tuple:
    """p50 and p95 (ms) of sequential single-instance retrievals; the first ones checked byte for byte."""
    samples = []
    with httpx.Client(headers={"Accept-Encoding": "identity", **headers}, timeout=60) as client:
        for number, instance in enumerate(workloads.spread(items, workloads.WARMUP_REQUESTS + requests)):
            url = workloads.instance_url(server, instance)
            elapsed_ms, response = workloads.timed_get(client, url, server.instance_accept)
            if number < workloads.VERIFY_SAMPLE:
                workloads.verify_instance(response, instance)
            if number >= workloads.WARMUP_REQUESTS:
                samples.append(elapsed_ms)
    return workloads.percentiles(samples)


def run(args: argparse.Namespace) -> str:
    testdata.ensure_cache(DATA_DIR, args.instances)
    items = testdata.instances(DATA_DIR, args.instances, RUN_TAG)
    studies = sorted({instance.study_uid for instance in items})
    servers.remove_start_dirs([WORK_DIR / kind.replace(" ", "-") for kind in KINDS])
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with emulator("auth off") as off, emulator("auth on") as on:
        running = {"auth off": off, "auth on": on}
        for server, headers in running.values():
            store(server, headers, items)
        for round_number in range(args.rounds):
            order = KINDS if round_number % 2 == 0 else KINDS[::-1]
            for kind in order:
                server, headers = running[kind]
                search = search_latency(server, headers, studies, args.requests)
                retrieval = retrieval_latency(server, headers, items, args.requests)
                figures.setdefault(("search", kind), []).append(search)
                figures.setdefault(("retrieval", kind), []).append(retrieval)
                print(
                    f"round {round_number + 1}, {kind}: search p50 {search[0]:.2f} ms, "
                    f"retrieval p50 {retrieval[0]:.2f} ms",
                    flush=True,
                )
    servers.remove_start_dirs([WORK_DIR / kind.replace(" ", "-") for kind in KINDS])
    return report(args, figures)


def report(args: argparse.Namespace, figures: dict[tuple[str, str], list[tuple[float, float]]]) -> str:
    """The results page: the median round's p50 and p95 per measure and configuration, then each round's."""

    def median_round(rounds: list[tuple[float, float]]) -> tuple[float, float]:
        p50 = statistics.median_low(p50 for p50, _ in rounds)
        return next(pair for pair in rounds if pair[0] == p50)

    lines = [
        "# Authentication: latency with auth on and off",
        "",
        f"Measured by `bench/auth.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {args.instances} "
        f"instances, {args.requests} sequential requests per measure and round, {args.rounds} rounds alternating "
        "the order of the two servers. Auth on: the built-in issuer, an owner token on every request.",
        "",
        "| measure | auth off p50 (ms) | auth on p50 (ms) | auth on / off | auth off p95 (ms) | auth on p95 (ms) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for measure, title in (("search", "QIDO-RS study search by UID"), ("retrieval", "instance retrieval")):
        off, on = median_round(figures[(measure, "auth off")]), median_round(figures[(measure, "auth on")])
        lines.append(f"| {title} | {off[0]:.2f} | {on[0]:.2f} | {on[0] / off[0]:.2f} | {off[1]:.2f} | {on[1]:.2f} |")
    lines += ["", "Each round's p50 (ms), in the order measured:", ""]
    for (measure, kind), rounds in sorted(figures.items()):
        lines.append(f"- {measure}, {kind}: " + ", ".join(f"{p50:.2f}" for p50, _ in rounds))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500, help="instances stored in each server (multiple of 50)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per measure and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both configurations")
    args = parser.parse_args()
    text = run(args)
    RESULTS_PATH.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
