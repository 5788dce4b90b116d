"""The audiences a token may name: each configured one, with and without its trailing slash."""

from __future__ import annotations

from collections.abc import Iterable


def accepted_audiences(audiences: Iterable[str]) -> list[str]:
    """Each audience with and without its trailing slash."""
    accepted = []
    for audience in audiences:
        bare = audience.rstrip("/")
        accepted += [bare, bare + "/"]
    return accepted
