"""Streaming multipart/related reader and writer."""

import random
from collections.abc import AsyncIterator, Iterable

import pytest

from azure_dicom_emulator.dicom.multipart import (
    MAX_HEADER_BYTES,
    MultipartError,
    Part,
    closing_delimiter,
    iter_parts,
    new_boundary,
    parse_media_type,
    part_header,
)

BOUNDARY = "b0undary-1234"
DICOM = "application/dicom"


async def chunked(body: bytes, sizes: Iterable[int] | None = None) -> AsyncIterator[bytes]:
    """Yield ``body`` in pieces of the given sizes (the last size repeats), whole by default."""
    sizes = list(sizes or [len(body) or 1])
    position = 0
    index = 0
    while position < len(body):
        size = sizes[min(index, len(sizes) - 1)]
        yield body[position : position + size]
        position += size
        index += 1


async def collect(chunks: AsyncIterator[bytes], boundary: str = BOUNDARY) -> list[tuple[Part, bytes]]:
    parts = []
    async for part, body in iter_parts(chunks, boundary):
        parts.append((part, b"".join([piece async for piece in body])))
    return parts


def encode(payloads: list[bytes], boundary: str = BOUNDARY, content_type: str = DICOM) -> bytes:
    pieces = [part_header(boundary, content_type, i == 0) + p for i, p in enumerate(payloads)]
    return b"".join(pieces) + closing_delimiter(boundary)


def payloads_of(parts: list[tuple[Part, bytes]]) -> list[bytes]:
    return [payload for _, payload in parts]


# Writing


def test_writer_is_byte_exact():
    body = encode([b"one", b"two"], "xyz", "application/dicom; transfer-syntax=*")
    assert body == (
        b"--xyz\r\nContent-Type: application/dicom; transfer-syntax=*\r\n\r\none"
        b"\r\n--xyz\r\nContent-Type: application/dicom; transfer-syntax=*\r\n\r\ntwo"
        b"\r\n--xyz--\r\n"
    )


def test_new_boundary_is_fresh_uuid_text():
    first, second = new_boundary(), new_boundary()
    assert first != second
    assert len(first) == 36 and first.count("-") == 4


# Reading: framing


async def test_round_trip_keeps_headers_and_payloads():
    parts = await collect(chunked(encode([b"alpha", b"", b"gamma"])))
    assert payloads_of(parts) == [b"alpha", b"", b"gamma"]
    for part, _ in parts:
        assert part.content_type == DICOM
        assert part.headers == {"content-type": DICOM}


async def test_payload_ending_with_crlf_keeps_it():
    payloads = [b"data\r\n", b"\r\n", b"\r\n\r\n", b"x\r"]
    assert payloads_of(await collect(chunked(encode(payloads)))) == payloads


async def test_boundary_text_inside_payload_does_not_split():
    tricky = [
        f"--{BOUNDARY}".encode(),
        f"x--{BOUNDARY}--\r\n".encode(),
        f"\n--{BOUNDARY}\r\n".encode(),
        f"\r--{BOUNDARY}".encode(),
        f"\r\n--{BOUNDARY[:-1]}".encode(),
        f"\r\n-{BOUNDARY}".encode(),
    ]
    assert payloads_of(await collect(chunked(encode(tricky)))) == tricky


async def test_preamble_epilogue_and_transport_padding():
    body = (
        b"This is a preamble.\r\nIt has --lines-- of its own.\r\n"
        b"--" + BOUNDARY.encode() + b" \t \r\nContent-Type: application/dicom\r\n\r\nfirst"
        b"\r\n--" + BOUNDARY.encode() + b"\t\r\n\r\nsecond"
        b"\r\n--" + BOUNDARY.encode() + b"-- \r\nThis is the epilogue, ignored.\r\n--" + BOUNDARY.encode()
    )
    parts = await collect(chunked(body))
    assert payloads_of(parts) == [b"first", b"second"]
    assert parts[1][0] == Part(headers={}, content_type=None)


async def test_body_may_start_with_crlf_before_the_first_delimiter():
    body = b"\r\n" + encode([b"payload"])
    assert payloads_of(await collect(chunked(body))) == [b"payload"]


async def test_close_delimiter_without_trailing_crlf():
    body = encode([b"payload"])[: -len(b"\r\n")]
    assert payloads_of(await collect(chunked(body))) == [b"payload"]


@pytest.mark.parametrize(
    "body",
    [
        f"--{BOUNDARY}--".encode(),
        f"--{BOUNDARY}--\r\n".encode(),
        f"preamble\r\n--{BOUNDARY}--\r\nepilogue".encode(),
        closing_delimiter(BOUNDARY),
    ],
)
async def test_zero_parts_yield_nothing(body):
    assert await collect(chunked(body)) == []


