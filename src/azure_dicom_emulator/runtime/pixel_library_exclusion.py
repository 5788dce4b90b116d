"""Keeping the libraries that pydicom imports but storing and serving never use out of a process.

Importing pydicom imports numpy, Pillow, the pylibjpeg codecs (for its pixel backends) and requests
(to download its sample files): about 28 MB in every process, though parsing headers, building
metadata, searching and sending stored bytes need none of them. A process that leaves them out
before pydicom is imported gets pydicom without pixel backends, so it must not decode, transcode
or render; that work runs in processes that keep them (``wiring.build_services``). requests is left
out only while pydicom is imported: the server never downloads pydicom's samples, but the Azure
Storage clients of an export need it.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec

LEFT_OUT = frozenset({"numpy", "PIL", "pylibjpeg", "libjpeg", "openjpeg", "rle"})
LEFT_OUT_OF_PYDICOM = frozenset({"requests"})


class _LeaveOut(MetaPathFinder):
    """Finds the modules of ``names`` as missing, as if they were not installed."""

    def __init__(self) -> None:
        self.names = LEFT_OUT | LEFT_OUT_OF_PYDICOM

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (left out of this process)", name=name)
        return None


def leave_out() -> None:
    """Makes the modules of LEFT_OUT unimportable in this process from now on, and imports pydicom
    without them and without LEFT_OUT_OF_PYDICOM.

    Raises RuntimeError if pydicom or one of those modules was imported already, since pydicom
    decides at import which of them it has.
    """
    if any(isinstance(finder, _LeaveOut) for finder in sys.meta_path):
        return
    names = LEFT_OUT | LEFT_OUT_OF_PYDICOM
    loaded = sorted(name for name in ("pydicom", *names) if name in sys.modules)
    if loaded:
        raise RuntimeError(f"too late to leave out {', '.join(sorted(names))}: {', '.join(loaded)} imported")
    finder = _LeaveOut()
    sys.meta_path.insert(0, finder)
    import pydicom  # noqa: F401  (it decides now, without them, which libraries it has)

    finder.names = LEFT_OUT
