"""Benchmark the emulator against Orthanc on the same generated data and write bench/RESULTS.md.

Run as root with any Python 3: ``python bench/run.py``.  The script creates the network
namespace ``bench``, re-runs itself there with the project's interpreter (.venv), and removes
the namespace, with anything still running in it, when it ends, fails or is interrupted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import namespace

REPO = Path(__file__).resolve().parent.parent
PROJECT_PYTHON = REPO / ".venv" / "bin" / "python"
ORTHANC_PACKAGES = ["orthanc", "orthanc-dicomweb"]
APT_TIMEOUT_S = 600


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    servers = ["ours", "orthanc", "both"]
    parser.add_argument("--only", choices=servers, default="both", help="servers to measure")
    parser.add_argument(
        "--instances", type=batch_multiple, default=1000, help="instances per STOW-RS phase (multiple of 50)"
    )
    parser.add_argument("--skip-large", action="store_true", help="skip the 2,000-instance peak-RSS request")
    parser.add_argument("--retrievals", type=positive, default=500, help="instance retrievals to time")
    parser.add_argument("--metadata-requests", type=positive, default=200, help="metadata requests to time")
    parser.add_argument(
        "--scroll-instances", type=positive, default=500, help="instances whose first frame a scrolling viewer fetches"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        choices=(1, 3, 5, 7, 9),
        default=3,
        metavar="N",
        help="rounds of every measurement per server, alternating which server goes first (odd, 1-9)",
    )
    return parser.parse_args(argv)


def positive(text: str) -> int:
    """An argparse type: an integer of at least 2 (percentiles need two samples)."""
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("must be at least 2")
    return value


def batch_multiple(text: str) -> int:
    """An argparse type: a positive multiple of 50, so every study is complete."""
    value = int(text)
    if value <= 0 or value % 50:
        raise argparse.ArgumentTypeError("must be a positive multiple of 50")
    return value


def ensure_orthanc() -> None:
    """Install Orthanc and its DICOMweb plugin from Debian if they are missing."""
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", "orthanc-dicomweb"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if shutil.which("Orthanc") and "install ok installed" in status.stdout:
        return
    print("installing " + " ".join(ORTHANC_PACKAGES), flush=True)
    subprocess.run(["apt-get", "update"], check=True, timeout=APT_TIMEOUT_S)
    subprocess.run(["apt-get", "install", "-y", *ORTHANC_PACKAGES], check=True, timeout=APT_TIMEOUT_S)


def main(argv: list[str]) -> int:
    """Outside the namespace: prepare and re-run inside it.  Inside: run the benchmark."""
    args = parse_args(argv)
    if namespace.inside():
        import suite  # needs the project's interpreter, which only the run inside the namespace has

        return suite.run(args)
    if os.geteuid() != 0:
        sys.exit("run.py needs root, to create a network namespace")
    if not PROJECT_PYTHON.exists():
        sys.exit(f"{PROJECT_PYTHON} not found: create the project's .venv first")
    if args.only != "ours":
        ensure_orthanc()
    return namespace.run_inside([str(PROJECT_PYTHON), str(Path(__file__).resolve()), *argv])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit("interrupted")
