"""The Event Webhook's signature: ECDSA P-256 over the timestamp and the raw body.

SendGrid signs ``timestamp + body`` and sends the signature and timestamp in
``X-Twilio-Email-Event-Webhook-Signature`` and ``-Timestamp``. The official
library checks it; it raises (rather than returning False) on a malformed
header, so every failure here is a plain "not signed".
"""

from __future__ import annotations

import time
from typing import Any

from digest.errors import ConfigError

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def load_public_key(text: str) -> Any:
    """The verification key from SendGrid's settings page (base64 DER), or a clear error."""
    from sendgrid.helpers.eventwebhook import EventWebhook

    try:
        return EventWebhook().convert_public_key_to_ecdsa(text.strip())
    except Exception:  # the library raises whatever cryptography raises for bad input
        raise ConfigError(
            "SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid verification key; copy it again from SendGrid's "
            "Mail Settings → Event Webhook → Signature verification"
        ) from None


def check_signature(public_key: Any, payload: str, signature: str, stamp: str, *, max_age: float) -> str:
    """'' when the body is signed by SendGrid and fresh; otherwise why not."""
    from sendgrid.helpers.eventwebhook import EventWebhook

    if not signature or not stamp:
        return "bad or missing signature"
    try:
        signed = bool(EventWebhook().verify_signature(payload, signature, stamp, public_key))
    except Exception:
        signed = False
    if not signed:
        return "bad or missing signature"
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return "bad timestamp"
    if abs(time.time() - int(stamp)) > max_age:
        return "stale timestamp"
    return ""
