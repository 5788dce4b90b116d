"""Running the benchmark inside a private network namespace that has only a loopback interface.

Orthanc cannot be told which address to bind, so the servers and the client all run in the
namespace ``bench``: nothing they open is reachable from outside it.  Only the Python standard
library is used here, so any interpreter can start the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

NAME = os.environ.get("BENCH_NETNS", "bench")  # a second benchmark at once needs its own name
MARKER = "BENCH_NAMESPACE"
COMMAND_TIMEOUT_S = 30
CHILD_EXIT_TIMEOUT_S = 120


class NamespaceError(RuntimeError):
    """The namespace could not be set up."""


def inside() -> bool:
    """Whether this process is the benchmark already running inside the namespace."""
    return os.environ.get(MARKER) == NAME


def ip(*args: str) -> subprocess.CompletedProcess:
    """Run ``ip`` with ``args`` and return its result."""
    command = ["ip", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)


def member_pids() -> list[int]:
    """The processes living in the namespace."""
    return [int(pid) for pid in ip("netns", "pids", NAME).stdout.split()]


def exists() -> bool:
    """Whether the namespace exists."""
    return NAME in ip("netns", "list").stdout.split()


def create() -> None:
    """Create the namespace with its loopback up; a leftover empty one from an earlier run is replaced."""
    if exists():
        if member_pids():
            raise NamespaceError(f"network namespace {NAME!r} is in use: is another benchmark running?")
        ip("netns", "del", NAME)
    for args in (("netns", "add", NAME), ("netns", "exec", NAME, "ip", "link", "set", "lo", "up")):
        result = ip(*args)
        if result.returncode != 0:
            raise NamespaceError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


def remove() -> None:
    """Stop whatever the benchmark left running in the namespace, then delete it."""
    if not exists():
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in member_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        for _ in range(50):
            if not member_pids():
                break
            time.sleep(0.1)
    ip("netns", "del", NAME)


def run_inside(command: list[str]) -> int:
    """Run ``command`` in a fresh namespace, wait for it, and always remove the namespace afterwards."""
    create()
    try:
        child = subprocess.Popen(["ip", "netns", "exec", NAME, *command], env={**os.environ, MARKER: NAME})
        forward_sigterm(child)
        return wait_for(child)
    finally:
        remove()


def forward_sigterm(child: subprocess.Popen) -> None:
    """Pass a SIGTERM on to the benchmark so it stops its servers, then stop waiting for it."""

    def handler(signum: int, frame: object) -> None:
        child.terminate()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def wait_for(child: subprocess.Popen) -> int:
    """The child's exit code; after a Ctrl-C, give it time to stop its servers before killing it."""
    try:
        return child.wait()
    except KeyboardInterrupt:
        try:
            child.wait(timeout=CHILD_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
