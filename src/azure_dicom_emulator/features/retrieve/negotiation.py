"""Accept negotiation for the retrieve routes, its failures answered as Azure does: 400 or 406."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ...dicom.media_types import BadAcceptError, NotAcceptableError
from ...errors import BadRequest, NotAcceptable

Chosen = TypeVar("Chosen")


def negotiated(negotiate: Callable[..., Chosen], *arguments: object) -> Chosen:
    """``negotiate(*arguments)``'s choice; 400 for a malformed Accept, 406 when nothing fits, with its text."""
    try:
        return negotiate(*arguments)
    except NotAcceptableError as exc:
        raise NotAcceptable(str(exc)) from exc
    except BadAcceptError as exc:
        raise BadRequest(str(exc)) from exc
