"""Starting, probing and stopping the two servers under test: the emulator and Orthanc."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
OURS_EXECUTABLE = REPO / ".venv" / "bin" / "azure-dicom-emulator"
OURS_PORT = 8080
ORTHANC_PORT = 8042
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# The Accept header each server needs to return an instance in its stored transfer syntax. Orthanc's
# DICOMweb plugin only produces multipart/related here and answers 400 to application/dicom; the
# emulator, like Azure, returns the bare file.
INSTANCE_ACCEPT = {
    "ours": "application/dicom; transfer-syntax=*",
    "orthanc": 'multipart/related; type="application/dicom"; transfer-syntax=*',
}


class ServerError(RuntimeError):
    """A server could not be started or did not answer."""


@dataclass
class Server:
    """A running server and how to talk to it."""

    name: str
    base_url: str
    instance_accept: str
    version: str
    process: subprocess.Popen


def new_start_dir(server_dir: Path) -> Path:
    """A new, empty directory under ``server_dir`` for one start of a server: its data, log and configuration.

    Earlier starts' directories are left in place until ``remove_start_dirs``. Deleting thousands of files
    between rounds would make the next round pay for it: on an ext4 file system without a journal, as on
    the machine these figures come from, creating a file skips every inode of its block group deleted in
    the last seconds to minutes, and each create then cost up to 0.6 ms of kernel time (measured) instead
    of about 0.01 ms.
    """
    server_dir.mkdir(parents=True, exist_ok=True)
    number = sum(1 for _ in server_dir.glob("start-*"))
    while (server_dir / f"start-{number}").exists():
        number += 1
    path = server_dir / f"start-{number}"
    path.mkdir()
    return path


def remove_start_dirs(server_dirs: Iterable[Path]) -> None:
    """Delete the directories of every start under each of ``server_dirs``: when a run ends, not between rounds."""
    for server_dir in server_dirs:
        for path in server_dir.glob("start-*"):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running(name: str, work_dir: Path) -> Iterator[Server]:
    """Start server ``name`` ("ours" or "orthanc") on a new data directory under ``work_dir / name`` and stop it
    on exit; the directory stays until ``remove_start_dirs``."""
    starter = {"ours": start_ours, "orthanc": start_orthanc}[name]
    server_dir = new_start_dir(work_dir / name)
    process, base_url, log_path = starter(server_dir)
    try:
        wait_until_ready(process, base_url, log_path)
        yield Server(
            name=name,
            base_url=base_url,
            instance_accept=INSTANCE_ACCEPT[name],
            version=server_version(name),
            process=process,
        )
    finally:
        stop(process)


def start_ours(server_dir: Path) -> tuple[subprocess.Popen, str, Path]:
    """Launch the emulator on a fresh data directory."""
    if not OURS_EXECUTABLE.exists():
        raise ServerError(f"{OURS_EXECUTABLE} not found: install the project into .venv first")
    address = ["--host", "127.0.0.1", "--port", str(OURS_PORT)]
    command = [str(OURS_EXECUTABLE), "serve", *address, "--data-dir", str(server_dir / "data")]
    log_path = server_dir / "server.log"
    return launch(command, log_path), f"http://127.0.0.1:{OURS_PORT}/v2", log_path


def start_orthanc(server_dir: Path) -> tuple[subprocess.Popen, str, Path]:
    """Launch Orthanc with the DICOMweb plugin and a configuration written into ``server_dir``."""
    executable = shutil.which("Orthanc")
    if executable is None:
        raise ServerError("Orthanc not found: apt-get install -y orthanc orthanc-dicomweb")
    config_path = server_dir / "orthanc.json"
    config_path.write_text(json.dumps(orthanc_config(server_dir / "data"), indent=2))
    log_path = server_dir / "server.log"
    base_url = f"http://127.0.0.1:{ORTHANC_PORT}/dicom-web"
    return launch([executable, str(config_path)], log_path), base_url, log_path


def orthanc_config(storage_dir: Path) -> dict:
    """A minimal Orthanc configuration: HTTP only, no authentication, DICOMweb at /dicom-web/."""
    return {
        "Name": "bench",
        "StorageDirectory": str(storage_dir),
        "IndexDirectory": str(storage_dir),
        "Plugins": [dicomweb_plugin_path()],
        "HttpPort": ORTHANC_PORT,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": False,
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }


def dicomweb_plugin_path() -> str:
    """The DICOMweb plugin library shipped by the orthanc-dicomweb Debian package."""
    listing = subprocess.run(
        ["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, check=False, timeout=30
    )
    libraries = [line for line in listing.stdout.splitlines() if "/plugins/" in line and ".so" in line]
    if listing.returncode != 0 or not libraries:
        raise ServerError("DICOMweb plugin not found: apt-get install -y orthanc-dicomweb")
    return libraries[0]


def launch(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``command`` in its own session, so a Ctrl-C reaches the benchmark and not the server."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextlib.contextmanager
def ours_on_free_port(
    server_dir: Path, name: str = "ours", extra_args: Sequence[str] = (), env: dict[str, str] | None = None
) -> Iterator[Server]:
    """The emulator serving ``server_dir/data`` on a free loopback port, with ``extra_args`` and ``env``
    (the environment it runs in; this one's when None); stopped when the block ends."""
    from harness.loopback import free_port

    port = free_port()
    command = [
        str(OURS_EXECUTABLE), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(server_dir / "data"), *extra_args,
    ]  # fmt: skip
    log_path = server_dir / "server.log"
    process = launch(command, log_path, env)
    try:
        base_url = f"http://127.0.0.1:{port}/v2"
        wait_until_ready(process, base_url, log_path)
        yield Server(name, base_url, INSTANCE_ACCEPT["ours"], "", process)
    finally:
        stop(process)


def wait_until_ready(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    """Wait until the server answers any HTTP request, failing if it exits or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"server exited with code {process.returncode}: {log_tail(log_path)}")
        try:
            httpx.get(base_url + "/studies", timeout=2.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise ServerError(f"server not ready after {READY_TIMEOUT_S:.0f} s: {log_tail(log_path)}")


def log_tail(log_path: Path) -> str:
    """The last line of a server log and where to read the rest, for error messages."""
    try:
        lines = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return f"{lines[-1].strip() if lines else '(empty log)'} (log: {log_path})"


def stop(process: subprocess.Popen) -> None:
    """Terminate the server, killing it if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def server_version(name: str) -> str:
    """A version string for the server, as reported by the server or its package."""
    if name == "ours":
        return "azure-dicom-emulator " + importlib.metadata.version("azure-dicom-emulator")
    system = httpx.get(f"http://127.0.0.1:{ORTHANC_PORT}/system", timeout=5.0).json()
    plugin = httpx.get(f"http://127.0.0.1:{ORTHANC_PORT}/plugins/dicom-web", timeout=5.0).json()
    return f"Orthanc {system['Version']}, DICOMweb plugin {plugin['Version']}"


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` and its descendants so far, from /proc.

    Each live process counts its own time (utime, stime) and that of its children that ended and
    were waited for (cutime, cstime), so a process that ran and ended between two samples counts too.
    """
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(field) for field in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_by_process(pid: int) -> dict[int, int]:
    """The VmHWM (peak resident set, in bytes) of ``pid`` and of each of its descendants."""
    peaks = {}
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[member] = int(line.split()[1]) * 1024
    return peaks
