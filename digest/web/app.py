"""The Flask application: routes, error pages and security headers."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.web import archive, reader, signup, webhook
from digest.web.context import WebContext


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """The application; with no arguments, settings come from DIGEST_CONFIG or ./digest.toml."""
    if settings is None:
        from digest.config import load_settings

        settings = load_settings()
    if engine is None:
        from digest.db import open_database

        engine = open_database(settings.database_url, pool=settings.pool)
    app = Flask("digest", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.events.webhook_max_bytes
    context = WebContext(settings, engine)
    app.add_url_rule("/healthz", "health", lambda: Response("ok\n", mimetype="text/plain"))
    for routes in (webhook, reader, signup, archive):
        routes.register(app, context)

    @app.errorhandler(404)
    def not_found(_error: Any) -> Response:
        return context.error(404, "Page not found", "There is nothing at this address.")

    @app.errorhandler(413)
    def too_large(_error: Any) -> Response:
        return Response("request body too large\n", status=413, mimetype="text/plain")

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'",
        )
        return response

    app.extensions["digest"] = context
    return app


def serve(settings: Settings, host: str, port: int, *, threads: int = 8) -> None:
    """Run the application under waitress until interrupted."""
    import waitress

    waitress.serve(create_app(settings), host=host, port=port, threads=threads, ident="digest")
