"""Fetching a feed over HTTP(S): the one way digest reads a URL (`digest articles import`, the studio).

- Only http:// and https://, at the first address and at every redirect (at most five).
- The host name is looked up once, each address it gives is judged by
  :mod:`digest.netpolicy`, and the connection goes to an address that was
  judged; the Host header, the TLS server name and the certificate check
  still use the name. A name that answers differently a moment later (DNS
  rebinding) therefore gains nothing.
- One deadline for the whole fetch (look-ups, connections, redirects, every
  read), enforced by closing the socket when it passes, so a server that
  sends a byte now and then cannot hold an import; and a size cap.
- A connection refused, reset, closed early or too slow gets the same
  message, so the messages cannot be used to tell which ports answer.

Proxies named in the environment (``HTTP_PROXY``…) are not used: a proxy
would look the name up itself, after our check.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from digest.errors import InputError
from digest.netpolicy import AllowList, IPAddress, internal_kind

MAX_FETCH_BYTES = 10 * 1024 * 1024
FETCH_DEADLINE = 30.0  # seconds for the whole fetch, redirects included
MAX_REDIRECTS = 5
USER_AGENT = "safe-digest/0.1 (+feed import)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f]")
_URL_SAFE = "/%:@!$&'()*+,;=~-._"  # what stays as written in a path or query; anything else is %-encoded


class _Expired(Exception):
    """The fetch's deadline passed."""


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise _Expired
        return left


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str  # the path and query, as sent


def fetch_url(
    url: str, *, allow: AllowList | None = None, deadline: float = FETCH_DEADLINE, limit: int = MAX_FETCH_BYTES
) -> bytes:
    """GET ``url`` and return the body; any problem is an :class:`InputError` naming ``url``.

    ``allow`` lets internal hosts through (``[sources] allow_hosts``);
    ``deadline`` bounds the whole fetch in seconds, ``limit`` the body in bytes.
    """
    clock = _Deadline(deadline)
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        try:
            target = _target(current)
            answer = _get(target, _permitted(target, allow or AllowList(), clock), clock, limit)
        except InputError as exc:
            reason = f"redirected to {current}, but {exc.reason}" if hop else exc.reason
            raise InputError(reason, path=url) from None
        status, reason, location, body = answer
        if status in _REDIRECTS and location:
            current = urljoin(current, location)
            continue
        if not 200 <= status < 300:
            raise InputError(f"the server answered {status} {reason}".rstrip(), path=url)
        return body
    raise InputError(f"the server redirected more than {MAX_REDIRECTS} times", path=url)


def _target(url: str) -> _Target:
    if _UNSAFE_IN_URL.search(url):
        raise InputError("the address holds a space or a control character")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"{url} is not an http:// or https:// address; only those are fetched")
    if parts.username is not None or parts.password is not None:
        raise InputError("addresses with a user name or password are not fetched")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise InputError("the address's host or port cannot be read") from None
    if not host:
        raise InputError("the address has no host name")
    # Non-ASCII letters in the path or query are sent %-encoded, as a browser sends them.
    path = quote(parts.path or "/", safe=_URL_SAFE)
    return _Target(scheme, host, port, path + (f"?{quote(parts.query, safe=_URL_SAFE + '?')}" if parts.query else ""))


def _permitted(target: _Target, allow: AllowList, clock: _Deadline) -> list[str]:
    """The addresses of the target's host that may be connected to; refuse when there are none."""
    refused: tuple[IPAddress, str] | None = None
    permitted = []
    for address in _resolve(target, clock):
        kind = internal_kind(address)
        if kind is None or allow.permits(target.host, address):
            permitted.append(str(address))
        elif refused is None:
            refused = (address, kind)
    if not permitted and refused is not None:
        address, kind = refused
        article = "an" if kind[0] in "aeiou" else "a"
        raise InputError(
            f"{target.host} is {article} {kind} address ({address}); feeds are fetched only from public addresses "
            "unless [sources] allow_hosts in digest.toml names the host or its network"
        )
    return permitted


