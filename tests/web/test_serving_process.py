"""`digest serve` as a process, over real HTTP: idle connections, the confirmation queue, shared limits."""

from __future__ import annotations

import http.client
import re
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.serving import digest_serve

pytestmark = pytest.mark.slow  # each test starts `digest serve` (a second or two) and waits on the network


def healthz_seconds(port: int, timeout: float) -> float:
    start = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as answer:
        assert answer.read() == b"ok\n"
    return time.monotonic() - start


def idle_connections(port: int, count: int) -> list[socket.socket]:
    """Connections that never send a byte, as a slow or hostile client leaves them."""
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


def test_150_idle_connections_do_not_starve_healthz(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    with digest_serve(project) as port:
        idle = idle_connections(port, 150)
        try:
            time.sleep(0.5)  # let waitress accept them all
            assert healthz_seconds(port, timeout=3) < 3
        finally:
            for conn in idle:
                conn.close()


def test_past_the_connection_limit_idle_ones_are_closed_after_channel_timeout(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    config = project / "digest.toml"
    base = 'base_url = "https://news.safe.example.org"'
    config.write_text(
        config.read_text().replace(base, f"{base}\nconnection_limit = 10\nchannel_timeout = 2"), encoding="utf-8"
    )
    with digest_serve(project) as port:
        idle = idle_connections(port, 30)
        try:
            time.sleep(0.5)
            # Waitress stops accepting at 10; the idle ten are closed after 2 s (looked for every second).
            assert healthz_seconds(port, timeout=8) < 8
        finally:
            for conn in idle:
                conn.close()


def form_post(port: int, address: str, forwarded_for: str = "") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/subscribe")
    page = conn.getresponse()
    token = re.search(r'name="form_token" value="([^"]+)"', page.read().decode()).group(1)  # type: ignore[union-attr]
    cookie = (page.getheader("Set-Cookie") or "").split(";", 1)[0]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    body = urllib.parse.urlencode({"form_token": token, "email": address, "consent": "yes"})
    conn.request("POST", "/subscribe", body=body, headers=headers)
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer.status


def test_the_queue_mails_a_confirmation_soon_after_the_answer(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    with digest_serve(project) as port:
        assert form_post(port, "new.lead@example.org") == 200
        for _ in range(100):
            found = list((project / "outbox" / "subscribe").glob("*.eml"))
            if found:
                break
            time.sleep(0.1)
        assert len(found) == 1 and b"new.lead@example.org" in found[0].read_bytes()


def test_two_processes_share_one_limit_and_believe_only_their_proxy(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    with digest_serve(project) as first, digest_serve(project) as second:
        answers = [
            form_post(first if n % 2 else second, f"p{n}@example.org", forwarded_for=f"198.51.100.{n}")
            for n in range(7)
        ]
    # Without trusted_proxies every request is 127.0.0.1, whatever X-Forwarded-For says, in both processes.
    assert answers == [200] * 5 + [429] * 2


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    config = project / "digest.toml"
    base = 'base_url = "https://news.safe.example.org"'
    config.write_text(config.read_text().replace(base, f"{base}\ntrusted_proxies = 1"), encoding="utf-8")
    with digest_serve(project) as port:
        # Each request as the proxy sends it: the client's own header, then the address the proxy appended.
        answers = [form_post(port, f"p{n}@example.org", forwarded_for=f"203.0.113.9, 198.51.100.{n}") for n in range(7)]
    assert answers == [200] * 7  # waitress must not drop the header ProxyFix reads
