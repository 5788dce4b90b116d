"""Request handlers imported after start-up, in a thread, instead of before the server answers.

The modules behind the DICOM routes and the operations (and pydicom under them) take a good share of a
server's start-up to import (bench/RESULTS.md, tools), which it would otherwise spend before its health
check answered. Each
handler is named by a ``deferred`` stand-in; ``preload`` imports every named module in a thread once
the server is up. A stand-in called before that waits for it without holding up the event loop, and
one called where no preload was started imports its module itself.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)
_named: set[str] = set()
_preloading: Future | None = None
_starting = threading.Lock()


def deferred(target: str) -> Callable[..., Awaitable[Any]]:
    """An async stand-in for the async function ``target`` (``package.module:function``), which it imports at
    its first call, once the preload is done if one is under way."""
    module_name, _, name = target.partition(":")
    _named.add(module_name)
    found: Callable[..., Awaitable[Any]] | None = None

    async def call(*args: Any, **kwargs: Any) -> Any:
        nonlocal found
        if found is None:
            if _preloading is not None:
                await asyncio.wrap_future(_preloading)
            found = getattr(importlib.import_module(module_name), name)
        return await found(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__module__ = module_name
    call.target = target  # type: ignore[attr-defined]
    return call


def preload(first: Callable[[], None], then: Callable[[], None]) -> Future:
    """Runs ``first`` and imports every named module in a thread, then calls ``then`` there; once per process
    (a later call returns the first one's future). The future is done once the modules are imported; a failed
    import is logged, and raised again by the stand-ins that need it."""
    global _preloading
    with _starting:
        if _preloading is not None:
            return _preloading
        _preloading = Future()

    def load() -> None:
        try:
            first()
            for module_name in sorted(_named):
                importlib.import_module(module_name)
        except Exception:
            log.exception("loading the request handlers failed")
        finally:
            _preloading.set_result(None)
        then()

    threading.Thread(target=load, name="deferred-import", daemon=True).start()
    return _preloading
