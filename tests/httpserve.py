"""Real HTTP servers on 127.0.0.1 for tests: fixed answers by path, or a WSGI app."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any

Route = tuple[int, str, bytes]


@contextmanager
def serve(routes: dict[str, Route | Callable[[], Route]]) -> Iterator[str]:
    """Serve fixed answers by path; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = routes.get(self.path)
            if answer is None:
                self.send_error(404)
                return
            status, content_type, body = answer() if callable(answer) else answer
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with _running(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as base:
        yield base


@contextmanager
def serve_app(app: Any, port: int = 0) -> Iterator[str]:
    """A WSGI app over werkzeug's threaded server (which stops cleanly); yields the base URL.

    ``port``: 0 for any free port; a port given again serves a restarted app at the same address.
    """
    from werkzeug.serving import make_server

    with _running(make_server("127.0.0.1", port, app, threaded=True)) as base:
        yield base


@contextmanager
def _running(server: HTTPServer) -> Iterator[str]:
    """Serve in a thread; yields the base URL, then stops the server and closes its socket."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