async def test_headers_are_case_insensitive_and_unfolded():
    body = (
        f"--{BOUNDARY}\r\nCONTENT-TYPE:   application/dicom  \r\nX-Long: one\r\n  two\r\n"
        f"Content-Location: a\r\ncontent-location: b\r\n\r\npayload\r\n--{BOUNDARY}--"
    ).encode()
    [(part, payload)] = await collect(chunked(body))
    assert part.content_type == "application/dicom"
    assert part.headers == {"content-type": "application/dicom", "x-long": "one two", "content-location": "b"}
    assert payload == b"payload"


async def test_empty_chunks_are_ignored():
    body = encode([b"abc", b"def"])
    chunks = [b""] + [body[i : i + 3] for i in range(0, len(body), 3)] + [b""]

    async def with_empties():
        for chunk in chunks:
            yield chunk
            yield b""

    assert payloads_of(await collect(with_empties())) == [b"abc", b"def"]


# Reading: consumption order


async def test_unread_bodies_are_skipped():
    body = encode([b"a" * 100_000, b"b" * 10, b"c" * 5])
    seen = []
    async for part, _ in iter_parts(chunked(body, [4096]), BOUNDARY):
        seen.append(part.content_type)
    assert seen == [DICOM] * 3


async def test_partly_read_bodies_are_skipped():
    body = encode([b"a" * 100_000, b"b" * 10])
    firsts = []
    async for _, part_body in iter_parts(chunked(body, [1000]), BOUNDARY):
        firsts.append(await anext(part_body))
    assert len(firsts) == 2
    assert firsts[0] and firsts[0] == b"a" * len(firsts[0])
    assert firsts[1] == b"b" * 10


async def test_stale_body_iterator_yields_nothing():
    body = encode([b"first", b"second"])
    bodies = []
    async for _, part_body in iter_parts(chunked(body, [2]), BOUNDARY):
        bodies.append(part_body)
        if len(bodies) == 2:
            assert [piece async for piece in bodies[0]] == []
            assert b"".join([piece async for piece in bodies[1]]) == b"second"


async def test_reading_is_streaming_with_bounded_pieces():
    chunk_size = 65536
    boundary = new_boundary()
    delimiter_length = len(boundary) + 4
    pulled = 0

    async def source():
        nonlocal pulled
        yield part_header(boundary, DICOM, True)
        for i in range(200):
            pulled += 1
            yield bytes([i]) * chunk_size
        yield closing_delimiter(boundary)

    received = 0
    async for _, part_body in iter_parts(source(), boundary):
        async for piece in part_body:
            received += len(piece)
            assert len(piece) <= chunk_size + delimiter_length
            # Never more than the chunk being handed on is read ahead.
            assert pulled * chunk_size - received <= chunk_size
    assert received == 200 * chunk_size


# Reading: random chunking (property style)


def _random_payload(rng: random.Random, boundary: str) -> bytes:
    """Random bytes rich in CRs, LFs, dashes and boundary text, never holding a whole delimiter."""
    while (payload := _random_payload_candidate(rng, boundary)).find(b"\r\n--" + boundary.encode()) >= 0:
        pass
    return payload


def _random_payload_candidate(rng: random.Random, boundary: str) -> bytes:
    pieces = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.randrange(6)
        if kind == 0:
            pieces.append(rng.randbytes(rng.randint(0, 3000)))
        elif kind == 1:
            pieces.append(b"\r\n" * rng.randint(1, 3))
        elif kind == 2:
            pieces.append(b"--" + boundary.encode())
        elif kind == 3:
            pieces.append(b"\r\n--" + boundary.encode()[: rng.randint(0, len(boundary) - 1)])
        elif kind == 4:
            pieces.append(b"\r" * rng.randint(1, 5))
        else:
            pieces.append(b"\r\n-" + boundary.encode())
    if rng.random() < 0.3:
        pieces.append(b"\r\n")
    return b"".join(pieces)


def _random_sizes(rng: random.Random, total: int) -> list[int]:
    style = rng.randrange(4)
    if style == 0:
        return [1]
    if style == 1:
        return [rng.randint(1, 8) for _ in range(total)]
    if style == 2:
        return [rng.choice([1, 2, 3, 17, 64, 1000, 4096]) for _ in range(total)]
    return [rng.randint(1, 1 << 20)]


