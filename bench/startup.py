"""Start-up, idle memory and reset benchmark of the emulator's tools.

Run from the repository root once the project is installed in `.venv`:
``.venv/bin/python bench/startup.py [--rounds 10] [--reset-instances 10000]``. It measures, on free
loopback ports and fresh data folders:

- ``serve`` ready: from starting ``azure-dicom-emulator serve`` to its first ``/health/check`` 200, median of
  ``--rounds`` starts;
- the pytest plugin's ``dicom_emulator`` start: the same, through the fixture's own start;
- idle RSS: the resident memory of the server's process group (the server, its forkserver and CPU
  workers) two seconds after it is ready;
- reset: ``DELETE /emulator/data`` of ``--reset-instances`` stored instances.

Results go to ``bench/TOOLS-RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from azure_dicom_emulator.pytest_plugin import StartedEmulator  # noqa: E402
from harness.loopback import free_port  # noqa: E402

EXECUTABLE = REPO / ".venv" / "bin" / "azure-dicom-emulator"
RESULTS = REPO / "bench" / "TOOLS-RESULTS.md"
IDLE_SECONDS = 2.0
STORE_BATCH = 100


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120.0) -> float:
    """Seconds until ``url``'s health check answers 200 (``process`` must keep running)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url + "/health/check", timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise RuntimeError("the server did not become ready")


def start(command: list[str], data_dir: Path) -> tuple[subprocess.Popen, str, float]:
    """Starts a server with ``command`` (a port and data folder added); the process, its URL, seconds to ready."""
    port = free_port()
    began = time.perf_counter()
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return process, url, time.perf_counter() - began


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def group_rss_mb(pid: int) -> float:
    """The resident memory of the processes in ``pid``'s process group, in MB."""
    total_kb = 0
    group = os.getpgid(pid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return total_kb / 1024


def store_instances(url: str, count: int) -> None:
    """Stores ``count`` small generated instances, STORE_BATCH per request."""
    from harness.factories import make_dataset, multipart, to_bytes

    headers = {"Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}
    with httpx.Client(base_url=url, timeout=600) as client:
        for first in range(0, count, STORE_BATCH):
            parts = [to_bytes(make_dataset()) for _ in range(min(STORE_BATCH, count - first))]
            response = client.post("/v2/studies", content=multipart(parts), headers=headers)
            response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--reset-instances", type=int, default=10_000)
    args = parser.parse_args()
    serve_times, plugin_times, idle_rss = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        for round_number in range(args.rounds):
            process, _, seconds = start([str(EXECUTABLE)], Path(folder) / f"serve-{round_number}")
            serve_times.append(seconds)
            time.sleep(IDLE_SECONDS)
            idle_rss.append(group_rss_mb(process.pid))
            stop(process)
            plugin_dir = Path(folder) / f"plugin-{round_number}"
            plugin_dir.mkdir()
            began = time.perf_counter()
            fixture = StartedEmulator(plugin_dir)
            plugin_times.append(time.perf_counter() - began)
            fixture.stop()
        process, url, _ = start([str(EXECUTABLE)], Path(folder) / "reset")
        try:
            store_instances(url, args.reset_instances)
            began = time.perf_counter()
            httpx.delete(url + "/emulator/data", timeout=600).raise_for_status()
            reset_seconds = time.perf_counter() - began
        finally:
            stop(process)
    lines = [
        "# Tools benchmark: start-up, idle memory, reset",
        "",
        f"Measured by `bench/startup.py --rounds {args.rounds} --reset-instances {args.reset_instances}`"
        f" on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        f"| `serve` ready (health 200), median of {args.rounds} | {statistics.median(serve_times):.2f} s | |",
        f"| the plugin's `dicom_emulator` start, median of {args.rounds} | {statistics.median(plugin_times):.2f} s | |",
        f"| idle RSS of the process group, median | {statistics.median(idle_rss):.0f} MB | |",
        f"| `DELETE /emulator/data` of {args.reset_instances} instances | {reset_seconds:.2f} s"
        " | under 2 s for 10,000 |",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
