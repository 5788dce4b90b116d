"""Events benchmark: STOW-RS throughput with a webhook and a storage-queue sink against none, and event latency.

Run from the repository root once `make test` has installed `.venv` and Azurite:
``.venv/bin/python bench/events.py [--instances 1000] [--rounds 3]``. Everything listens on
free loopback ports: the emulator, Azurite's queue service and a webhook receiver. Each round
stores the same number of fresh instances on a fresh server without sinks and on one with both
sinks (in alternating order, as the machine is noisy), then waits for every event. Latency is
the time from an event's commit (its ``eventTime``, taken in the committing transaction) to its
arrival: at the receiver for the webhook, when a reader polling the queue takes it for the
queue. Results go to ``bench/EVENTS-RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

import servers  # noqa: E402
import testdata  # noqa: E402
import workloads  # noqa: E402

from tests.events import Azurite, QueueReader, Receiver, free_port  # noqa: E402

WORK_DIR = BENCH_DIR / "work" / "events"
DATA_DIR = BENCH_DIR / "work" / "data"
RESULTS_PATH = BENCH_DIR / "EVENTS-RESULTS.md"
DELIVERY_TIMEOUT_S = 300.0


@contextlib.contextmanager
def emulator(name: str, events: list[dict]) -> Iterator[servers.Server]:
    """The emulator on a free port and a fresh data directory, with ``events`` as its sinks."""
    server_dir = servers.fresh_dir(WORK_DIR / name)
    port = free_port()
    command = [
        str(servers.OURS_EXECUTABLE), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(server_dir / "data"),
    ]  # fmt: skip
    events_file = server_dir / "events.json"
    events_file.write_text(json.dumps(events))
    command += ["--events-file", str(events_file)]
    log_path = server_dir / "server.log"
    process = servers.launch(command, log_path)
    try:
        base_url = f"http://127.0.0.1:{port}/v2"
        servers.wait_until_ready(process, base_url, log_path)
        yield servers.Server(name, base_url, servers.INSTANCE_ACCEPT["ours"], "", process)
    finally:
        servers.stop(process)


def latencies(events: list[dict], arrivals: list[float]) -> list[float]:
    """Milliseconds from each event's commit to its arrival."""
    return [
        (arrived - datetime.fromisoformat(event["eventTime"]).timestamp()) * 1000.0
        for event, arrived in zip(events, arrivals, strict=True)
    ]


def listen(connection_string: str, queue_name: str, webhook_port: int, expected: int, results) -> None:  # noqa: ANN001
    """In a process of its own (so its work does not slow the STOW client): the webhook receiver and a
    reader polling the queue, until both have ``expected`` events; sends back their latencies."""
    receiver = Receiver()
    receiver.port = webhook_port
    receiver.start()
    reader = QueueReader(connection_string, queue_name, keep=True)
    results.put("ready")
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    try:
        while len(reader.events) < expected or len(receiver.received()) < expected:
            if time.monotonic() > deadline:
                results.put(RuntimeError(f"events missing after {DELIVERY_TIMEOUT_S:.0f} s"))
                return
            before = len(reader.events)
            reader.drain()
            if len(reader.events) == before:
                time.sleep(0.01)
        with receiver.lock:
            webhook = latencies(receiver.events, receiver.arrivals)
        results.put((webhook, latencies(reader.events, reader.arrivals)))
    finally:
        receiver.stop()


def run(args: argparse.Namespace) -> str:
    testdata.ensure_cache(DATA_DIR, args.instances)
    tags = itertools.count(testdata.PLACEHOLDER_TAG + 1_000)
    azurite = Azurite(WORK_DIR / "azurite").start()
    context = multiprocessing.get_context("fork")
    plain_rates: list[float] = []
    sink_rates: list[float] = []
    webhook_ms: list[float] = []
    queue_ms: list[float] = []
    try:
        for round_number in range(args.rounds):
            order = ["plain", "sinks"] if round_number % 2 == 0 else ["sinks", "plain"]
            for kind in order:
                items = testdata.instances(DATA_DIR, args.instances, next(tags))
                if kind == "plain":
                    with emulator("plain", []) as server:
                        rate = workloads.stow_throughput(server, items, clients=1).per_second
                    plain_rates.append(rate)
                    print(f"round {round_number + 1}: no sinks: {rate:.1f} instances/s", flush=True)
                    continue
                queue_name = f"bench-{uuid.uuid4().hex[:12]}"
                webhook_port = free_port()
                sinks = [
                    {"type": "webhook", "url": f"http://127.0.0.1:{webhook_port}/hook"},
                    {"type": "azure-storage-queue", "connection_string": azurite.connection_string,
                     "queue_name": queue_name},
                ]  # fmt: skip
                results = context.Queue()
                listener = context.Process(
                    target=listen,
                    args=(azurite.connection_string, queue_name, webhook_port, args.instances, results),
                )
                listener.start()
                try:
                    if results.get(timeout=60) != "ready":
                        raise RuntimeError("the listener did not start")
                    with emulator("sinks", sinks) as server:
                        rate = workloads.stow_throughput(server, items, clients=1).per_second
                        outcome = results.get(timeout=DELIVERY_TIMEOUT_S + 60)
                finally:
                    listener.join(30)
                    if listener.is_alive():
                        listener.kill()
                if isinstance(outcome, Exception):
                    raise outcome
                sink_rates.append(rate)
                webhook_ms += outcome[0]
                queue_ms += outcome[1]
                print(f"round {round_number + 1}: webhook + queue: {rate:.1f} instances/s", flush=True)
    finally:
        azurite.stop()
    return report(args, plain_rates, sink_rates, webhook_ms, queue_ms)


def percentile(samples: list[float], cut: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[cut - 1]


def report(args, plain: list[float], sinks: list[float], webhook_ms: list[float], queue_ms: list[float]) -> str:  # noqa: ANN001
    plain_median, sinks_median = statistics.median(plain), statistics.median(sinks)
    ratio = sinks_median / plain_median
    rows = [
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| STOW-RS without sinks (median of {len(plain)}) | {plain_median:.1f} instances/s | |",
        f"| STOW-RS with webhook + queue sinks (median of {len(sinks)}) | {sinks_median:.1f} instances/s | |",
        f"| with sinks / without | {ratio:.1%} | >= 90% |",
        f"| webhook event latency p50 / p95 | {percentile(webhook_ms, 50):.0f} / {percentile(webhook_ms, 95):.0f} ms"
        " | p95 <= 1000 ms |",
        f"| queue event latency p50 / p95 | {percentile(queue_ms, 50):.0f} / {percentile(queue_ms, 95):.0f} ms"
        " | p95 <= 1000 ms |",
    ]
    lines = [
        "# Events benchmark",
        "",
        f"`bench/events.py --instances {args.instances} --rounds {args.rounds}`: STOW-RS of {args.instances} "
        f"instances ({workloads.BATCH_SIZE} per request, 1 client) on a fresh SQLite server, per round once "
        "without sinks and once with a webhook and an azure-storage-queue sink (Azurite); latency from each "
        "event's commit to its arrival, over every event of every round.",
        "",
        *rows,
        "",
        f"Rounds without sinks: {', '.join(f'{rate:.1f}' for rate in plain)} instances/s; "
        f"with sinks: {', '.join(f'{rate:.1f}' for rate in sinks)} instances/s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="instances per STOW phase (multiple of 50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both configurations")
    args = parser.parse_args()
    text = run(args)
    RESULTS_PATH.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