@pytest.mark.parametrize("seed", range(150))
async def test_random_bodies_and_chunkings_round_trip(seed):
    rng = random.Random(seed)
    boundary = rng.choice([BOUNDARY, new_boundary(), "x", "simple boundary"])
    payloads = [_random_payload(rng, boundary) for _ in range(rng.randint(0, 5))]
    preamble = rng.choice([b"", b"preamble\r\n", b"\r\n", b"--not-it\r\n"])
    body = preamble + encode(payloads, boundary) + rng.choice([b"", b"epilogue", b"--" + boundary.encode()])
    parts = await collect(chunked(body, _random_sizes(rng, len(body))), boundary)
    assert payloads_of(parts) == payloads


async def test_one_megabyte_chunks_and_large_parts():
    rng = random.Random(7)
    payloads = [rng.randbytes(3_000_000), rng.randbytes(10), rng.randbytes(1_500_000)]
    body = encode(payloads)
    assert payloads_of(await collect(chunked(body, [1 << 20]))) == payloads


# Reading: errors


@pytest.mark.parametrize("chunk_size", [1, 7, None])
async def test_every_truncation_is_an_error(chunk_size):
    body = encode([b"payload\r\n", b"second"])[: -len(b"\r\n")]
    for cut in range(len(body)):
        with pytest.raises(MultipartError):
            await collect(chunked(body[:cut], [chunk_size or max(cut, 1)]))


@pytest.mark.parametrize(
    "body",
    [b"", b"no boundary here at all", b"--other\r\n\r\nx\r\n--other--", f"x--{BOUNDARY}--".encode()],
)
async def test_missing_opening_boundary(body):
    with pytest.raises(MultipartError, match="opening boundary"):
        await collect(chunked(body))


async def test_truncated_body_message():
    with pytest.raises(MultipartError, match="ended before the close delimiter"):
        await collect(chunked(encode([b"payload"])[:-12]))


async def test_unterminated_headers():
    body = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n".encode()
    with pytest.raises(MultipartError, match="not terminated"):
        await collect(chunked(body, [5]))


@pytest.mark.parametrize("sizes", [[100], [1 << 20]])
async def test_header_section_too_large(sizes):
    filler = "X-Filler: " + "a" * (MAX_HEADER_BYTES + 10)
    body = f"--{BOUNDARY}\r\n{filler}\r\n\r\npayload\r\n--{BOUNDARY}--".encode()
    with pytest.raises(MultipartError, match="too large"):
        await collect(chunked(body, sizes))


async def test_malformed_header_line():
    body = f"--{BOUNDARY}\r\nnot a header\r\n\r\npayload\r\n--{BOUNDARY}--".encode()
    with pytest.raises(MultipartError, match="Malformed header"):
        await collect(chunked(body))


async def test_text_after_boundary_on_its_line():
    body = f"--{BOUNDARY}\r\n\r\none\r\n--{BOUNDARY}junk\r\n\r\ntwo\r\n--{BOUNDARY}--".encode()
    with pytest.raises(MultipartError, match="unexpected characters"):
        await collect(chunked(body))


@pytest.mark.parametrize("boundary", ["", "bøundary"])
async def test_unusable_boundary(boundary):
    with pytest.raises(MultipartError):
        await collect(chunked(b"--x--"), boundary)


# Media type parsing


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            'multipart/related; type="application/dicom"; boundary=abc',
            ("multipart/related", {"type": "application/dicom", "boundary": "abc"}),
        ),
        (
            "Multipart/Related ;TYPE=application/dicom ; Boundary = AbC",
            ("multipart/related", {"type": "application/dicom", "boundary": "AbC"}),
        ),
        ('multipart/related; boundary="a;b,c"; x=1', ("multipart/related", {"boundary": "a;b,c", "x": "1"})),
        (r'text/plain; title="say \"hi\" \\ bye"', ("text/plain", {"title": 'say "hi" \\ bye'})),
        ("application/dicom; a=1; a=2", ("application/dicom", {"a": "1"})),
        ("application/dicom; flag", ("application/dicom", {"flag": ""})),
        ("", ("", {})),
    ],
)
def test_parse_media_type(value, expected):
    assert parse_media_type(value) == expected


async def test_the_parts_end_only_once_the_whole_body_is_read():
    """The epilogue is read to the end: a body cut short after its close delimiter fails with its reader."""
    read: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        for piece in (encode([b"x"]), b"epilogue", b"to the end"):
            read.append(piece)
            yield piece

    parts = await collect(body())
    assert payloads_of(parts) == [b"x"]
    assert read[1:] == [b"epilogue", b"to the end"]

    async def cut_short() -> AsyncIterator[bytes]:
        yield encode([b"x"])
        raise ConnectionError("the client left")

    with pytest.raises(ConnectionError):
        await collect(cut_short())
