"""How a server process's garbage collector is set once start-up is done and its request handlers are loaded."""

from __future__ import annotations

import gc

GC_YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Keeps the collector off what start-up built, and runs it less often while requests are served.

    Everything loaded by then (modules, SQLAlchemy's compiled statements, settings) lives as long as
    the server; freezing it spares every later full collection from walking it again. Requests make
    many short-lived containers, so the youngest generation is collected after more of them. No
    collection runs first: start-up leaves next to no cyclic garbage (tens of objects), and walking
    everything it built would hold up the first answer by several hundredths of a second.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
