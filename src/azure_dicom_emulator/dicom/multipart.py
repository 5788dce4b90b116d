"""Streaming ``multipart/related`` bodies (RFC 2046 framing), in and out.

Reading: :func:`iter_parts` walks a request body given as an async iterator of byte chunks and
yields each part's headers with an async iterator over its payload. Memory stays bounded by about
one chunk plus the delimiter length, every byte is scanned once with ``bytes.find``, and no payload
byte is copied: a chunk that holds no delimiter is handed on as the very same ``bytes`` object,
and a piece of a chunk as a ``memoryview`` into it.

Writing: a response is ``part_header(first=True) + body + part_header(...) + body + ... +
closing_delimiter``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_HEADER_BYTES = 16 * 1024
"""Largest header section accepted for one part."""

_MAX_BOUNDARY_LINE_PADDING = 1024
_CRLF = b"\r\n"


class MultipartError(ValueError):
    """The body is not a well-formed multipart/related body."""


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a media type such as ``multipart/related; type="application/dicom"; boundary=x``.

    Returns the lower-cased ``type/subtype`` and its parameters: names lower-cased, values with
    surrounding whitespace removed and quoted strings unquoted (backslash escapes resolved). When a
    parameter is repeated the first occurrence wins. Never raises: malformed input yields whatever
    could be read (possibly an empty media type), for the caller to reject.
    """
    media_type, params = split_media_type(value)
    found: dict[str, str] = {}
    for name, param_value in params:
        found.setdefault(name, param_value)
    return media_type, found


def split_media_type(value: str) -> tuple[str, list[tuple[str, str]]]:
    """Like :func:`parse_media_type` but keep every parameter, repeated ones included, in order."""
    pieces = split_outside_quotes(value, ";")
    params = []
    for piece in pieces[1:]:
        name, _, param_value = piece.partition("=")
        name = name.strip().lower()
        if name:
            params.append((name, _unquote(param_value)))
    return pieces[0].strip().lower(), params


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split ``text`` at every ``separator`` character that is not inside a quoted string."""
    pieces = []
    start = 0
    quoted = False
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == separator:
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])
    return pieces


_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return _QUOTED_PAIR.sub(r"\1", value[1:-1])
    return value


@dataclass
class Part:
    """One part of a multipart body, as announced by its header section."""

    headers: dict[str, str]
    """Header values by lower-cased header name (a repeated header keeps its last value)."""
    content_type: str | None
    """The part's ``Content-Type`` header value, or ``None`` if the part has none."""


async def iter_parts(
    chunks: AsyncIterator[bytes], boundary: str
) -> AsyncIterator[tuple[Part, AsyncIterator[bytes | memoryview]]]:
    """Yield ``(part, body)`` for each part of a ``multipart/related`` body, in order.

    ``body`` iterates over the part's payload bytes exactly as sent: only the CRLF that belongs
    to the following delimiter is removed. Consume a body before asking for the next part;
    whatever is left of it is skipped when the next part is requested. A preamble before the
    first delimiter and an epilogue after the close delimiter are ignored, and the body may start
    directly with ``--boundary``. A body holding only the close delimiter yields nothing. The
    epilogue is read to the end of ``chunks`` before the iteration ends: the parts are complete
    only once the whole body is (a request cut short must fail, not store what it announced).

    Raises :class:`MultipartError` when no opening boundary is found, a header section is not
    terminated or exceeds :data:`MAX_HEADER_BYTES`, a boundary line carries anything but
    whitespace after the boundary, or the body ends before the close delimiter.
    """
    reader = _Reader(chunks, boundary)
    await reader.skip_preamble()
    while not await reader.at_close_delimiter():
        part = await reader.read_headers()
        yield part, reader.body()
        await reader.skip_body()
    await reader.skip_epilogue()


