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
import asyncio
import collections
import contextlib
import itertools
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from multiprocessing.queues import Queue
from pathlib import Path

from aiohttp import web

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

import servers  # noqa: E402
import testdata  # noqa: E402
import workloads  # noqa: E402

from harness.azurite import Azurite, QueueReader  # noqa: E402
from harness.loopback import free_port  # noqa: E402

WORK_DIR = BENCH_DIR / "work" / "events"
DATA_DIR = BENCH_DIR / "work" / "data"
RESULTS_PATH = BENCH_DIR / "EVENTS-RESULTS.md"
DELIVERY_TIMEOUT_S = 300.0
PLAIN = "emulator without sinks"
SINKS = "emulator with sinks"


@contextlib.contextmanager
def emulator(name: str, events: list[dict]) -> Iterator[servers.Server]:
    """The emulator on a free port and a fresh data directory, with ``events`` as its sinks."""
    server_dir = servers.new_start_dir(WORK_DIR / name)
    events_file = server_dir / "events.json"
    events_file.write_text(json.dumps(events))
    with servers.ours_on_free_port(server_dir, name, ["--events-file", str(events_file)]) as server:
        yield server


def latencies(events: list[dict], arrivals: list[float]) -> list[float]:
    """Milliseconds from each event's commit to its arrival."""
    return [
        (arrived - datetime.fromisoformat(event["eventTime"]).timestamp()) * 1000.0
        for event, arrived in zip(events, arrivals, strict=True)
    ]


def listen_webhook(port: int, expected: int, results: Queue) -> None:
    """A webhook endpoint (aiohttp, in a process of its own) that answers Event Grid's handshake and, once
    ``expected`` events arrived, sends back their latencies."""
    events: list[dict] = []
    arrivals: list[float] = []
    done = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        if request.headers.get("aeg-event-type") == "SubscriptionValidation":
            return web.json_response({"validationResponse": body[0]["data"]["validationCode"]})
        now = time.time()
        events.extend(body)
        arrivals.extend([now] * len(body))
        if len(events) >= expected:
            done.set()
        return web.Response()

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        results.put("ready")
        try:
            async with asyncio.timeout(DELIVERY_TIMEOUT_S):
                await done.wait()
            results.put(latencies(events, arrivals))
        except TimeoutError:
            results.put(RuntimeError(f"webhook events missing after {DELIVERY_TIMEOUT_S:.0f} s"))
        finally:
            await runner.cleanup()

    asyncio.run(serve())


def listen_queue(connection_string: str, queue_name: str, expected: int, results: Queue) -> None:
    """A reader polling the queue (in a process of its own); sends back the latencies of ``expected`` events."""
    reader = QueueReader(connection_string, queue_name, keep=True)
    results.put("ready")
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while len(reader.events) < expected:
        if time.monotonic() > deadline:
            results.put(RuntimeError(f"queue events missing after {DELIVERY_TIMEOUT_S:.0f} s"))
            return
        before = len(reader.events)
        reader.drain()
        if len(reader.events) == before:
            time.sleep(0.01)
    results.put(latencies(reader.events, reader.arrivals))


