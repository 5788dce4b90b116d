"""The emulator's tools benchmark: start-up, the pytest fixture, idle memory, upload and reset.

Run from the repository root once the project is installed in `.venv`, on a quiet machine:
``.venv/bin/python bench/tools.py [--rounds 10] [--upload-files 1000] [--reset-instances 10000]``.
Every server starts on a free loopback port and its own data folder. The measures, taking turns:

- ``serve`` ready: from starting ``azure-dicom-emulator serve`` to its first ``/health/check`` 200, on a new
  data folder (the migrations run), again on the folder of an earlier start, and on a folder holding
  instances (whose start-up also readies the pixel workers and the request handlers);
- with ``--baseline-src``, ``serve`` ready on a new folder by another revision's source tree, in the same rounds
  (taking turns with this tree's), and the rounds' ratios;
- the first search: from the same start on a new folder to the answer of a ``GET /v2/studies`` sent as soon
  as the health check answered (the request handlers load right after it);
- the pytest plugin's ``dicom_emulator`` start: the same, through the fixture's own start;
- idle memory: two seconds after ready, the resident memory (RSS) of the server's process group, and its
  proportional share (PSS, each page shared by several processes counted once);
- the floor under ``serve`` ready: the CPU seconds of importing the libraries the server stands on, in a
  fresh interpreter, beside the CPU seconds the server used until ready;
- upload: ``azure-dicom-emulator upload`` of ``--upload-files`` CT files (whole command, start-up included)
  against the benchmark's own STOW-RS client (``workloads.stow_throughput``) sending the same files with the
  same batch size and concurrency, each to a new server, in alternating rounds;
- the first rendered JPEG after start-up: on a data folder holding instances, right after ready; and on a new
  server right after its first store;
- reset: ``DELETE /emulator/data`` of a server holding ``--reset-instances`` instances.

The figures go to the ``tools-results`` section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import multipart_body  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402
import testdata  # noqa: E402
import workloads  # noqa: E402
from servers import Server  # noqa: E402

from azure_dicom_emulator.pytest_plugin import StartedEmulator  # noqa: E402
from harness.loopback import free_port  # noqa: E402

EXECUTABLE = REPO / ".venv" / "bin" / "azure-dicom-emulator"
RESULTS = BENCH / "RESULTS.md"
IDLE_SECONDS = 2.0
BATCH = 50
CONCURRENCY = 4
LIBRARY_FLOOR = (
    "import time; c = time.process_time()\n"
    "import typer, uvicorn, uvloop, pydantic_settings, sqlalchemy, sqlalchemy.dialects.sqlite\n"
    "import starlette.applications, starlette.routing\n"
    "from azure_dicom_emulator.runtime import pixel_library_exclusion\n"
    "pixel_library_exclusion.leave_out()\n"
    "print(time.process_time() - c)\n"
)


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120.0) -> float:
    """Seconds until ``url``'s health check answers 200 (``process`` must keep running)."""
    started = time.perf_counter()
    with httpx.Client(timeout=1) as http:  # one client: a new one per try loads TLS certificates each time
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                if http.get(url + "/health/check").status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
    raise RuntimeError("the server did not become ready")


