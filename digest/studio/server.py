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

STUDIO_THREADS = 4  # one editor; a few requests at once (the page, its script, a preview)


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
    from waitress.server import create_server

    password = require_password(host, settings.studio_password)
    gate = Gate(password=password, secret=session_secret(settings))
    app = create_app(settings, engine, gate, issue_file=issue_file)
    try:
        server = create_server(app, host=host, port=port, threads=STUDIO_THREADS, ident="digest-studio")
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
