"""Accept-header negotiation for the DICOMweb routes.

An ``Accept`` request header may be sent several times and each value may hold a comma-separated
list of media ranges. ``multipart/related; type="X"`` asks for a multipart response whose parts
are ``X``; a bare media type asks for a single-part response. A range with ``q=0`` is never
acceptable; among acceptable ranges the highest ``q`` wins, and among equally preferred ones a
range naming ``transfer-syntax=*`` wins (the last such range listed), otherwise the first listed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .multipart import split_media_type, split_outside_quotes

ORIGINAL_TRANSFER_SYNTAX = "*"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"

NOT_ACCEPTABLE_MESSAGE = "The request headers are not acceptable"
MULTIPLE_ACCEPT_MESSAGE = "The request contains multiple accept headers, which is not supported."
DUPLICATE_TRANSFER_SYNTAX_MESSAGE = "Transfer Syntax parameter is specified more than once"

_ANY = "*/*"
_DICOM = "application/dicom"
_OCTET_STREAM = "application/octet-stream"
_JP2 = "image/jp2"
_DICOM_JSON_RANGES = frozenset({_ANY, "application/*", "application/json", "application/dicom+json"})
_RENDERED_TYPES = ("image/jpeg", "image/png")


class NotAcceptableError(ValueError):
    """No acceptable representation was asked for (HTTP 406)."""


class BadAcceptError(ValueError):
    """The Accept header is malformed in a way the service rejects (HTTP 400)."""


@dataclass(frozen=True)
class MediaRange:
    """One media range of an Accept header."""

    media_type: str
    """Lower-cased ``type/subtype``."""
    params: tuple[tuple[str, str], ...]
    """Parameters other than ``q``, in order, names lower-cased, values unquoted."""
    quality: float
    """The ``q`` weight; 1.0 when absent or unreadable."""

    def param(self, name: str) -> str | None:
        """Value of the first parameter called ``name`` (lower-case), or None."""
        return next((value for key, value in self.params if key == name), None)


@dataclass(frozen=True)
class AcceptedMedia:
    """The representation chosen for a response."""

    media_type: str
    """Media type of the payload (of each part when multipart)."""
    multipart: bool
    """True for a ``multipart/related`` response."""
    transfer_syntax: str
    """``"*"`` (as stored) or a transfer syntax UID."""


@dataclass(frozen=True)
class _Offer:
    """A representation a route can produce, and the Accept ranges that select it."""

    requested: str
    """Media type named by the Accept range (bare or as the ``type`` of ``multipart/related``)."""
    payloads: frozenset[bool]
    """Allowed values of "asked for as multipart"."""
    syntaxes: frozenset[str]
    default_syntax: str
    produces: str
    """Media type of the payload sent back."""


def parse_accept(values: Sequence[str]) -> list[MediaRange]:
    """Every media range of the given Accept header values, in the order sent.

    Each value may list several ranges separated by commas (commas inside quoted strings do not
    split). Empty list elements and elements without a ``/`` in the media type are skipped.
    """
    return [media_range for value in values for media_range in _ranges_of(value)]


@functools.lru_cache(maxsize=256)
def _ranges_of(value: str) -> tuple[MediaRange, ...]:
    """The media ranges of one Accept header value (clients send the same few values again and again)."""
    ranges = []
    for element in split_outside_quotes(value, ","):
        media_type, params = split_media_type(element)
        if "/" not in media_type:
            continue
        quality = next((_quality(v) for name, v in params if name == "q"), 1.0)
        others = tuple((name, v) for name, v in params if name != "q")
        ranges.append(MediaRange(media_type, others, quality))
    return tuple(ranges)


def _quality(text: str) -> float:
    try:
        quality = float(text)
    except ValueError:
        return 1.0
    return quality if math.isfinite(quality) else 1.0


def accepts_dicom_json(values: Sequence[str]) -> bool:
    """True if any range accepts ``application/dicom+json``.

    Matching ranges are ``*/*``, ``application/*``, ``application/json`` and
    ``application/dicom+json``, in any case and with any parameters (except ``q=0``). No Accept
    header, or none matching, gives False (the caller answers 406 with an empty body).
    """
    return any(r.media_type in _DICOM_JSON_RANGES and r.quality > 0 for r in parse_accept(values))


_MULTIPART_ONLY = frozenset({True})
_EITHER = frozenset({True, False})
_RESOURCE_SYNTAXES = frozenset({ORIGINAL_TRANSFER_SYNTAX, EXPLICIT_VR_LITTLE_ENDIAN, JPEG_2000_LOSSLESS})
_FRAME_SYNTAXES = frozenset({ORIGINAL_TRANSFER_SYNTAX, EXPLICIT_VR_LITTLE_ENDIAN})


def _resource_offers(dicom_payloads: frozenset[bool]) -> tuple[_Offer, ...]:
    return (
        _Offer(_DICOM, dicom_payloads, _RESOURCE_SYNTAXES, EXPLICIT_VR_LITTLE_ENDIAN, produces=_DICOM),
        _Offer(_ANY, _EITHER, _RESOURCE_SYNTAXES, ORIGINAL_TRANSFER_SYNTAX, produces=_DICOM),
    )


_OFFERS = {
    "study": _resource_offers(_MULTIPART_ONLY),
    "series": _resource_offers(_MULTIPART_ONLY),
    "instance": _resource_offers(_EITHER),
    "frames": (
        _Offer(_OCTET_STREAM, _EITHER, _FRAME_SYNTAXES, EXPLICIT_VR_LITTLE_ENDIAN, produces=_OCTET_STREAM),
        _Offer(_JP2, _MULTIPART_ONLY, frozenset({JPEG_2000_LOSSLESS}), JPEG_2000_LOSSLESS, produces=_JP2),
        _Offer(_ANY, _EITHER, _FRAME_SYNTAXES, ORIGINAL_TRANSFER_SYNTAX, produces=_OCTET_STREAM),
    ),
}


def negotiate_resource(values: Sequence[str], level: Literal["study", "series", "instance"]) -> AcceptedMedia:
    """Choose the representation of a study, series or instance retrieval.

    ``application/dicom`` is offered multipart for every level and also single-part for an
    instance, with transfer syntax ``*``, ``1.2.840.10008.1.2.1`` (the default when none is named)
    or ``1.2.840.10008.1.2.4.90``. ``*/*`` selects a multipart ``application/dicom`` response
    with the same syntaxes, defaulting to ``*``.

    Raises :class:`BadAcceptError` when a range repeats ``transfer-syntax`` and
    :class:`NotAcceptableError` ("The request headers are not acceptable") when nothing is
    acceptable, including when there is no Accept header at all.
    """
    return _negotiate(values, _OFFERS[level])


def negotiate_frames(values: Sequence[str]) -> AcceptedMedia:
    """Choose the representation of a frames retrieval.

    ``application/octet-stream`` (single part or multipart) with transfer syntax ``*`` or
    ``1.2.840.10008.1.2.1`` (the default); multipart ``image/jp2`` with
    ``1.2.840.10008.1.2.4.90`` only (also the default); ``*/*`` gives multipart
    ``application/octet-stream`` defaulting to ``*``. Whether a single-part answer may carry
    several frames is for the caller to decide. Raises as :func:`negotiate_resource` does.
    """
    return _negotiate(values, _OFFERS["frames"])


def negotiate_rendered(values: Sequence[str]) -> str:
    """Choose ``"image/jpeg"`` or ``"image/png"`` for a rendered retrieval.

    No Accept header gives ``image/jpeg``. More than one media range (in one value or across
    several) raises :class:`NotAcceptableError` with "The request contains multiple accept
    headers, which is not supported."; a range other than ``image/jpeg`` / ``image/png`` (also
    as the ``type`` of ``multipart/related``) raises it with "The request headers are not
    acceptable". Raises :class:`BadAcceptError` when a range repeats ``transfer-syntax``.
    """
    ranges = _parse_checked(values)
    if not ranges:
        return "image/jpeg"
    if len(ranges) > 1:
        raise NotAcceptableError(MULTIPLE_ACCEPT_MESSAGE)
    media_type, _ = _requested(ranges[0])
    if media_type not in _RENDERED_TYPES or ranges[0].quality <= 0:
        raise NotAcceptableError(NOT_ACCEPTABLE_MESSAGE)
    return media_type


def negotiate_rendered_leniently(values: Sequence[str]) -> str:
    """Like :func:`negotiate_rendered`, but as clients that send ``*/*`` or several types expect.

    ``*/*`` and ``image/*`` mean ``image/jpeg``; of several ranges, the most preferred one that
    names ``image/jpeg`` or ``image/png`` (or a wildcard) wins. Raises :class:`NotAcceptableError`
    ("The request headers are not acceptable") when no range allows either.
    """
    ranges = sorted(_parse_checked(values), key=lambda r: -r.quality)
    if not ranges:
        return "image/jpeg"
    for media_range in ranges:
        if media_range.quality <= 0:
            break
        media_type, _ = _requested(media_range)
        if media_type in _RENDERED_TYPES:
            return media_type
        if media_type in (_ANY, "image/*"):
            return "image/jpeg"
    raise NotAcceptableError(NOT_ACCEPTABLE_MESSAGE)


def _parse_checked(values: Sequence[str]) -> list[MediaRange]:
    ranges = parse_accept(values)
    for media_range in ranges:
        if sum(name == "transfer-syntax" for name, _ in media_range.params) > 1:
            raise BadAcceptError(DUPLICATE_TRANSFER_SYNTAX_MESSAGE)
    return ranges


def _requested(media_range: MediaRange) -> tuple[str, bool]:
    """The media type asked for and whether it is asked for as multipart."""
    if media_range.media_type == "multipart/related":
        return (media_range.param("type") or "").strip().lower(), True
    return media_range.media_type, False


def _negotiate(values: Sequence[str], offers: tuple[_Offer, ...]) -> AcceptedMedia:
    chosen: AcceptedMedia | None = None
    chosen_quality = 0.0
    for media_range in sorted(_parse_checked(values), key=lambda r: -r.quality):
        if media_range.quality <= 0:
            break
        accepted = _match(media_range, offers)
        if accepted is None:
            continue
        if chosen is None:
            chosen, chosen_quality = accepted, media_range.quality
        elif media_range.quality == chosen_quality and media_range.param("transfer-syntax") == "*":
            chosen = accepted
    if chosen is None:
        raise NotAcceptableError(NOT_ACCEPTABLE_MESSAGE)
    return chosen


def _match(media_range: MediaRange, offers: tuple[_Offer, ...]) -> AcceptedMedia | None:
    media_type, multipart = _requested(media_range)
    transfer_syntax = media_range.param("transfer-syntax")
    for offer in offers:
        if offer.requested != media_type or multipart not in offer.payloads:
            continue
        if transfer_syntax and transfer_syntax not in offer.syntaxes:
            continue
        # "*/*" is always answered with a multipart response.
        return AcceptedMedia(
            offer.produces, multipart or offer.requested == _ANY, transfer_syntax or offer.default_syntax
        )
    return None
