"""The SMTP envelope sender: a VERP address, so a bounce names the delivery it belongs to."""

from __future__ import annotations

from digest.config import Settings


def bounce_address(settings: Settings, delivery_id: int | None) -> str:
    """``bounces+<delivery id>@domain`` (``+test`` for test copies, which have no delivery)."""
    base = settings.email.bounce_address or f"bounces@{settings.email.domain}"
    local, _, domain = base.partition("@")
    tag = str(delivery_id) if delivery_id is not None else "test"
    return f"{local}+{tag}@{domain}"
