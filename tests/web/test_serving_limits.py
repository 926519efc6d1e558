"""`digest serve` and `digest studio` facing clients themselves: bodies over the limit, trickling clients.

Both run as processes under waitress, as in production, on 127.0.0.1. The
server's files are capped with RLIMIT_FSIZE, so a body spooled to disk past
the limit would fail with "File too large" in its log.
"""

from __future__ import annotations

import select
import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.serving import digest_serve, digest_studio

pytestmark = pytest.mark.slow  # each test starts a server (a second or two) and waits on the network

MIB = 1024 * 1024


def configure(project: Path, table: str, **values: int) -> None:
    """Add settings to a table of the project's digest.toml (the table must already be there)."""
    config = project / "digest.toml"
    lines = "".join(f"{key} = {value}\n" for key, value in values.items())
    text = config.read_text(encoding="utf-8")
    if f"[{table}]\n" not in text:
        text += f"\n[{table}]\n"
    config.write_text(text.replace(f"[{table}]\n", f"[{table}]\n{lines}", 1), encoding="utf-8")


def healthz(port: int) -> bytes:
    # The timeout is a bound for the test to fail by, not a measurement.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as answer:
        return bytes(answer.read())


def answer_to_head(port: int, path: str, length: int) -> bytes:
    """The status line answering a POST's head that announces ``length`` bytes, none of them sent.

    A server that wants the body waits for it: that reads as b"" after a few seconds.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        try:
            return conn.recv(4096).split(b"\r\n", 1)[0]
        except TimeoutError:
            return b""


def post_big_body(port: int, path: str, total: int, *, chunked: bool) -> bytes:
    """POST ``total`` bytes, chunked or announced with ``Expect: 100-continue`` (after which the server
    must read the body to refuse it); the answer, or b"" if the server hung up first."""
    chunk = 64 * 1024
    if chunked:
        head, framed = "Transfer-Encoding: chunked\r\n", b"%x\r\n%s\r\n" % (chunk, b"x" * chunk)
    else:
        head, framed = f"Content-Length: {total}\r\nExpect: 100-continue\r\n", b"x" * chunk
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        try:
            conn.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode())
            if not chunked:
                assert conn.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
            for _ in range(total // chunk):
                conn.sendall(framed)
            conn.sendall(b"0\r\n\r\n" if chunked else b"")
            return conn.recv(4096)
        except OSError:
            return b""  # the server stopped reading and hung up


def trickle(port: int, stop: threading.Event) -> str:
    """A client that sends one more header line every second and never finishes its request."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        try:
            conn.sendall(b"POST /webhooks/sendgrid HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while not stop.is_set():
                if select.select([conn], [], [], 1.0)[0] and not conn.recv(4096):
                    return "cut off"
                conn.sendall(b"X-Trickle: 1\r\n")
        except OSError:
            return "cut off"
    return "still sending"


def test_a_body_over_the_limit_is_refused_before_any_of_it_is_sent(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    with digest_serve(project) as port:
        # 300 MiB announced: refused from the head alone (formerly 100 Continue, then all of it spooled to disk).
        assert answer_to_head(port, "/webhooks/sendgrid", 300 * MIB) == b"HTTP/1.1 413 Request Entity Too Large"
        # [events] webhook_max_bytes (8 MiB) is the app's own limit, and waitress's.
        assert answer_to_head(port, "/webhooks/sendgrid", 8 * MIB + 1) == b"HTTP/1.1 413 Request Entity Too Large"
        assert answer_to_head(port, "/webhooks/sendgrid", 8 * MIB) == b""  # waiting for the body
        assert healthz(port) == b"ok\n"


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "expect-100-continue"])
def test_a_body_the_server_must_read_is_cut_at_the_limit_and_never_spooled_past_it(  # type: ignore[no-untyped-def]
    project: Path, engine, chunked: bool
) -> None:
    configure(project, "events", webhook_max_bytes=MIB)
    with digest_serve(project, file_size_limit=4 * MIB) as port:
        answer = post_big_body(port, "/webhooks/sendgrid", 16 * MIB, chunked=chunked)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 413 ")
        assert healthz(port) == b"ok\n"
    log = (project / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert "File too large" not in log and "Traceback" not in log, log[-2000:]


def test_trickling_clients_are_cut_off_and_healthz_answers_meanwhile(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    configure(project, "web", connection_limit=10, channel_timeout=2, request_timeout=3)
    stop = threading.Event()
    outcomes: list[str] = []
    with digest_serve(project) as port:
        # More trickling clients than the connection limit: the server takes 10, the rest wait to be accepted.
        clients = [threading.Thread(target=lambda: outcomes.append(trickle(port, stop))) for _ in range(12)]
        try:
            for client in clients:
                client.start()
            assert healthz(port) == b"ok\n"
            for client in clients:
                client.join(timeout=30)
        finally:
            stop.set()
    assert outcomes == ["cut off"] * 12


def test_the_studio_refuses_a_body_over_its_limit_before_any_of_it_is_sent(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    with digest_studio(project) as address:
        port = urlsplit(address).port
        assert port is not None
        assert answer_to_head(port, "/import", 20 * MIB + 1) == b"HTTP/1.1 413 Request Entity Too Large"
        assert answer_to_head(port, "/import", 20 * MIB) == b""  # waiting for the body
