"""Errors of decoding, encoding and rendering pixel data, in a module light enough for any process to import."""

from __future__ import annotations


class TranscodeError(ValueError):
    """The file or frame cannot be converted to the requested transfer syntax."""


class RenderError(ValueError):
    """The frame cannot be rendered."""
