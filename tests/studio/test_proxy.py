"""`digest studio` behind HTTPS: trusted proxies, Secure cookies, and wrong passwords counted per client network.

The proxy is a small TLS-terminating one written for the tests (tests/tlsproxy.py),
with a certificate made at test time; the studio runs as a process under waitress.
"""

from __future__ import annotations

import http.client
import re
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from digest.errors import ConfigError
from digest.studio.app import create_app
from digest.studio.auth import Gate, require_password
from digest.studio.lockout import LoginThrottle
from tests.serving import digest_studio
from tests.tlsproxy import tls_proxy

PASSWORD = "correct horse battery staple"


class Browser:
    """An HTTPS client that keeps the studio's cookie, as a browser does (and sends Origin with a POST)."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.origin = f"https://localhost:{port}"
        self.connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)
        self.cookies: list[str] = []

    def request(self, method: str, path: str, form: dict[str, str] | None = None, **headers: str) -> Any:
        sent = {"Cookie": self.cookies[-1].split(";", 1)[0]} if self.cookies else {}
        if form is not None:
            sent |= {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin}
        self.connection.request(method, path, body=urlencode(form) if form else None, headers=sent | headers)
        answer = self.connection.getresponse()
        answer.text = answer.read().decode()
        self.cookies += [value for name, value in answer.getheaders() if name.lower() == "set-cookie"]
        return answer

    def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.request("GET", path).text)
        assert found
        return found.group(1)


def test_behind_an_https_proxy_cookies_are_secure_posts_are_taken_and_forged_addresses_ignored(  # type: ignore[no-untyped-def]
    project: Path, engine, tmp_path: Path
) -> None:
    with (project / "digest.toml").open("a", encoding="utf-8") as config:
        config.write("\n[studio]\ntrusted_proxies = 1\n")
    with (project / ".env").open("a", encoding="utf-8") as env:
        env.write(f"DIGEST_STUDIO_PASSWORD={PASSWORD}\n")
    with digest_studio(project) as address, tls_proxy(urlsplit(address).port or 0, tmp_path) as (port, context):
        token = parse_qs(urlsplit(address).query)["token"][0]
        editor = Browser(port, context)
        assert editor.request("GET", f"/?token={token}").status == 303
        assert "; Secure" in editor.cookies[-1] and "HttpOnly" in editor.cookies[-1]
        assert editor.request("POST", "/login", {"csrf": editor.csrf("/login"), "password": PASSWORD}).status == 303
        assert "; Secure" in editor.cookies[-1]
        # The browser's Origin is https://…: the studio sees the scheme the proxy says, so the POST is taken.
        answer = editor.request("POST", "/new", {"csrf": editor.csrf("/"), "date": "2030-01-01"})
        assert answer.status == 200 and "no articles published from 2029-12-25" in answer.text

        guesser = Browser(port, context)
        assert guesser.request("GET", f"/?token={token}").status == 303
        csrf = guesser.csrf("/login")
        # Each guess claims another client in X-Forwarded-For; only the address the proxy added counts.
        answers = [
            guesser.request(
                "POST", "/login", {"csrf": csrf, "password": "guess"}, **{"X-Forwarded-For": f"198.51.100.{n}"}
            )
            for n in range(6)
        ]
        assert [answer.status for answer in answers] == [401] * 5 + [429]


def test_behind_a_proxy_the_studio_needs_a_password_even_on_loopback() -> None:
    assert require_password("127.0.0.1", None) is None
    with pytest.raises(ConfigError, match=r"^\[studio\] trusted_proxies puts the studio behind a proxy"):
        require_password("127.0.0.1", None, behind_proxy=True)
    assert require_password("127.0.0.1", PASSWORD, behind_proxy=True) == PASSWORD


@pytest.fixture
def login(settings: Any, engine: Any) -> Any:
    """A function posting a password to a passworded studio from a given client address; returns the status."""
    gate = Gate(password=PASSWORD)
    client = create_app(settings, engine, gate).test_client()
    assert client.get(f"/?token={gate.token}").status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf

    def post(address: str, password: str = "wrong") -> int:  # noqa: S107 - a wrong guess, as an attacker sends
        data = {"csrf": csrf.group(1), "password": password}
        return int(client.post("/login", data=data, environ_base={"REMOTE_ADDR": address}).status_code)

    post.gate = gate  # type: ignore[attr-defined]
    return post


def test_wrong_passwords_count_per_ipv6_64_not_per_address(login: Any) -> None:
    assert [login(f"2001:db8:1:2::{n:x}") for n in range(1, 6)] == [401] * 5
    assert login("2001:db8:1:2:ffff:ffff:ffff:ffff") == 429  # any other address of the same /64
    assert login("2001:db8:1:2::1", PASSWORD) == 429  # locked: even the right password waits
    assert login("2001:db8:1:3::1") == 401  # the next /64 is someone else
    assert login("198.51.100.7") == 401


def test_wrong_passwords_count_per_ipv4_address_mapped_or_not(login: Any) -> None:
    assert [login("198.51.100.7") for _ in range(5)] == [401] * 5
    assert login("::ffff:198.51.100.7") == 429
    assert login("198.51.100.8", PASSWORD) == 303  # a colleague on another address is not locked out


def test_a_lock_ends_and_refused_tries_do_not_stretch_it(login: Any) -> None:
    now = [1000.0]
    login.gate.throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(5):  # wrong at 1000, 1010, ..., 1040 s
        assert login("198.51.100.7") == 401
        now[0] += 10
    while now[0] < 1300:  # tried every 10 s while locked, even with the right password: refused unseen...
        assert login("198.51.100.7", PASSWORD) == 429
        now[0] += 10
    now[0] = 1301  # ...so the lock ends when the first wrong one is five minutes old
    assert login("198.51.100.7", PASSWORD) == 303
