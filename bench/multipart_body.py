"""multipart/related bodies of DICOM files: built in memory, streamed from disk, and parsed back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from testdata import Instance

BOUNDARY = "bench-dicom-boundary-5f0c2a"
STOW_CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
PART_HEADER = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
CLOSING = f"--{BOUNDARY}--\r\n".encode("ascii")


def build_body(files: Iterable[bytes]) -> bytes:
    """One STOW-RS request body holding every file of ``files``."""
    return b"".join(stream_parts(files))


def stream_parts(files: Iterable[bytes]) -> Iterator[bytes]:
    """The pieces of a STOW-RS body, one file at a time, so a caller can send it without holding it whole."""
    for data in files:
        yield PART_HEADER
        yield data
        yield b"\r\n"
    yield CLOSING


def stream_instances(batch: list[Instance]) -> Iterator[bytes]:
    """A STOW-RS body of ``batch``, reading each file from disk only when it is about to be sent."""
    return stream_parts(instance.read() for instance in batch)


def body_length(batch: list[Instance]) -> int:
    """The exact byte length of the STOW-RS body of ``batch``."""
    framing = len(PART_HEADER) + len(b"\r\n")
    return sum(instance.size + framing for instance in batch) + len(CLOSING)


def first_part(body: bytes, content_type: str) -> bytes:
    """The payload of the first part of a multipart response, or ``body`` itself if it is not multipart."""
    start, end = first_part_span(body, 0, len(body), content_type)
    return body[start:end]


def first_part_span(data: bytes | bytearray, start: int, end: int, content_type: str) -> tuple[int, int]:
    """Where the payload of the first part of the multipart body ``data[start:end]`` lies, found without
    copying the body; the whole of it if it is not multipart."""
    if not content_type.lower().startswith("multipart/"):
        return start, end
    boundary = content_boundary(content_type)
    opening = data.index(b"--" + boundary, start, end)
    payload_start = data.index(b"\r\n\r\n", opening, end) + 4
    return payload_start, data.index(b"\r\n--" + boundary, payload_start, end)


def content_boundary(content_type: str) -> bytes:
    """The boundary parameter of a multipart Content-Type header."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"').encode("ascii")
    raise ValueError(f"no boundary in {content_type!r}")
