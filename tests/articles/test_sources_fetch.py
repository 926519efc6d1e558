"""Fetching a URL (digest.fetch): public addresses only unless allowed, http(s) at every hop, one deadline.

Every server here listens on loopback, which digest refuses unless
``[sources] allow_hosts`` names it: the tests turn each one on by name or
network, as an organisation turns on its own intranet feeds. DNS is the one
thing faked (for the rebinding test): answers for a name that cannot exist here.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from digest.articles.sources.fetch import fetch_url
from digest.errors import ConfigError, InputError
from digest.netpolicy import AllowList, internal_kind
from tests.conftest import DATA
from tests.httpserve import serve, serve_socket
from tests.tlsproxy import certificate, server_context

FEED = (DATA / "feed.atom").read_bytes()
LOOPBACK = AllowList.parse(["127.0.0.1"])
NO_ANSWER = "could not fetch the feed: no complete answer from 127.0.0.1 (refused, cut off, or slower than allowed)"


def feed_route(body: bytes = FEED) -> tuple[int, str, bytes]:
    return (200, "application/atom+xml", body)


def redirect(location: str, status: int = 302) -> tuple[int, str, bytes, dict[str, str]]:
    return (status, "text/plain", b"moved", {"Location": location})


def refusal(call: Any) -> str:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value.reason


# --- which addresses are internal ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud instance metadata
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address judged, not bound
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),
        ("2001:db8::1", "private"),  # documentation
        ("8.8.8.8", None),
        ("151.101.0.81", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
    ],
)
def test_internal_addresses_are_named_and_public_ones_pass(address: str, kind: str | None) -> None:
    assert internal_kind(ipaddress.ip_address(address)) == kind


def test_the_allow_list_takes_names_domains_and_networks() -> None:
    allow = AllowList.parse(["Intranet.Example.org.", "*.corp.example", "10.20.0.0/16", "[fd00:1::]/48", "127.0.0.1"])
    address = ipaddress.ip_address
    assert allow.permits("intranet.example.org", address("10.9.9.9"))
    assert allow.permits("feeds.corp.example", address("192.168.3.3"))
    assert not allow.permits("corp.example", address("192.168.3.3"))
    assert not allow.permits("intranet.example.org.evil.example", address("192.168.3.3"))
    assert allow.permits("anything", address("10.20.30.40"))
    assert allow.permits("anything", address("::ffff:10.20.30.40"))
    assert allow.permits("anything", address("fd00:1::5"))
    assert not allow.permits("anything", address("10.21.0.1"))
    assert not allow.permits("anything", address("127.0.0.2"))
    with pytest.raises(ConfigError, match=r"^allow_hosts: 'not a host' is neither a host name"):
        AllowList.parse(["not a host"])


# --- loopback servers, turned on by the allow-list -----------------------------------------


def test_a_loopback_server_is_refused_without_the_allow_list_and_fetched_with_it() -> None:
    with serve({"/feed.xml": feed_route()}) as base:
        reason = refusal(lambda: fetch_url(f"{base}/feed.xml"))
        assert reason == (
            "127.0.0.1 is a loopback address (127.0.0.1); feeds are fetched only from public addresses "
            "unless [sources] allow_hosts in digest.toml names the host or its network"
        )
        assert fetch_url(f"{base}/feed.xml", allow=LOOPBACK) == FEED
        assert fetch_url(f"{base}/feed.xml", allow=AllowList.parse(["127.0.0.0/8"])) == FEED


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("localhost", "is a loopback address"),
        ("[::ffff:127.0.0.1]", "is a loopback address (::ffff:"),  # written 7f00:1 or 127.0.0.1 by version
        ("2130706433", "is a loopback address (127.0.0.1)"),
        ("0x7f.1", "is a loopback address (127.0.0.1)"),
        ("127.1", "is a loopback address (127.0.0.1)"),
        ("0.0.0.0", "is an unspecified address (0.0.0.0)"),  # noqa: S104 - an address judged, not bound
        ("[::]", "is an unspecified address (::)"),
    ],
)
def test_every_spelling_of_this_machine_is_refused(host: str, refused: str) -> None:
    with serve({"/feed.xml": feed_route()}) as base:
        port = base.rsplit(":", 1)[1]
        reason = refusal(lambda: fetch_url(f"http://{host}:{port}/feed.xml"))
    assert refused in reason and reason.endswith("names the host or its network"), reason


def test_letters_beyond_ascii_are_sent_encoded_as_a_browser_sends_them() -> None:
    with serve({"/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8?tag=%C3%A9t%C3%A9&n=1": feed_route()}) as base:
        assert fetch_url(f"{base}/новости?tag=été&n=1", allow=LOOPBACK) == FEED


def test_redirects_are_followed_between_allowed_addresses() -> None:
    with serve({"/old": redirect("/feed.xml", 301), "/feed.xml": feed_route()}) as base:
        assert fetch_url(f"{base}/old", allow=LOOPBACK) == FEED


def test_a_redirect_to_an_internal_host_is_refused_before_connecting() -> None:
    asked: list[str] = []
    with serve(
        {"/secret": lambda: asked.append("secret") or feed_route(b"<feed>internal</feed>")}, "127.0.0.2"
    ) as inner:
        with serve({"/feed.xml": redirect(f"{inner}/secret")}) as base:
            reason = refusal(lambda: fetch_url(f"{base}/feed.xml", allow=LOOPBACK))
    assert reason.startswith(f"redirected to {inner}/secret, but 127.0.0.2 is a loopback address (127.0.0.2)")
    assert asked == []


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1:{port}/feed.xml", "file:///etc/passwd", "gopher://127.0.0.1:{port}/"]
)
def test_a_redirect_away_from_http_is_refused(location: str) -> None:
    touched: list[bytes] = []
    with serve_socket(lambda conn: touched.append(conn.recv(100))) as port:
        target = location.format(port=port)
        with serve({"/feed.xml": redirect(target)}) as base:
            reason = refusal(lambda: fetch_url(f"{base}/feed.xml", allow=LOOPBACK))
    assert (
        reason == f"redirected to {target}, but {target} is not an http:// or https:// address; only those are fetched"
    )
    assert touched == []


def test_redirects_stop_after_five() -> None:
    routes: dict[str, Any] = {f"/{n}": redirect(f"/{n + 1}") for n in range(10)}
    with serve(routes) as base:
        assert refusal(lambda: fetch_url(f"{base}/0", allow=LOOPBACK)) == "the server redirected more than 5 times"


def test_a_name_is_looked_up_once_so_rebinding_reaches_only_the_checked_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A DNS answer that changes between the check and the connection (DNS rebinding) gains nothing."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    looked_up: list[str] = []

    def rebinding_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "feeds.rebinding.test":
            looked_up.append(host)
            host = next(answers)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    with serve({"/feed.xml": feed_route()}) as base:
        port = int(base.rsplit(":", 1)[1])
        with serve({"/feed.xml": feed_route(b"<feed>internal</feed>")}, "127.0.0.2", port):
            assert fetch_url(f"http://feeds.rebinding.test:{port}/feed.xml", allow=LOOPBACK) == FEED
    assert looked_up == ["feeds.rebinding.test"]


def test_the_host_header_names_the_host_not_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *rest, **kw: real("127.0.0.1" if host == "feeds.example.test" else host, *rest, **kw),
    )
    seen: list[bytes] = []

    def answer(conn: socket.socket) -> None:
        seen.append(conn.recv(4096))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    with serve_socket(answer) as port:
        assert fetch_url(f"http://feeds.example.test:{port}/f", allow=AllowList.parse(["feeds.example.test"])) == b"ok"
    assert f"\r\nHost: feeds.example.test:{port}\r\n".encode() in seen[0]


def test_https_is_checked_against_the_name_while_connecting_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert_file, key_file = certificate(tmp_path, names=("feeds.example.test",), addresses=())
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the machine's trusted certificates: only this one
    real = socket.getaddrinfo
    names = ("feeds.example.test", "other.example.test")
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *rest, **kw: real("127.0.0.1" if host in names else host, *rest, **kw)
    )
    with serve({"/feed.xml": feed_route()}, tls=server_context(cert_file, key_file)) as base:
        port = base.rsplit(":", 1)[1]
        assert fetch_url(f"https://feeds.example.test:{port}/feed.xml", allow=LOOPBACK) == FEED
        reason = refusal(lambda: fetch_url(f"https://other.example.test:{port}/feed.xml", allow=LOOPBACK))
        assert reason == "could not fetch the feed: other.example.test's HTTPS certificate cannot be trusted"


# --- what a failure says ----------------------------------------------------------------------


def _closes_at_once(conn: socket.socket) -> None:
    conn.recv(4096)


def _never_answers(conn: socket.socket) -> None:
    conn.recv(4096)
    time.sleep(30)  # until the test closes it


def _garbles(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")


def _cuts_the_body_short(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<feed>")


@pytest.mark.parametrize("behaviour", [_closes_at_once, _never_answers, _garbles, _cuts_the_body_short])
def test_refused_closed_silent_or_garbled_all_read_the_same(behaviour: Any) -> None:
    with serve_socket(behaviour) as port:
        reason = refusal(lambda: fetch_url(f"http://127.0.0.1:{port}/", allow=LOOPBACK, deadline=1.5))
    assert reason == NO_ANSWER


def test_a_port_nobody_listens_on_reads_the_same() -> None:
    with serve_socket(_closes_at_once) as port:
        pass  # closed again: nothing listens on it now
    assert refusal(lambda: fetch_url(f"http://127.0.0.1:{port}/", allow=LOOPBACK)) == NO_ANSWER


def _drips_endlessly(head: bytes, unit: bytes) -> Any:
    """A server that sends ``head`` and then a byte of ``unit`` every 0.2 s, until the client hangs up."""

    def answer(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(head)
        while True:
            for byte in unit:
                conn.sendall(bytes([byte]))
                time.sleep(0.2)

    return answer


@pytest.mark.parametrize(
    ("head", "unit"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9999999\r\n\r\n<feed>", b"x"),  # a body that never ends
        (b"HTTP/1.1 200 OK\r\nX-Drip: ", b"x"),  # a header line that never ends
    ],
    ids=["body", "head"],
)
def test_one_deadline_ends_the_fetch_however_slowly_a_server_drips(head: bytes, unit: bytes) -> None:
    """Each read gets a byte in well under a second, so only a deadline for the whole fetch can end it."""
    outcome: list[str] = []

    def fetch() -> None:
        outcome.append(refusal(lambda: fetch_url(f"http://127.0.0.1:{port}/", allow=LOOPBACK, deadline=1.5)))

    with serve_socket(_drips_endlessly(head, unit)) as port:
        worker = threading.Thread(target=fetch, daemon=True)
        worker.start()
        worker.join(timeout=30)  # a bound for the test to fail by (the deadline is 1.5 s), not a measurement
        assert not worker.is_alive(), "the fetch was still reading after 30 s"
    assert outcome == [NO_ANSWER]


def test_oversized_feeds_are_refused_with_or_without_a_length() -> None:
    def unsized(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 4096)

    with serve({"/big": (200, "application/rss+xml", b"x" * 2048)}) as base:
        assert refusal(lambda: fetch_url(f"{base}/big", allow=LOOPBACK, limit=1024)) == "the feed is larger than 0 MB"
    with serve_socket(unsized) as port:
        assert "larger than" in refusal(lambda: fetch_url(f"http://127.0.0.1:{port}/", allow=LOOPBACK, limit=1024))


def test_http_errors_and_unknown_names_say_so() -> None:
    with serve({}) as base:
        assert refusal(lambda: fetch_url(f"{base}/missing", allow=LOOPBACK)) == "the server answered 404 Not Found"
    assert (
        refusal(lambda: fetch_url("http://no-such-host.invalid/feed"))
        == "could not find the server no-such-host.invalid"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/feed", "is not an http:// or https:// address"),
        ("http://user:secret@example.org/feed", "user name or password"),
        ("http://example.org:99999/feed", "host or port cannot be read"),
        ("http:///feed", "no host name"),
        ("http://example.org/a b", "a space or a control character"),
        ("http://example.org/\r\nX-Injected: 1", "a space or a control character"),
    ],
)
def test_addresses_that_cannot_be_fetched_are_refused_before_any_lookup(url: str, reason: str) -> None:
    assert reason in refusal(lambda: fetch_url(url))


# --- the CLI and the studio fetch the same way ------------------------------------------------


def test_the_cli_refuses_a_loopback_feed_until_digest_toml_allows_it(project: Path, invoke: Any) -> None:
    with serve({"/feed.xml": feed_route()}) as base:
        refused = invoke("articles", "import", f"{base}/feed.xml")
        config = project / "digest.toml"
        config.write_text(config.read_text() + '\n[sources]\nallow_hosts = ["127.0.0.1"]\n', encoding="utf-8")
        allowed = invoke("articles", "import", f"{base}/feed.xml")
    assert "127.0.0.1 is a loopback address" in refused.output and "Imported 0 new" in refused.output
    assert "Imported 1 new" in allowed.output, allowed.output


def test_a_bad_allow_list_entry_is_a_config_error(project: Path, invoke: Any) -> None:
    config = project / "digest.toml"
    config.write_text(config.read_text() + '\n[sources]\nallow_hosts = ["intranet feeds"]\n', encoding="utf-8")
    result = invoke("articles", "list")
    assert result.exit_code == 1
    assert "[sources] allow_hosts: 'intranet feeds' is neither a host name" in result.output
