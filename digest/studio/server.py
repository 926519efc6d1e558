"""`digest studio`: start the studio on this machine and say where it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import ConfigError, StateError
from digest.studio.app import create_app
from digest.studio.auth import Gate, require_password
from digest.web.serving import ServerLimits, create_server

# One editor, a few requests at once (the page, its script, a preview); the browser keeps a few
# connections open. An upload of up to the app's 20 MB must arrive within two minutes (1.4 Mbit/s).
STUDIO_LIMITS = ServerLimits(threads=4, connection_limit=100, channel_timeout=20, request_timeout=120)


@dataclass
class Studio:
    """A studio ready to serve: its address (with the token) and the server to run."""

    url: str
    server: Any

    def run(self) -> None:
        """Serve until interrupted."""
        try:
            self.server.run()
        except KeyboardInterrupt:
            pass
        finally:
            self.server.close()


def start_studio(
    settings: Settings,
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8001,
    issue_file: Path | None = None,
) -> Studio:
    """Check everything the studio needs, bind its address and return it, not yet serving.

    Beyond loopback a password is required (see :mod:`digest.studio.auth`);
    the settings and templates are checked before anything listens.
    """
    given = settings.studio_password.reveal() if settings.studio_password else None
    password = require_password(host, given, behind_proxy=settings.studio.trusted_proxies > 0)
    gate = Gate(password=password, secret=session_secret(settings))
    app = create_app(settings, engine, gate, issue_file=issue_file)
    try:
        proxied = settings.studio.trusted_proxies > 0
        server = create_server(app, host, port, STUDIO_LIMITS, ident="digest-studio", proxied=proxied)
    except OSError as exc:
        reason = exc.strerror or exc
        raise StateError(f"cannot listen on {host} port {port} ({reason}); choose another with --port") from None
    shown_host = f"[{host}]" if ":" in host else host
    path = f"/issue/{quote(issue_file.parent.name)}" if issue_file else "/"
    return Studio(f"http://{shown_host}:{server.effective_port}{path}?token={gate.token}", server)


def session_secret(settings: Settings) -> bytes | None:
    """The project's secret key, which keeps the editor's session across restarts; None without one."""
    try:
        return settings.require_secret_key()
    except ConfigError:
        return None  # the studio works without it; a restart then asks for the printed address again


def open_in_browser(url: str, opener: Callable[[str], Any] | None = None) -> None:
    import webbrowser

    (opener or webbrowser.open)(url)
