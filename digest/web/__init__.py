"""`digest serve`: SendGrid's event webhook, unsubscribe, preferences, sign-up and the archive.

A Flask application: ``app`` builds it, and each group of routes is a module
of thin views over library functions (``webhook``, ``reader``, ``signup``,
``archive``); none of them touches a table, and only a POST changes anything.
``queue`` mails sign-up confirmations in the background. In production run
``digest serve`` (waitress with the connection limits of ``[web]``) behind a
TLS-terminating proxy; ``create_app`` is the WSGI application for other servers.
``serving`` is waitress with those limits, for the studio too.

May import: the base, :mod:`digest.project` and the packages before it, but
never a table: no :mod:`digest.store`, no SQL, no ledger.
"""

from __future__ import annotations

from digest.web.app import create_app, serve

__all__ = ["create_app", "serve"]