def start(data_dir: Path, source: Path | None = None) -> tuple[subprocess.Popen, str, float]:
    """Starts ``serve`` on ``data_dir`` (with the package of the source tree ``source`` when given); the process,
    its URL and the seconds until it was ready."""
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": str(source)} if source else None
    began = time.perf_counter()
    process = subprocess.Popen(
        [str(EXECUTABLE), "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return process, url, time.perf_counter() - began


def ready_seconds(data_dir: Path, source: Path) -> float:
    """Seconds ``serve`` of the source tree ``source`` takes to be ready on ``data_dir``."""
    process, _, seconds = start(data_dir, source)
    stop(process)
    return seconds


def stop(process: subprocess.Popen) -> None:
    """Stops a server and waits for it."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def group_memory_mb(pid: int) -> tuple[float, float]:
    """The RSS and the PSS of the processes in ``pid``'s process group, in MB."""
    rss_kb = pss_kb = 0
    group = os.getpgid(pid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            for line in (entry / "smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss_kb += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss_kb += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return rss_kb / 1024, pss_kb / 1024


def library_floor() -> float:
    """CPU seconds a fresh interpreter spends importing the libraries the server stands on."""
    out = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", LIBRARY_FLOOR], capture_output=True, text=True)
    return float(out.stdout)


def timed_upload(folder: Path, url: str) -> tuple[float, float]:
    """Seconds the ``upload`` command takes to store ``folder``: the whole command (its start-up and the walk of
    the folder included), and from its first request to its last answer, as it reports them."""
    began = time.perf_counter()
    command = [str(EXECUTABLE), "upload", str(folder), "--url", url + "/v2"]
    command += ["--batch", str(BATCH), "--concurrency", str(CONCURRENCY)]
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    whole = time.perf_counter() - began
    return whole, float(re.search(r"sent in ([0-9.]+) s", finished.stderr).group(1))


def timed_stow_client(items: list[testdata.Instance], url: str, process: subprocess.Popen) -> float:
    """Seconds the benchmark's own STOW-RS client takes to store ``items``."""
    server = Server(name="ours", base_url=url + "/v2", instance_accept="", version="", process=process)
    return workloads.stow_throughput(server, items, CONCURRENCY).seconds


def store_instances(url: str, items: list[testdata.Instance]) -> None:
    """Stores ``items``, BATCH per request."""
    with httpx.Client(base_url=url, timeout=600) as client:
        for batch in workloads.batches(items, BATCH):
            body = multipart_body.build_body(item.read() for item in batch)
            headers = {"Content-Type": multipart_body.STOW_CONTENT_TYPE}
            client.post("/v2/studies", content=body, headers=headers).raise_for_status()


def reset_items(cache: Path, files: int, count: int) -> list[testdata.Instance]:
    """``count`` instances made of the first ``files`` cached files, each set under new UIDs as often as needed."""
    items: list[testdata.Instance] = []
    tag = testdata.PLACEHOLDER_TAG + 2
    while len(items) < count:
        items += testdata.instances(cache, min(files, count - len(items)), tag=tag)
        tag += 1
    return items


def first_rendered_ms(root: Path, number: int) -> tuple[float, float, float]:
    """Milliseconds of the first rendered JPEG on a new server right after its first store, and on the same
    data folder started again, right after it reports ready; and the seconds that second start took."""
    item = testdata.instances(BENCH / "work" / "data", 1, tag=testdata.PLACEHOLDER_TAG + 20 + number)[0]
    path = f"/v2/studies/{item.study_uid}/series/{item.series_uid}/instances/{item.sop_uid}/rendered"
    timings = []
    for start_number in range(2):
        process, url, ready = start(root / f"rendered-{number}")
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                if start_number == 0:
                    headers = {"Content-Type": "application/dicom"}
                    http.post("/v2/studies", content=item.read(), headers=headers).raise_for_status()
                began = time.perf_counter()
                http.get(path, headers={"Accept": "image/jpeg"}).raise_for_status()
                timings.append((time.perf_counter() - began) * 1000)
        finally:
            stop(process)
    return timings[0], timings[1], ready


def spread(values: list[float], digits: int = 2) -> str:
    """The median of ``values`` and their range."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--upload-rounds", type=int, default=3)
    parser.add_argument("--upload-files", type=int, default=1000)
    parser.add_argument("--reset-instances", type=int, default=10_000)
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="the src folder of another revision (a git worktree, say): each round also starts its serve on a new"
        " folder, taking turns with this one's",
    )
    args = parser.parse_args()
    cache = BENCH / "work" / "data"
    testdata.ensure_cache(cache, args.upload_files)
    fresh, existing, holding, first_search, fixture, rss, pss, cpu, floor = [], [], [], [], [], [], [], [], []
    baseline, baseline_ratios = [], []
    upload_s, upload_sent_s, client_s, rendered_new, rendered_restarted = [], [], [], [], []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-tools-") as folder:
        root = Path(folder)
        for number in range(args.rounds):
            data = root / f"serve-{number}"
            if args.baseline_src and number % 2 == 1:
                baseline.append(ready_seconds(root / f"baseline-{number}", args.baseline_src))
            process, url, seconds = start(data)
            fresh.append(seconds)
            if args.baseline_src and number % 2 == 0:
                baseline.append(ready_seconds(root / f"baseline-{number}", args.baseline_src))
            if args.baseline_src:
                baseline_ratios.append(seconds / baseline[-1])
            began = time.perf_counter()
            httpx.get(url + "/v2/studies", timeout=60).raise_for_status()
            first_search.append(seconds + time.perf_counter() - began)
            stop(process)
            process, _, seconds = start(data)
            existing.append(seconds)
            cpu.append(servers.cpu_seconds(process.pid))
            time.sleep(IDLE_SECONDS)
            group_rss, group_pss = group_memory_mb(process.pid)
            rss.append(group_rss)
            pss.append(group_pss)
            stop(process)
            plugin_dir = root / f"plugin-{number}"
            plugin_dir.mkdir()
            began = time.perf_counter()
            started = StartedEmulator(plugin_dir)
            fixture.append(time.perf_counter() - began)
            started.stop()
            floor.append(library_floor())
            after_store, after_start, ready = first_rendered_ms(root, number)
            rendered_new.append(after_store)
            rendered_restarted.append(after_start)
            holding.append(ready)
        upload_dir = root / "upload"
        upload_dir.mkdir()
        items = testdata.instances(cache, args.upload_files, tag=testdata.PLACEHOLDER_TAG + 1)
        for number, item in enumerate(items):
            (upload_dir / f"{number:05d}.dcm").write_bytes(item.read())
        for number in range(args.upload_rounds):
            for kind in ("upload", "client") if number % 2 == 0 else ("client", "upload"):
                process, url, _ = start(root / f"{kind}-{number}")
                try:
                    if kind == "upload":
                        whole, sent = timed_upload(upload_dir, url)
                        upload_s.append(whole)
                        upload_sent_s.append(sent)
                    else:
                        client_s.append(timed_stow_client(items, url, process))
                finally:
                    stop(process)
        process, url, _ = start(root / "reset")
        try:
            store_instances(url, reset_items(cache, args.upload_files, args.reset_instances))
            began = time.perf_counter()
            httpx.delete(url + "/emulator/data", timeout=600).raise_for_status()
            reset_seconds = time.perf_counter() - began
        finally:
            stop(process)
    upload_rate = [args.upload_files / s for s in upload_s]
    sent_rate = [args.upload_files / s for s in upload_sent_s]
    client_rate = [args.upload_files / s for s in client_s]
    ratio = statistics.median(upload_rate) / statistics.median(client_rate)
    sent_ratio = statistics.median(sent_rate) / statistics.median(client_rate)
    # Each round times the command and the client one after the other: their ratio, round by round.
    round_ratios = [whole / client for whole, client in zip(upload_rate, client_rate, strict=True)]
    round_sent_ratios = [sent / client for sent, client in zip(sent_rate, client_rate, strict=True)]
    baseline_option = " --baseline-src ..." if baseline else ""
    lines = [
        "## The emulator's tools: start-up, idle memory, upload, reset",
        "",
        f"Measured by `bench/tools.py --rounds {args.rounds} --upload-files {args.upload_files}"
        f" --reset-instances {args.reset_instances}{baseline_option}`"
        f" on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
        f" load average {load:.2f} at the start. Medians, with the range of the rounds in brackets.",
        "",
        "| Measure | Figure | Target |",
        "| --- | ---: | --- |",
        f"| `serve` ready (health 200) on a new data folder, s | {spread(fresh)} | < 0.5 |",
        f"| `serve` ready on the folder of an earlier start, s | {spread(existing)} | < 0.5 |",
        f"| `serve` ready on a folder holding an instance, s | {spread(holding)} | |",
        f"| the first search's answer, from the start on a new folder, s | {spread(first_search)} | |",
        f"| CPU the server used until ready (earlier folder), s | {spread(cpu)} | |",
        f"| CPU of importing the libraries it stands on, fresh interpreter, s | {spread(floor)} | |",
        f"| the plugin's `dicom_emulator` start, s | {spread(fixture)} | < 1 |",
        f"| idle RSS of the process group, MB | {spread(rss, 1)} | < 80 |",
        f"| idle PSS of the process group, MB | {spread(pss, 1)} | |",
        f"| first rendered JPEG after start-up, data folder holding instances, ms | {spread(rendered_restarted, 0)}"
        " | < 50 |",
        f"| first rendered JPEG on a new server, right after its first store, ms | {spread(rendered_new, 0)} | |",
        f"| `upload` of {args.upload_files} CT files, whole command, instances/s | {spread(upload_rate, 0)} | |",
        f"| the same, from its first request to its last answer (as it reports), instances/s"
        f" | {spread(sent_rate, 0)} | |",
        f"| the benchmark's STOW-RS client, same files, bodies built before the clock, instances/s"
        f" | {spread(client_rate, 0)} | |",
        f"| `upload` against the client, whole command (the rounds' own ratios) | {ratio:.2f}x"
        f" ({min(round_ratios):.2f}-{max(round_ratios):.2f}) | >= 0.9x |",
        f"| `upload` against the client, requests only (the rounds' own ratios) | {sent_ratio:.2f}x"
        f" ({min(round_sent_ratios):.2f}-{max(round_sent_ratios):.2f}) | >= 0.9x |",
        f"| `DELETE /emulator/data` of {args.reset_instances} instances, s | {reset_seconds:.2f} | < 2 |",
    ]
    if baseline:
        lines.insert(
            lines.index("| Measure | Figure | Target |") + 3,
            f"| the same, by the source tree given as `--baseline-src`, taking turns, s | {spread(baseline)}"
            f" (ratio {statistics.median(baseline_ratios):.2f}, rounds {min(baseline_ratios):.2f}-"
            f"{max(baseline_ratios):.2f}) | |",
        )
    report.write_section(RESULTS, "tools", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
