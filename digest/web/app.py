"""The Flask application: routes, error pages and security headers."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from digest.config import Settings
from digest.web import archive, reader, signup, webhook
from digest.web.context import WebContext


def create_app(settings: Settings | None = None, engine: Engine | None = None, *, background: bool = True) -> Flask:
    """The application; with no arguments, settings come from DIGEST_CONFIG or ./digest.toml.

    ``background=False`` leaves the sign-up confirmations queued for the caller
    to send (:func:`digest.people.signups.send_queued`); otherwise a thread mails them.
    """
    if settings is None:
        from digest.config import load_settings

        settings = load_settings()
    if engine is None:
        from digest.project import open_engine

        engine = open_engine(settings)
    app = Flask("digest", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.events.webhook_max_bytes
    context = WebContext(settings, engine, background=background)
    hops = settings.web.trusted_proxies
    if hops:
        # Only the addresses our own proxies appended are believed; a client's own
        # X-Forwarded-For entries are further left and ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]
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
    """Run the application under waitress, with the limits of ``[web]``, until interrupted.

    Idle connections count against ``[web] connection_limit`` until
    ``channel_timeout`` closes them, and a request must arrive whole within
    ``request_timeout`` (see :mod:`digest.web.serving`), so a crowd of idle or
    trickling clients cannot keep /healthz and the webhook waiting for long.
    """
    from digest.web.serving import ServerLimits, create_server

    app = create_app(settings)
    app.extensions["digest"].confirmations.start()  # mail what other processes queued, purge expired requests
    web = settings.web
    limits = ServerLimits(threads, web.connection_limit, web.channel_timeout, web.request_timeout)
    create_server(app, host, port, limits, ident="digest", proxied=web.trusted_proxies > 0).run()
