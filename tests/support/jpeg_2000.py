"""Reading a JPEG 2000 codestream's main header: what the encoder wrote, marker by marker."""

from __future__ import annotations

import struct

SOC, SIZ, COD = 0xFF4F, 0xFF51, 0xFF52
# Offsets in the COD marker segment, counted from its FF52 marker: marker (2), Lcod (2), Scod (1), SGcod
# (progression 1, layers 2, multiple component transform 1), SPcod (levels 1, code-block width and height,
# code-block style, wavelet transform 1).
COD_MCT, COD_LEVELS, COD_TRANSFORM = 8, 9, 13
REVERSIBLE_5_3 = 1


def cod_segment(codestream: bytes) -> bytes:
    """The COD marker segment of the codestream's main header (SOC, then SIZ, then segments up to COD)."""
    assert struct.unpack_from(">H", codestream, 0)[0] == SOC, "no SOC marker"
    assert struct.unpack_from(">H", codestream, 2)[0] == SIZ, "SIZ does not follow SOC"
    position = 2
    while position + 4 <= len(codestream):
        marker, length = struct.unpack_from(">HH", codestream, position)
        if marker == COD:
            return codestream[position : position + 2 + length]
        position += 2 + length
    raise AssertionError("no COD marker segment in the main header")


def decomposition_levels(codestream: bytes) -> int:
    """The number of wavelet decomposition levels the codestream's COD marker segment declares."""
    return cod_segment(codestream)[COD_LEVELS]


def most_decompositions(rows: int, columns: int) -> int:
    """What an image of this size allows: floor(log2) of its smaller side, at most OpenJPEG's 32."""
    smaller, levels = min(rows, columns), 0
    while smaller >= 2 ** (levels + 1):
        levels += 1
    return min(32, levels)
