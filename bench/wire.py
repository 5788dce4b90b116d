"""A lean HTTP/1.1 client for timed GET requests: one persistent connection, answers read into a reused buffer.

A viewer's HTTP stack is native code and costs it next to nothing per frame. Python's http.client
spends about 0.8 ms of CPU on each 0.5 MB frame (reading, copying and parsing the answer), more than
either server spends sending it; with the client on the same two cores, frames per second would
measure the client. This one spends about 0.1 ms: it sends each request in one call and receives
the answer straight into a buffer it keeps.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

_HEADER_END = b"\r\n\r\n"


class WireError(RuntimeError):
    """The server closed the connection or sent something this client does not read."""


@dataclass
class Answer:
    """A response: status, headers (lower-case names) and the body, ``buffer[start:end]``.

    ``buffer`` is the connection's own: the body is valid until the next request on the connection.
    """

    status: int
    headers: dict[str, str]
    buffer: bytearray
    start: int
    end: int

    @property
    def body(self) -> memoryview:
        """The body, without copying it."""
        return memoryview(self.buffer)[self.start : self.end]

    def content(self) -> bytes:
        """A copy of the body."""
        return bytes(self.buffer[self.start : self.end])


class WireConnection:
    """One persistent connection to ``host:port`` for GET requests answered with a Content-Length or chunked."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = bytearray(1 << 20)
        self.filled = 0  # bytes of the buffer that hold data received and not yet consumed

    def __enter__(self) -> WireConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def get(self, path: str, headers: dict[str, str]) -> Answer:
        """Sends ``GET path`` with ``headers`` and reads the whole answer."""
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.filled = 0
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.address[0]}:{self.address[1]}\r\n{lines}\r\n".encode())
        while (header_end := self.buffer.find(_HEADER_END, 0, self.filled)) < 0:
            self._receive()
        head = self.buffer[:header_end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        answer_headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        start = header_end + len(_HEADER_END)
        if "chunked" in answer_headers.get("transfer-encoding", "").lower():
            end, message_end = self._dechunk(start)
        else:
            end = message_end = start + (0 if status in (204, 304) else int(answer_headers.get("content-length", "0")))
            self._reserve(end)
            while self.filled < end:
                self._receive()
        if self.filled != message_end:
            raise WireError("The server sent more than the answer to the request.")
        self.filled = 0
        if answer_headers.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, answer_headers, self.buffer, start, end)

    def _receive(self) -> None:
        if self.filled == len(self.buffer):
            self._reserve(len(self.buffer) * 2)
        received = self.sock.recv_into(memoryview(self.buffer)[self.filled :])
        if not received:
            raise WireError("The server closed the connection in the middle of an answer.")
        self.filled += received

    def _reserve(self, size: int) -> None:
        if size > len(self.buffer):
            self.buffer.extend(bytes(size - len(self.buffer)))

    def _dechunk(self, position: int) -> tuple[int, int]:
        """Reads a chunked body from ``position``, moving its data together there; returns where the data
        ends and where the message ends."""
        end = position
        while True:
            while (line_end := self.buffer.find(b"\r\n", position, self.filled)) < 0:
                self._receive()
            size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
            if size == 0:
                while (trailer_end := self.buffer.find(_HEADER_END, line_end, self.filled)) < 0:
                    self._receive()
                return end, trailer_end + len(_HEADER_END)
            data_start = line_end + 2
            while self.filled < data_start + size + 2:
                self._receive()
            self.buffer[end : end + size] = self.buffer[data_start : data_start + size]
            end += size
            position = data_start + size + 2
