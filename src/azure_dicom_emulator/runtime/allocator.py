"""How the C allocator of a process treats large blocks: kept for reuse instead of handed back at once.

By default glibc serves each block of more than 128 KiB or so with a fresh mapping and returns it
when freed, and gives the top of its heap back as soon as a few MiB lie unused there. A process
that handles one half-megabyte frame after another then touches brand-new pages for every frame;
each first touch is a page fault, and on a virtual machine a costly one (rendering a 512x512 CT
frame took 544 faults and about 2.2 ms, against 0.85 ms with its memory kept). Keeping freed
blocks in the heap costs at most the process's own high-water mark in resident memory.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 1024 * 1024
"""Blocks up to this size come from the heap and are reused after being freed."""
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024
"""Unused memory at the top of the heap is given back only beyond this much."""


def keep_freed_memory() -> None:
    """Lets this process reuse freed large blocks instead of mapping fresh memory for each one.

    Does nothing where the C library has no ``mallopt`` (it is glibc's).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        log.debug("no mallopt in this process's C library; its allocator is left as it is")
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