def _resolve(target: _Target, clock: _Deadline) -> list[IPAddress]:
    """The host's addresses, looked up once (in a thread, so the deadline holds while DNS is slow)."""
    try:
        return [ipaddress.ip_address(target.host)]
    except ValueError:
        pass
    found: list[IPAddress] = []

    def look_up() -> None:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            found.extend(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        except (OSError, ValueError):
            pass  # not found: said below

    worker = threading.Thread(target=look_up, name="digest-fetch-dns", daemon=True)
    worker.start()
    try:
        worker.join(clock.remaining())
    except _Expired:
        pass
    if worker.is_alive():
        raise _no_answer(target)
    if not found:
        raise InputError(f"could not find the server {target.host}")
    return found


def _no_answer(target: _Target) -> InputError:
    # One message for refused, reset, closed early, cut off by the deadline and timed out alike.
    return InputError(
        f"could not fetch the feed: no complete answer from {target.host} (refused, cut off, or slower than allowed)"
    )


def _get(target: _Target, addresses: list[str], clock: _Deadline, limit: int) -> tuple[int, str, str, bytes]:
    """(status, reason, Location, body) of one GET; the body is read only for a 2xx answer."""
    connection = _Connection(target, addresses, clock)
    try:
        with _cut_off_at(clock, connection):
            connection.request(
                "GET",
                target.path,
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "application/rss+xml, application/atom+xml, application/xml, text/xml;q=0.9, */*;q=0.5",
                    "Accept-Encoding": "identity",
                },
            )
            response = connection.getresponse()
            location = response.getheader("Location") or ""
            body = _body(response, limit) if 200 <= response.status < 300 else b""
            clock.remaining()  # a body cut short by the deadline is no body
            return response.status, response.reason, location, body
    except ssl.SSLCertVerificationError:
        raise InputError(f"could not fetch the feed: {target.host}'s HTTPS certificate cannot be trusted") from None
    except (OSError, http.client.HTTPException, _Expired):
        raise _no_answer(target) from None
    finally:
        connection.close()


def _body(response: http.client.HTTPResponse, limit: int) -> bytes:
    declared = response.getheader("Content-Length") or ""
    if declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    if response.length:  # fewer bytes than Content-Length said: the connection closed early
        raise http.client.IncompleteRead(b"".join(chunks), response.length)
    return b"".join(chunks)


def _too_large(limit: int) -> InputError:
    return InputError(f"the feed is larger than {limit // (1024 * 1024)} MB")


class _Connection(http.client.HTTPConnection):
    """HTTP(S) to addresses already judged; the URL's host name goes in the Host header, TLS name and check."""

    def __init__(self, target: _Target, addresses: list[str], clock: _Deadline) -> None:
        super().__init__(target.host, target.port, timeout=clock.seconds)
        self._addresses = addresses
        self._clock = clock
        self._tls = ssl.create_default_context() if target.scheme == "https" else None
        self._lock = threading.Lock()
        self._live: socket.socket | None = None
        self._aborted = False

    def connect(self) -> None:
        failure: OSError = OSError("no address to connect to")
        for address in self._addresses:
            try:
                raw = socket.create_connection((address, self.port), timeout=self._clock.remaining())
            except OSError as exc:
                failure = exc
                continue
            self._hold(raw)
            if self._tls is not None:
                wrapped = self._tls.wrap_socket(raw, server_hostname=self.host, do_handshake_on_connect=False)
                self._hold(wrapped)
                wrapped.do_handshake()
                raw = wrapped
            self.sock = raw
            return
        raise failure

    def _hold(self, sock: socket.socket) -> None:
        """Remember the socket the deadline must close; close it now if the deadline already passed."""
        with self._lock:
            self._live = sock
            if self._aborted:
                raise _Expired

    def abort(self) -> None:
        """Shut the socket down: any read or write blocked on it returns at once."""
        with self._lock:
            self._aborted = True
            if self._live is not None:
                try:
                    self._live.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@contextmanager
def _cut_off_at(clock: _Deadline, connection: _Connection) -> Iterator[None]:
    """Abort the connection when the deadline passes, whatever it is waiting for."""
    timer = threading.Timer(clock.remaining(), connection.abort)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
