"""The long fuzz run: the property-based cases of tests/e2e/test_fuzz.py by the ten thousand, against a server
started for it (SQLite), with the oracle checked at the end of each kind of case.

Run from the repository root: ``.venv/bin/python bench/fuzz.py [--cases 10000] [--seed N]``. It prints the
number of cases, the time they took, the 5xx answers found and the mismatches between what the server
acknowledged and what it holds, and exits 1 when either is not zero.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from harness.fuzz_cases import (  # noqa: E402
    change_feed_requests,
    json_requests,
    read_requests,
    search_requests,
    stow_requests,
)
from harness.fuzz_oracle import Ledger  # noqa: E402
from harness.server import Server  # noqa: E402

# How the cases are shared out: uploads, reads, and searches with JSON bodies and change feed requests.
SHARES = {"uploads": 0.4, "reads": 0.35, "others": 0.25}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="requests to send in all")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (random when not given)")
    return parser.parse_args(argv)


def run(ledger: Ledger, cases: int, chosen_seed: int | None) -> None:
    """Sends ``cases`` requests, shared out as SHARES says."""
    base = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))

    def kind(strategy_of, count: int) -> None:
        @settings(base, max_examples=count)
        @given(st.data())
        def send(data):
            ledger.send(data.draw(strategy_of()))

        (seed(chosen_seed)(send) if chosen_seed is not None else send)()

    kind(stow_requests, int(cases * SHARES["uploads"]))
    kind(lambda: read_requests(ledger.known_uids()), int(cases * SHARES["reads"]))
    others = cases - ledger.cases
    kind(lambda: st.one_of(search_requests(), json_requests(), change_feed_requests()), others)


def main(argv: list[str]) -> int:
    """Runs the cases and prints the figures; 1 when a 5xx or a mismatch was found."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as work:
        data_dir = Path(work) / "data"
        server = Server(data_dir).start()
        ledger = Ledger(server.url, data_dir / "blobs")
        started = time.monotonic()
        try:
            run(ledger, args.cases, args.seed)
            mismatches = ledger.mismatches()
        finally:
            elapsed = time.monotonic() - started
            ledger.close()
            server.stop()
    print(f"cases: {ledger.cases}")
    print(f"duration: {elapsed:.0f} s")
    print(f"instances acknowledged: {len(ledger.acknowledged)}")
    print(f"5xx found: {len(ledger.server_errors)}")
    for error in ledger.server_errors[:20]:
        print(f"  {error}")
    print(f"mismatches: {len(mismatches)}")
    for mismatch in mismatches:
        print(f"  {mismatch}")
    return 1 if ledger.server_errors or mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
