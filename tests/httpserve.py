"""Real servers on loopback for tests: fixed HTTP answers by path, a WSGI app, or raw sockets."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any

# (status, content type, body), and optionally more headers (a redirect's Location).
Route = tuple[int, str, bytes] | tuple[int, str, bytes, dict[str, str]]


@contextmanager
def serve(
    routes: dict[str, Route | Callable[[], Route]],
    host: str = "127.0.0.1",
    port: int = 0,
    tls: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """Serve fixed answers by path on ``host`` (over HTTPS with a ``tls`` context); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = routes.get(self.path)
            if answer is None:
                self.send_error(404)
                return
            status, content_type, body, *more = answer() if callable(answer) else answer
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in (more[0] if more else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    with running(server) as base:
        yield base.replace("http://", "https://", 1) if tls is not None else base


@contextmanager
def serve_app(app: Any, port: int = 0) -> Iterator[str]:
    """A WSGI app over werkzeug's threaded server (which stops cleanly); yields the base URL.

    ``port``: 0 for any free port; a port given again serves a restarted app at the same address.
    """
    from werkzeug.serving import make_server

    with running(make_server("127.0.0.1", port, app, threaded=True)) as base:
        yield base


@contextmanager
def running(server: HTTPServer) -> Iterator[str]:
    """Serve in a thread; yields the base URL, then stops the server and closes its socket."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{server.server_address[0]}:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextmanager
def serve_socket(answer: Callable[[socket.socket], None], host: str = "127.0.0.1") -> Iterator[int]:
    """Hand each connection to ``answer`` in a thread of its own (which closes it after); yields the port.

    For servers no HTTP library would be: one that drips a byte at a time,
    closes at once, or never says anything.
    """
    listener = socket.create_server((host, 0))
    connections: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                answer(conn)
            except OSError:
                pass  # the client went away, or the test is over

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        listener.close()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thread.join(timeout=10)
