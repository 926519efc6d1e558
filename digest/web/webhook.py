"""POST /webhooks/sendgrid: SendGrid's signed Event Webhook.

2xx only once the events are stored, so SendGrid retries a failure; a bad or
missing signature (or a timestamp too old or in the future) is refused with
nothing stored; bodies are size-limited; a body that is not JSON events is a
400, and an odd event inside a good body is skipped and named in the answer
while the rest are stored: body content never causes a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from digest.errors import InputError
from digest.events.intake import ingest_webhook_body
from digest.providers.sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, check_signature, load_public_key
from digest.web.context import WebContext, plain


def register(app: Flask, context: WebContext) -> None:
    key = context.settings.sendgrid.webhook_public_key
    public_key: Any = load_public_key(key) if key else None

    def webhook() -> Response:
        if public_key is None:
            # Unsigned events could unsubscribe anyone: refuse until the key is set (SendGrid retries).
            return plain("the webhook's public key is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY)", 503)
        raw = request.get_data(cache=False)
        try:
            payload = raw.decode("utf-8")
        except UnicodeDecodeError:
            return plain("bad request: the body is not UTF-8 JSON", 400)  # nothing is read or stored
        problem = check_signature(
            public_key,
            payload,
            request.headers.get(SIGNATURE_HEADER, ""),
            request.headers.get(TIMESTAMP_HEADER, ""),
            max_age=context.settings.events.webhook_max_age_seconds,
        )
        if problem:
            return plain(problem, 403)
        try:
            report = ingest_webhook_body(context.engine, context.settings, payload)
        except InputError as exc:
            return plain(f"bad request: {exc.reason}", 400)
        lines = [f"stored {report.stored} of {report.received} events", *report.reported[:20]]
        return plain("\n".join(lines), 200)

    app.add_url_rule("/webhooks/sendgrid", "webhook", webhook, methods=["POST"])
