"""Keeping freed memory: large blocks freed and allocated again touch no fresh pages."""

from __future__ import annotations

import subprocess
import sys

import pytest

FAULTS_OF_REALLOCATING = """
import resource, sys
from azure_dicom_emulator.runtime import allocator
if sys.argv[1] == "keep":
    allocator.keep_freed_memory()
def one_frame():  # a frame's worth of temporary arrays, zero-filled: every page is touched
    blocks = [bytearray(size) for size in (512 << 10, 512 << 10, 1 << 20, 256 << 10)]
    del blocks
for _ in range(10):
    one_frame()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    one_frame()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    output = subprocess.run(
        [sys.executable, "-c", FAULTS_OF_REALLOCATING, mode], capture_output=True, text=True, check=True
    ).stdout
    return int(output)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_freed_large_blocks_are_reused_without_touching_fresh_pages():
    assert _faults("default") > 50 * 256  # the heap's top is given back after every frame: 544 faults each
    assert _faults("keep") < 100