class _Reader:
    """Framing state shared by :func:`iter_parts` and the body iterators it hands out.

    ``_data[_pos:]`` holds the bytes received but not yet consumed.
    """

    def __init__(self, chunks: AsyncIterator[bytes], boundary: str) -> None:
        if not boundary:
            raise MultipartError("The multipart boundary is empty.")
        try:
            self._delimiter = _CRLF + b"--" + boundary.encode("ascii")
        except UnicodeEncodeError:
            raise MultipartError("The multipart boundary is not ASCII.") from None
        self._chunks = aiter(chunks)
        # A virtual CRLF lets a body that starts with "--boundary" match the delimiter.
        self._data = _CRLF
        self._pos = 0
        self._part_number = 0
        self._in_body = False

    async def _receive(self) -> bool:
        """Append the next non-empty chunk to the unconsumed bytes; False at the end of the body."""
        async for chunk in self._chunks:
            if chunk:
                rest = self._data[self._pos :]
                self._data = rest + chunk if rest else chunk
                self._pos = 0
                return True
        return False

    async def skip_epilogue(self) -> None:
        """Read what follows the close delimiter, to the end of the body."""
        while await self._receive():
            self._pos = len(self._data)

    async def skip_preamble(self) -> None:
        keep = len(self._delimiter) - 1
        while (found := self._data.find(self._delimiter, self._pos)) < 0:
            self._pos = max(self._pos, len(self._data) - keep)
            if not await self._receive():
                raise MultipartError("The multipart body does not contain the opening boundary.")
        self._pos = found + len(self._delimiter)

    async def at_close_delimiter(self) -> bool:
        """Consume the rest of a boundary line; True if it was the close delimiter."""
        while len(self._data) - self._pos < 2:
            await self._receive_or_truncated()
        if self._data.startswith(b"--", self._pos):
            return True
        while (line_end := self._data.find(_CRLF, self._pos)) < 0:
            if len(self._data) - self._pos > _MAX_BOUNDARY_LINE_PADDING:
                raise MultipartError("A multipart boundary line is not terminated by CRLF.")
            await self._receive_or_truncated()
        if self._data[self._pos : line_end].strip(b" \t"):
            raise MultipartError("A multipart boundary is followed by unexpected characters.")
        self._pos = line_end + 2
        return False

    async def read_headers(self) -> Part:
        while len(self._data) - self._pos < 2:
            await self._receive_or_truncated()
        if self._data.startswith(_CRLF, self._pos):
            header_end, body_start = self._pos, self._pos + 2
        else:
            while (header_end := self._data.find(b"\r\n\r\n", self._pos)) < 0:
                if len(self._data) - self._pos > MAX_HEADER_BYTES:
                    raise MultipartError("The header section of a multipart part is too large.")
                if not await self._receive():
                    raise MultipartError("The header section of a multipart part is not terminated.")
            body_start = header_end + 4
        if header_end - self._pos > MAX_HEADER_BYTES:
            raise MultipartError("The header section of a multipart part is too large.")
        headers = _parse_headers(self._data[self._pos : header_end])
        self._pos = body_start
        self._part_number += 1
        self._in_body = True
        return Part(headers=headers, content_type=headers.get("content-type"))

    def body(self) -> AsyncIterator[bytes | memoryview]:
        """An iterator over the current part's payload that stops once the reader moves on."""
        return self._body(self._part_number)

    async def _body(self, part_number: int) -> AsyncIterator[bytes | memoryview]:
        while self._part_number == part_number and (piece := await self.next_body_piece()) is not None:
            yield piece

    async def skip_body(self) -> None:
        while await self.next_body_piece() is not None:
            pass

    async def next_body_piece(self) -> bytes | memoryview | None:
        """The next run of payload bytes of the current part, or None once its delimiter is consumed."""
        delimiter = self._delimiter
        while self._in_body:
            data, start = self._data, self._pos
            found = data.find(delimiter, start)
            if found >= 0:
                self._pos = found + len(delimiter)
                self._in_body = False
                return _piece(data, start, found) if found > start else None
            end = len(data) - _partial_delimiter_length(data, start, delimiter)
            if end > start:
                self._pos = end
                return _piece(data, start, end)
            await self._receive_or_truncated()
        return None

    async def _receive_or_truncated(self) -> None:
        if not await self._receive():
            raise MultipartError("The multipart body ended before the close delimiter.")


def _piece(data: bytes, start: int, end: int) -> bytes | memoryview:
    """``data[start:end]`` without copying: the chunk itself when whole, else a view into it."""
    if start == 0 and end == len(data):
        return data
    return memoryview(data)[start:end]


def _partial_delimiter_length(data: bytes, start: int, delimiter: bytes) -> int:
    """Length of the longest tail of ``data[start:]`` that could be the beginning of a delimiter."""
    position = data.find(b"\r", max(start, len(data) - len(delimiter) + 1))
    while position >= 0:
        if delimiter.startswith(data[position:]):
            return len(data) - position
        position = data.find(b"\r", position + 1)
    return 0


def _parse_headers(block: bytes) -> dict[str, str]:
    lines: list[str] = []
    for line in block.decode("latin-1").split("\r\n") if block else ():
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MultipartError(f"Malformed header line in a multipart part: {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def new_boundary() -> str:
    """A fresh random boundary (a UUID4 string), unlikely to occur in any payload."""
    return str(uuid.uuid4())


def part_header(boundary: str, content_type: str, first: bool) -> bytes:
    """Bytes to write before a part's payload: its delimiter line and ``Content-Type`` header.

    Every part but the first starts with the CRLF that ends the previous payload.
    """
    lead = b"--" if first else b"\r\n--"
    return lead + f"{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1")


def closing_delimiter(boundary: str) -> bytes:
    """Bytes that end a multipart body: CRLF, the close delimiter ``--boundary--`` and a CRLF."""
    return f"\r\n--{boundary}--\r\n".encode("latin-1")
