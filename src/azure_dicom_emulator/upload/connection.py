"""The upload's HTTP connections: the standard library's, which hand a batch's body to the socket in one call.

``httpx`` copies a body on its way to the socket and takes a good share of the command's start-up to import;
on a machine whose cores the server also needs, both slow the upload down (bench/RESULTS.md, tools).
"""

from __future__ import annotations

import functools
import http.client
import os
import ssl
from urllib.parse import SplitResult, urlsplit

CONNECT_SECONDS = 10.0
ANSWER_SECONDS = 600.0
"""How long an answer may take: a batch of large instances may take minutes to store."""
USER_AGENT = "azure-dicom-emulator-upload"


class _AnswerTimeout:
    """Connects within CONNECT_SECONDS, then waits up to ANSWER_SECONDS for each read or write."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(ANSWER_SECONDS)  # type: ignore[attr-defined]


class _HTTPConnection(_AnswerTimeout, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_AnswerTimeout, http.client.HTTPSConnection):
    pass


def open_connection(url: str) -> http.client.HTTPConnection:
    """A persistent connection to ``url``'s host, opened with its first request and again after a close: TLS
    with checked certificates for https (``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else certifi's), through
    the proxy ``HTTPS_PROXY`` names unless ``NO_PROXY`` exempts the host."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    if parts.scheme != "https":
        return _HTTPConnection(host, port or 80, timeout=CONNECT_SECONDS)
    proxy = _proxy_for(host)
    if proxy is None:
        return _HTTPSConnection(host, port or 443, timeout=CONNECT_SECONDS, context=_tls_context())
    proxy_host, proxy_port = proxy.hostname or "", proxy.port or 8080
    connection = _HTTPSConnection(proxy_host, proxy_port, timeout=CONNECT_SECONDS, context=_tls_context())
    connection.set_tunnel(host, port or 443)
    return connection


def post(
    connection: http.client.HTTPConnection, path: str, body: bytearray, headers: dict[str, str]
) -> tuple[int, bytes, str]:
    """POSTs ``body`` and reads the answer: its status, body and ``Retry-After``. An answer the service sent
    before taking the whole body (a refusal) is read too; raises OSError or HTTPException when there is none,
    and the connection is closed then."""
    try:
        try:
            connection.request("POST", path, body=body, headers={"User-Agent": USER_AGENT, **headers})
        except OSError:
            if connection.sock is None:
                raise
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Retry-After", "")
    except (OSError, http.client.HTTPException):
        connection.close()
        raise


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One context for every connection of the command: reading the certificates is done once."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()  # OpenSSL reads both variables
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _proxy_for(host: str) -> SplitResult | None:
    import urllib.request

    proxy = urllib.request.getproxies().get("https")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return urlsplit(proxy if "://" in proxy else f"http://{proxy}")
