"""`digest serve`: SendGrid's event webhook, unsubscribe, preferences, sign-up and the archive.

A Flask application: ``app`` builds it, and each group of routes is a module
of thin views over library functions (``webhook``, ``reader``, ``signup``,
``archive``); none of them touches a table. In production run
``waitress-serve --host 127.0.0.1 --port 8000 --call digest.web:create_app``
(with DIGEST_CONFIG naming digest.toml) behind a TLS-terminating proxy.
"""

from __future__ import annotations

from digest.web.app import create_app, serve

__all__ = ["create_app", "serve"]
