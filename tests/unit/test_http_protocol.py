"""The server's HTTP protocol: request bodies reach the application whole, in order, and uncopied where they can."""

from __future__ import annotations

import asyncio
import os
import socket

import uvicorn
from starlette.types import Receive, Scope, Send

from azure_dicom_emulator.runtime.http_protocol import REQUEST_BODY_BUFFER_BYTES, BodyPieces, BufferedPiecesProtocol


def test_one_piece_is_handed_over_as_it_is_and_several_are_joined():
    pieces = BodyPieces()
    first = os.urandom(1000)
    pieces += first
    assert len(pieces) == 1000 and bytes(pieces) is first
    pieces += b"more"
    assert len(pieces) == 1004 and bytes(pieces) == first + b"more"
    assert bytes(BodyPieces()) == b""


async def test_a_body_larger_than_the_buffer_arrives_whole_through_a_slow_application():
    body = os.urandom(3 * REQUEST_BODY_BUFFER_BYTES + 12345)
    received: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            received.append(message["body"])
            await asyncio.sleep(0.01)  # the socket keeps delivering meanwhile: the buffer fills and reading pauses
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=BufferedPiecesProtocol, lifespan="off", log_level="error"
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for start in range(0, len(body), 64 * 1024):
            writer.write(body[start : start + 64 * 1024])
            await writer.drain()
        answer = await reader.readuntil(b"ok")
        writer.close()
    finally:
        server.should_exit = True
        await serving
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"".join(received) == body
    assert len(received) > 1 and max(len(piece) for piece in received) <= REQUEST_BODY_BUFFER_BYTES + 256 * 1024