def run(args: argparse.Namespace) -> str:
    testdata.ensure_cache(DATA_DIR, args.instances)
    tags = itertools.count(testdata.PLACEHOLDER_TAG + 1_000)
    servers.remove_start_dirs([WORK_DIR / "plain", WORK_DIR / "sinks"])
    azurite = Azurite(WORK_DIR / "azurite").start()
    context = multiprocessing.get_context("fork")
    plain_rates: list[float] = []
    sink_rates: list[float] = []
    cpu: dict[str, list[float]] = collections.defaultdict(list)
    webhook_ms: list[float] = []
    queue_ms: list[float] = []
    try:
        for round_number in range(args.rounds):
            order = ["plain", "sinks"] if round_number % 2 == 0 else ["sinks", "plain"]
            for kind in order:
                items = testdata.instances(DATA_DIR, args.instances, next(tags))
                if kind == "plain":
                    with emulator("plain", []) as server:
                        before = servers.cpu_seconds(server.process.pid)
                        rate = workloads.stow_throughput(server, items, clients=1).per_second
                        cpu[PLAIN].append(servers.cpu_seconds(server.process.pid) - before)
                    plain_rates.append(rate)
                    print(f"round {round_number + 1}: no sinks: {rate:.1f} instances/s", flush=True)
                    continue
                queue_name = f"bench-{uuid.uuid4().hex[:12]}"
                webhook_port = free_port()
                sinks = [
                    {"type": "webhook", "url": f"http://127.0.0.1:{webhook_port}/hook",
                     "max_events_per_batch": args.webhook_batch},
                    {"type": "azure-storage-queue", "connection_string": azurite.connection_string,
                     "queue_name": queue_name},
                ]  # fmt: skip
                webhook_results, queue_results = context.Queue(), context.Queue()
                listeners = [
                    context.Process(target=listen_webhook, args=(webhook_port, args.instances, webhook_results)),
                    context.Process(
                        target=listen_queue,
                        args=(azurite.connection_string, queue_name, args.instances, queue_results),
                    ),
                ]
                for listener in listeners:
                    listener.start()
                try:
                    for results in (webhook_results, queue_results):
                        if results.get(timeout=60) != "ready":
                            raise RuntimeError("a listener did not start")
                    with emulator("sinks", sinks) as server:
                        pids = {
                            SINKS: [server.process.pid],
                            "Azurite": [azurite.process.pid],
                            "webhook receiver and queue reader": [listener.pid for listener in listeners],
                        }
                        before = {name: sum(map(servers.cpu_seconds, group)) for name, group in pids.items()}
                        rate = workloads.stow_throughput(server, items, clients=1).per_second
                        outcome = [
                            results.get(timeout=DELIVERY_TIMEOUT_S + 60) for results in (webhook_results, queue_results)
                        ]
                        for name, group in pids.items():
                            cpu[name].append(sum(map(servers.cpu_seconds, group)) - before[name])
                finally:
                    for listener in listeners:
                        listener.join(30)
                        if listener.is_alive():
                            listener.kill()
                failure = next((item for item in outcome if isinstance(item, Exception)), None)
                if failure is not None:
                    raise failure
                sink_rates.append(rate)
                webhook_ms += outcome[0]
                queue_ms += outcome[1]
                print(f"round {round_number + 1}: webhook + queue: {rate:.1f} instances/s", flush=True)
    finally:
        azurite.stop()
        servers.remove_start_dirs([WORK_DIR / "plain", WORK_DIR / "sinks"])
    return report(args, plain_rates, sink_rates, webhook_ms, queue_ms, cpu)


def percentile(samples: list[float], cut: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[cut - 1]


def report(
    args: argparse.Namespace,
    plain: list[float],
    sinks: list[float],
    webhook_ms: list[float],
    queue_ms: list[float],
    cpu: dict[str, list[float]],
) -> str:
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
        f"`bench/events.py --instances {args.instances} --rounds {args.rounds} --webhook-batch {args.webhook_batch}`: "
        f"STOW-RS of {args.instances} "
        f"instances ({workloads.BATCH_SIZE} per request, 1 client) on a fresh SQLite server, per round once "
        "without sinks and once with a webhook (at most "
        f"{args.webhook_batch} events per request) and an azure-storage-queue sink (Azurite); latency from each "
        "event's commit to its arrival, over every event of every round.",
        "",
        *rows,
        "",
        f"Rounds without sinks: {', '.join(f'{rate:.1f}' for rate in plain)} instances/s; "
        f"with sinks: {', '.join(f'{rate:.1f}' for rate in sinks)} instances/s.",
        "",
        *cpu_rows(args.instances, cpu),
    ]
    return "\n".join(lines)


def cpu_rows(instances: int, cpu: dict[str, list[float]]) -> list[str]:
    """The CPU section of the report: seconds per 1,000 stored instances, the emulator's apart from the rest."""
    per_thousand = {name: [seconds * 1000 / instances for seconds in values] for name, values in cpu.items()}
    plain, sinks = per_thousand[PLAIN], per_thousand[SINKS]
    round_ratios = [with_sinks / without for with_sinks, without in zip(sinks, plain, strict=False)]
    ratio = statistics.median(sinks) / statistics.median(plain)

    def row(name: str, values: list[float]) -> str:
        spread = f"{min(values):.2f}-{max(values):.2f}"
        rounds = ", ".join(f"{value:.2f}" for value in values)
        return f"| {name} | {statistics.median(values):.2f} | {spread} | {rounds} |"

    return [
        "CPU seconds per 1,000 stored instances, from /proc: user and system time of each process of a group"
        " and of its children that ended (utime, stime, cutime, cstime), from the start of the STOW phase"
        " until it ended (without sinks) or until the last event arrived (with sinks). The emulator is its"
        " server process and all its descendants, the event delivery process included; Azurite and the"
        " receivers are counted apart, though they share this machine's cores:",
        "",
        "| processes | median | spread | rounds |",
        "| --- | --- | --- | --- |",
        *(row(name, values) for name, values in per_thousand.items()),
        "",
        f"Emulator CPU with sinks / without: **{ratio:.2f}x** (medians; target <= 1.2x); per round "
        f"{', '.join(f'{value:.2f}x' for value in round_ratios)}.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="instances per STOW phase (multiple of 50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both configurations")
    parser.add_argument(
        "--webhook-batch", type=int, default=1, help="the webhook's max_events_per_batch (Event Grid's default is 1)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    text = run(args)
    text += f"Load average (1 min) at the start / end of the run: {load_before:.2f} / {os.getloadavg()[0]:.2f}.\n"
    RESULTS_PATH.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
