"""waitress as `digest serve` and `digest studio` run it: limits taken from the application's own.

waitress's defaults suit a server behind a proxy that buffers requests. Facing
clients itself, they let one POST of up to 1 GB be spooled to a temporary
file before the application can answer 413, and a client that sends a line
of its request every few seconds is never idle, so ``channel_timeout`` never
closes it and a few dozen such clients fill ``connection_limit``. Here:

- ``max_request_body_size`` is the application's ``MAX_CONTENT_LENGTH``:
  waitress answers 413 itself when a Content-Length is over it, before any
  of the body is read, and stops a chunked body when it passes it. Bodies
  over ``inbuf_overflow`` (512 KiB) are spooled to disk, so at most the
  limit per open connection.
- A request must arrive whole, head and body, within ``request_timeout``
  seconds of its first byte; a slower client is disconnected without an
  answer at its next byte (waitress has no such setting, so
  :class:`DeadlineChannel` adds it), or after ``channel_timeout`` seconds
  of silence, as an idle connection is.
- At most ``connection_limit`` connections are open; idle ones are looked
  for every ``cleanup_interval`` seconds (half the channel timeout, at most 10).
- waitress (3.x) deletes X-Forwarded-* headers unless told which proxy to
  trust; the applications trust the configured number of proxies with
  werkzeug's ProxyFix, so behind proxies the headers are left to it.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from waitress.channel import HTTPChannel

MAX_HEAD_BYTES = 64 * 1024  # request line and headers: browsers send a few KB, cookies of other sites included
IN_MEMORY_BODY_BYTES = 512 * 1024  # a body up to this stays in memory; a larger one is spooled to a temporary file


@dataclass(frozen=True)
class ServerLimits:
    """How many clients a server takes, and how long each may take."""

    threads: int
    connection_limit: int
    channel_timeout: int  # seconds an idle connection stays open
    request_timeout: int  # seconds a client has to send one whole request


class DeadlineChannel(HTTPChannel):
    """waitress's connection, which also disconnects a client that takes too long over one request."""

    def __init__(self, *args: Any, request_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self.request_began = 0.0

    def received(self, data: bytes) -> bool:
        now = time.monotonic()
        if self.request is None:  # these bytes begin a request
            self.request_began = now
        elif now - self.request_began > self.request_timeout:
            # Still sending one request after this long: trickling. Hang up without an answer
            # (the connection closes once its output, if any, is flushed).
            self.will_close = True
            return False
        return bool(super().received(data))


def create_server(app: Any, host: str, port: int, limits: ServerLimits, *, ident: str, proxied: bool = False) -> Any:
    """A waitress server for the Flask ``app`` on ``host``:``port``, bound and not yet running.

    ``proxied``: the app believes the X-Forwarded-* headers of its proxies (ProxyFix), so waitress keeps them.
    """
    from waitress.server import create_server as waitress_server

    logging.basicConfig()  # waitress logs errors to the "waitress" logger, as waitress.serve() sets up
    server = waitress_server(
        app,
        host=host,
        port=port,
        threads=limits.threads,
        ident=ident,
        # waitress refuses a body of this size or more; the application's own limit decides the rest.
        max_request_body_size=int(app.config["MAX_CONTENT_LENGTH"]) + 1,
        max_request_header_size=MAX_HEAD_BYTES,
        inbuf_overflow=IN_MEMORY_BODY_BYTES,
        connection_limit=limits.connection_limit,
        channel_timeout=limits.channel_timeout,
        cleanup_interval=max(1, min(10, limits.channel_timeout // 2)),
        # poll(), not select(): select() cannot watch file descriptors above 1023.
        asyncore_use_poll=True,
        clear_untrusted_proxy_headers=not proxied,
    )
    channel = functools.partial(DeadlineChannel, request_timeout=limits.request_timeout)
    # One listening server, or several (a name with an IPv4 and an IPv6 address) in the server's map.
    for listener in (server, *getattr(server, "map", {}).values()):
        if hasattr(listener, "channel_class"):
            listener.channel_class = channel
    return server
