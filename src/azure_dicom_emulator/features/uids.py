"""Checks of the UIDs a request names in its path (spec §15)."""

from __future__ import annotations

from ..dicom.value_rules import is_valid_uid
from ..errors import INVALID_UID_MESSAGE, BadRequest


def require_valid(*uids: str | None) -> None:
    """Raises BadRequest for the first UID (in the order given) that is not a valid DICOM UID."""
    for uid in uids:
        if uid is not None and not is_valid_uid(uid):
            raise BadRequest(INVALID_UID_MESSAGE)


def normalized(uid: str | None) -> str | None:
    """The UID as the index keys it: trailing spaces and NUL padding removed."""
    return None if uid is None else uid.rstrip(" \x00")
