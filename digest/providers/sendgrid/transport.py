"""One keep-alive HTTPS connection to SendGrid's API, for mail/send.

The official client (python_http_client over urllib) opens a new connection
for every request and formats the whole body into a debug string each time,
logging on or off: for a 500 KB body of 1,000 personalizations that was a
fifth of a send's time. This posts the bytes as they are, on one connection,
and sorts what can go wrong by what it means for the batch:

* :class:`Unreachable`: no connection was made, so nothing was sent; retrying is safe.
* :class:`NoAnswer`: the request went out (or may have) and no answer came in
  time, or the connection broke: SendGrid may have taken it.

A connection idle for longer than :data:`REUSE_SECONDS` is not reused: the
server may have closed it, and a request written into a closed connection
would be ambiguous.
"""

from __future__ import annotations

import http.client
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

REUSE_SECONDS = 20.0
USER_AGENT = "digest (SendGrid v3 mail/send)"


class Unreachable(Exception):
    """No connection to SendGrid: nothing was sent."""


class NoAnswer(Exception):
    """The request may have reached SendGrid, but no answer came."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class Connection:
    """Posts JSON bodies to one API host over a kept-alive connection (HTTPS, or HTTP for a local fake)."""

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._connection: http.client.HTTPConnection | None = None
        self._last_used = 0.0
        self._proxy_url = _proxy_for(parts.scheme, self.host)

    def post(self, path: str, body: bytes) -> Answer:
        """POST ``body`` to ``path``; raises :class:`Unreachable` or :class:`NoAnswer`."""
        connection = self._connect()
        target = self.prefix + path
        if self._proxy_url and not self.https:
            target = f"http://{self.host}:{self.port}{target}"  # a plain-HTTP proxy takes the whole address
        try:
            connection.request("POST", target, body=body, headers=self.headers)
            response = connection.getresponse()
            data = response.read()
        except TimeoutError as exc:
            self.close()
            raise NoAnswer(str(exc) or "timed out", timed_out=True) from None
        except (OSError, http.client.HTTPException) as exc:
            # Reset, broken pipe, a closed connection: the request may have arrived.
            self.close()
            raise NoAnswer(f"{type(exc).__name__}: {exc}", timed_out=False) from None
        self._last_used = time.monotonic()
        if response.will_close:
            self.close()
        return Answer(response.status, response.headers, data)

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is not None and time.monotonic() - self._last_used <= REUSE_SECONDS:
            return self._connection
        self.close()
        connection: http.client.HTTPConnection
        host, port = self.host, self.port
        if self._proxy_url:
            proxy = urlsplit(self._proxy_url)
            host, port = proxy.hostname or "", proxy.port or 80
        if self.https:
            connection = http.client.HTTPSConnection(host, port, timeout=self.timeout)
            if self._proxy_url:
                connection.set_tunnel(self.host, self.port)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            connection.connect()
        except OSError as exc:  # refused, unreachable, timed out, TLS refused
            connection.close()
            raise Unreachable(str(exc) or type(exc).__name__) from None
        self._connection = connection
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy urllib would use for this host (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), as the official client did."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy
