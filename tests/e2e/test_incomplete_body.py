"""End to end over a raw socket: a STOW-RS request whose body stops short of its Content-Length stores nothing,
even when the closing delimiter already arrived (Azure reads the whole request before it stores)."""

from __future__ import annotations

import socket

import httpx
import pytest

from harness.factories import make_dataset, multipart, to_bytes

DICOM_JSON = "application/dicom+json"
CONTENT_TYPE = 'multipart/related; type="application/dicom"; boundary=test-boundary'


def request_head(server, length: int) -> bytes:
    return (
        f"POST /v2/studies HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAccept: {DICOM_JSON}\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_short_of_its_content_length_is_not_stored_though_its_closing_delimiter_came(server):
    ds = make_dataset()
    body = multipart([to_bytes(ds)])
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_head(server, len(body) + 64) + body)
        sock.settimeout(3)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # no answer: the server waits for the 64 bytes still announced
    # The client gave up and closed: nothing it sent may be stored.
    found = httpx.get(f"{server.url}/v2/studies?StudyInstanceUID={ds.StudyInstanceUID}", headers={"Accept": DICOM_JSON})
    assert found.status_code == 204


def test_the_same_body_whole_is_stored_200(server):
    ds = make_dataset()
    body = multipart([to_bytes(ds)])
    epilogue = b"\r\nan epilogue after the closing delimiter\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_head(server, len(body) + len(epilogue)) + body + epilogue)
        sock.settimeout(30)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ")
    found = httpx.get(f"{server.url}/v2/studies?StudyInstanceUID={ds.StudyInstanceUID}", headers={"Accept": DICOM_JSON})
    assert found.status_code == 200
