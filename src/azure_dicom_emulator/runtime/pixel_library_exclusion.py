"""Keeping the libraries that pydicom imports but storing and serving never use out of a process.

Importing pydicom imports numpy, Pillow, the pylibjpeg codecs (for its pixel backends) and requests
(to download its sample files): about 28 MB in every process, though parsing headers, building
metadata, searching and sending stored bytes need none of them. A process that leaves them out
before pydicom is imported gets pydicom without pixel backends, so it must not decode, transcode
or render; that work runs in processes that keep them (``wiring.build_services``). requests is left
out only while ``import_pydicom`` imports pydicom: the server never downloads pydicom's samples, but
the Azure Storage clients of an export need it.
"""

from __future__ import annotations

import sys
import threading
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec

LEFT_OUT = frozenset({"numpy", "PIL", "pylibjpeg", "libjpeg", "openjpeg", "rle"})
LEFT_OUT_OF_PYDICOM = frozenset({"requests"})


class _LeaveOut(MetaPathFinder):
    """Finds the modules of LEFT_OUT as missing, as if they were not installed, and those of
    LEFT_OUT_OF_PYDICOM too in a thread that is importing pydicom."""

    def __init__(self) -> None:
        self.importing_pydicom = threading.local()

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        top = name.partition(".")[0]
        if top in LEFT_OUT or (top in LEFT_OUT_OF_PYDICOM and getattr(self.importing_pydicom, "now", False)):
            raise ModuleNotFoundError(f"No module named {name!r} (left out of this process)", name=name)
        return None


def leave_out() -> None:
    """Makes the modules of LEFT_OUT unimportable in this process from now on: pydicom, imported after this,
    comes without them (``import_pydicom`` leaves out LEFT_OUT_OF_PYDICOM as well).

    Raises RuntimeError if pydicom or one of those modules was imported already, since pydicom
    decides at import which of them it has.
    """
    if _finder() is not None:
        return
    names = LEFT_OUT | LEFT_OUT_OF_PYDICOM
    loaded = sorted(name for name in ("pydicom", *names) if name in sys.modules)
    if loaded:
        raise RuntimeError(f"too late to leave out {', '.join(sorted(names))}: {', '.join(loaded)} imported")
    sys.meta_path.insert(0, _LeaveOut())


def import_pydicom() -> None:
    """Imports pydicom, unless it is imported already; without LEFT_OUT_OF_PYDICOM where modules are left out."""
    finder = _finder()
    if finder is not None:
        finder.importing_pydicom.now = True
    try:
        import pydicom  # noqa: F401  (it decides at its first import which libraries it has)
    finally:
        if finder is not None:
            finder.importing_pydicom.now = False


def _finder() -> _LeaveOut | None:
    return next((finder for finder in sys.meta_path if isinstance(finder, _LeaveOut)), None)
