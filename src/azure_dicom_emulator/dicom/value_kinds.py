"""The VRs an extended query tag may have, and the kind of index each one's values go to (spec §8.4)."""

from __future__ import annotations

KINDS = {
    **dict.fromkeys(("AE", "AS", "CS", "LO", "SH", "UI"), "string"),
    "PN": "person_name",
    **dict.fromkeys(("DA", "DT", "TM"), "datetime"),
    **dict.fromkeys(("IS", "SL", "SS", "UL", "US"), "long"),
    **dict.fromkeys(("FL", "FD"), "double"),
}
"""Each VR an extended query tag may have, and the kind of index its values go to."""
