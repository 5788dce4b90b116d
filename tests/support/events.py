"""Test helpers for events: a webhook receiver on loopback, and waiting for deliveries."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

import pytest

from harness.azurite import AZURITE_KEY
from harness.loopback import free_port


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Polls ``condition`` until it holds; fails the test if it still does not after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.05)


class LoopbackServer:
    """An HTTP server of the tests' own on a free loopback port, answering with a handler class in threads."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class Receiver(LoopbackServer):
    """A webhook endpoint that answers Event Grid's and CloudEvents' handshakes and records what it gets.

    ``status`` is what notifications get (200 unless a test changes it); ``hang`` makes it never
    answer them; ``stop()`` and ``start()`` take it away and bring it back on the same port.
    """

    def __init__(self, validate: str = "sync") -> None:
        super().__init__()
        self.validate = validate  # "sync": echo the code; "manual": 200 without it; "refuse": 403
        self.status = 200
        self.hang = threading.Event()
        self.events: list[dict] = []
        self.arrivals: list[float] = []  # time.time() at which each event arrived
        self.requests: list[tuple[str, dict, object]] = []  # (method, headers, body)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_OPTIONS(self) -> None:
                receiver._record("OPTIONS", dict(self.headers), None)
                self.send_response(403 if receiver.validate == "refuse" else 200)
                if receiver.validate != "refuse":
                    self.send_header("WebHook-Allowed-Origin", self.headers.get("WebHook-Request-Origin", ""))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver._record("POST", headers, body)
                if headers.get("aeg-event-type") == "SubscriptionValidation":
                    self._answer_validation(body[0]["data"]["validationCode"])
                    return
                if receiver.hang.is_set():
                    time.sleep(5)
                    return
                status = receiver.status
                if status in range(200, 300):
                    received = body if isinstance(body, list) else [body]
                    with receiver.lock:
                        receiver.events.extend(received)
                        receiver.arrivals.extend([time.time()] * len(received))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer_validation(self, code: str) -> None:
                if receiver.validate == "refuse":
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = json.dumps({"validationResponse": code} if receiver.validate == "sync" else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._serve(Handler)
        return self

    def _record(self, method: str, headers: dict, body: object) -> None:
        with self.lock:
            self.requests.append((method, headers, body))

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.events)

    def validation_requests(self) -> list[tuple[str, dict, object]]:
        with self.lock:
            return [
                request
                for request in self.requests
                if request[0] == "OPTIONS" or request[1].get("aeg-event-type") == "SubscriptionValidation"
            ]


def sequence_numbers(events: list[dict]) -> list[int]:
    """The ``data.sequenceNumber`` of each event, in order."""
    return [event["data"]["sequenceNumber"] for event in events]


class QueueStandIn(LoopbackServer):
    """A storage queue service that takes every message except the ones ``refuse`` picks, which get a 500.

    Azurite cannot be made to fail one message, so this stands in for it where a test needs that.
    ``refuse`` gets how many messages were posted before this one (refused ones included).
    """

    def __init__(self, refuse: Callable[[int], bool]) -> None:
        super().__init__()
        self.refuse = refuse
        self.posted = 0
        self.events: list[dict] = []  # the events of the messages taken, in the order they were taken
        self.lock = threading.Lock()

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{self.port}/devstoreaccount1;"
        )

    def start(self) -> QueueStandIn:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_PUT(self) -> None:  # the queue created
                self._answer(201)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                text = ElementTree.fromstring(body).findtext("MessageText")
                with service.lock:
                    refused = service.refuse(service.posted)
                    service.posted += 1
                    if not refused:
                        service.events.append(json.loads(base64.b64decode(text)))
                self._answer(500 if refused else 201)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._serve(Handler)
        return self

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.events)
