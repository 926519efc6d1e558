"""Who may use the studio: the token in the printed address, a password beyond this machine, CSRF.

Like Jupyter, `digest studio` prints an address with a random token in it.
The first request that carries the token gets a session cookie, and the token
is taken out of the address bar. The cookie is signed with a key made from the
project's secret key (``DIGEST_SECRET_KEY``), so a restarted studio still knows
the editor's open page; it holds when it was opened and lasts
:data:`SESSION_HOURS`. Without a secret key the studio signs with a key of its
own run. Every request needs the token or that cookie; anything else is
refused with 403 before any route runs.

On an address other than this machine's loopback, a password from ``.env``
(``DIGEST_STUDIO_PASSWORD``) is needed as well, and the studio will not start
without one. Every POST carries a CSRF token derived from the session, and
the session cookie is ``SameSite=Strict``; GET, HEAD and OPTIONS change nothing.
Wrong passwords are counted per client network (:mod:`digest.studio.lockout`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass

from digest.errors import ConfigError
from digest.studio.lockout import LoginThrottle

MIN_PASSWORD_LENGTH = 12
TOKEN = "token"  # noqa: S105 - a session level's name, not a secret; the level of a session opened with the address's token
PASSWORD = "password"  # noqa: S105 - likewise; and then with the password too
SESSION_HOURS = 24  # a session outlives restarts of the studio, not a day


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_password(host: str, password: str | None, *, behind_proxy: bool = False) -> str | None:
    """The password the studio needs on ``host``: None on loopback; refuse to start without one elsewhere.

    Behind a proxy (``[studio] trusted_proxies``) other machines reach the studio even on loopback.
    """
    if is_loopback(host) and not behind_proxy:
        return None
    if not password:
        reached = (
            "[studio] trusted_proxies puts the studio behind a proxy"
            if behind_proxy
            else f"`digest studio --host {host}`"
        )
        raise ConfigError(
            f"{reached} can be reached from other machines: set DIGEST_STUDIO_PASSWORD "
            f"in .env (at least {MIN_PASSWORD_LENGTH} characters) and put the studio behind HTTPS, "
            "or leave --host at 127.0.0.1 and use an SSH tunnel"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"DIGEST_STUDIO_PASSWORD in .env is {len(password)} characters long; use at least {MIN_PASSWORD_LENGTH}"
        )
    return password


@dataclass(frozen=True)
class Session:
    id: str
    level: str


class Gate:
    """The studio's secrets for one run: the address token, the signing key, the password.

    ``secret`` is the project's secret key: sessions signed with a key made from
    it (and the password, so a new password ends every session) are good in the
    next run too. Without one, the key is this run's own.
    """

    def __init__(self, *, token: str | None = None, password: str | None = None, secret: bytes | None = None) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.password = password
        if secret:
            material = b"digest studio sessions\x00" + (password or "").encode()
            self._key = hmac.new(secret, material, hashlib.sha256).digest()
        else:
            self._key = secrets.token_bytes(32)
        # Cookies are shared by every port of a host: name ours after this run.
        self.cookie_name = "digest_studio_" + hashlib.sha256(self._key).hexdigest()[:10]
        self.throttle = LoginThrottle()

    @property
    def needs_password(self) -> bool:
        return self.password is not None

    def token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.token.encode())

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def open_session(self, level: str = TOKEN) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(secrets.token_urlsafe(16), level)
        payload = f"{session.id}.{session.level}.{int(time.time())}"
        return session, f"{payload}.{self._sign(payload)}"

    def read_session(self, cookie: str | None) -> Session | None:
        """The session a cookie names, if this key signed it less than SESSION_HOURS ago."""
        if not cookie or cookie.count(".") != 3:
            return None
        session_id, level, opened, signature = cookie.split(".")
        if level not in (TOKEN, PASSWORD) or not opened.isdigit():
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(f"{session_id}.{level}.{opened}").encode()):
            return None
        if not 0 <= time.time() - int(opened) < SESSION_HOURS * 3600:
            return None
        return Session(session_id, level)

    def admitted(self, session: Session) -> bool:
        """Whether the session may use the pages (not just the login page)."""
        return not self.needs_password or session.level == PASSWORD

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf.{session.id}")

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.csrf_token(session).encode())

    def check_password(self, client: str, given: str) -> bool | None:
        """True or False for the password; None when this client's network has tried too often lately."""
        assert self.password is not None
        return self.throttle.attempt(client, hmac.compare_digest(given.encode(), self.password.encode()))
