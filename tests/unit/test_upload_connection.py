"""The upload's connections: an answer sent before the whole body was taken, TLS and proxies."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from azure_dicom_emulator.upload.connection import ANSWER_SECONDS, open_connection, post

REFUSAL = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nConnection: close\r\n\r\nUnauthorized"


@pytest.fixture
def refusing_server():
    """A loopback server that answers 401 after the headers, reads none of the body and closes (a reset)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        client, _ = listener.accept()
        received = b""
        while b"\r\n\r\n" not in received:
            received += client.recv(65536)
        client.sendall(REFUSAL)
        time.sleep(0.3)
        client.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v2/studies"
    thread.join(5)
    listener.close()


def test_an_answer_sent_before_the_body_was_all_taken_is_read_and_not_taken_for_a_lost_connection(refusing_server):
    connection = open_connection(refusing_server)
    try:
        status, body, retry_after = post(connection, "/v2/studies", bytearray(64 * 1024**2), {})
    finally:
        connection.close()

    assert (status, body, retry_after) == (401, b"Unauthorized", "")


def test_a_connection_waits_for_answers_longer_than_for_the_connect():
    listener = socket.create_server(("127.0.0.1", 0))
    connection = open_connection(f"http://127.0.0.1:{listener.getsockname()[1]}/v2")
    try:
        connection.connect()
        assert connection.sock.gettimeout() == ANSWER_SECONDS
    finally:
        connection.close()
        listener.close()


def test_an_https_service_goes_through_the_proxy_the_environment_names_unless_no_proxy_exempts_it(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "exempt.example")

    proxied = open_connection("https://contoso-dicom.dicom.azurehealthcareapis.com/v2")
    exempt = open_connection("https://exempt.example/v2")
    plain = open_connection("http://127.0.0.1:8080/v2")

    assert (proxied.host, proxied.port) == ("proxy.example", 3128)
    assert (proxied._tunnel_host, proxied._tunnel_port) == ("contoso-dicom.dicom.azurehealthcareapis.com", 443)
    assert (exempt.host, exempt.port, exempt._tunnel_host) == ("exempt.example", 443, None)
    assert (plain.host, plain.port) == ("127.0.0.1", 8080)
