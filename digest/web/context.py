"""What every view needs: the project's settings and database, and the page renderer."""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy.engine import Engine

from digest.config import Settings


class WebContext:
    """One project's settings and database, bound to the application."""

    def __init__(self, settings: Settings, engine: Engine, *, background: bool = True) -> None:
        from digest.web.queue import ConfirmationQueue

        self.settings = settings
        self.engine = engine
        self.secret = settings.require_secret_key()
        self.confirmations = ConfirmationQueue(engine, settings, enabled=background)

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        """A page from ``templates/web/`` with the organisation's details."""
        from digest.issues.render import render_web_page

        html = render_web_page(
            self.settings,
            template,
            {"org": self.settings.organisation, "language": self.settings.language, "home_url": "/archive/", **context},
        )
        return Response(html, status=status, mimetype="text/html")

    def error(self, status: int, title: str, message: str) -> Response:
        return self.page("error.html.j2", status, title=title, message=message)

    def bad_link(self) -> Response:
        return self.error(
            400,
            "This link is not valid",
            "The link may have been copied incompletely or changed. Nothing has been changed. "
            "Use the link in your most recent email, or contact us.",
        )


def plain(text: str, status: int) -> Response:
    """A short text/plain answer (for machines: the webhook, one-click unsubscribe)."""
    return Response(text + "\n", status=status, mimetype="text/plain")
