"""Attribute identifiers as clients write them: a DICOM keyword (case-sensitive) or 8 hexadecimal digits."""

from __future__ import annotations

import re

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

__all__ = [
    "dictionary_vrs",
    "is_private",
    "is_private_creator",
    "name_of",
    "parse_attribute_id",
    "path_of",
    "tag_label",
]

_HEX_TAG = re.compile(r"[0-9A-Fa-f]{8}")


def parse_attribute_id(text: str) -> int | None:
    """The tag named by ``text`` (a keyword or ``GGGGEEEE``), or ``None`` when it names none."""
    if _HEX_TAG.fullmatch(text):
        return int(text, 16)
    if not text.isidentifier():
        return None
    return tag_for_keyword(text)


def path_of(tag: int) -> str:
    """The tag as 8 uppercase hexadecimal digits."""
    return f"{tag:08X}"


def tag_label(tag: int) -> str:
    """The tag as the service's messages write it: ``(0040,a370)``."""
    return f"({tag >> 16:04x},{tag & 0xFFFF:04x})"


def name_of(tag: int) -> str:
    """The tag's keyword, or its path when the dictionary has none."""
    return keyword_for_tag(tag) or path_of(tag)


def is_private(tag: int) -> bool:
    """Whether the tag is in a private (odd) group."""
    return bool(tag >> 16 & 1)


def is_private_creator(tag: int) -> bool:
    """Whether the tag is a private creator element (gggg,0010-00FF) of an odd group."""
    return is_private(tag) and 0x0010 <= tag & 0xFFFF <= 0x00FF


def dictionary_vrs(tag: int) -> tuple[str, ...] | None:
    """The VRs the standard allows for the tag, the default first; ``None`` for tags it does not define."""
    if is_private(tag):
        return None
    try:
        text = dictionary_VR(tag)
    except KeyError:
        return None
    return tuple(vr.strip() for vr in text.split(" or "))
