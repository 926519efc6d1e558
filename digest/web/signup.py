"""/subscribe and /subscribe/confirm/<token>: double opt-in sign-up.

Rate-limited per client, protected against cross-site posting by a signed form
token bound to a cookie and an Origin check, and answering the same whether or
not the address is known. Confirming takes a press of a button: a link scanner
must not subscribe anyone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from typing import Any

from flask import Flask, Response, request

from digest import segments, subscriptions
from digest.emails import check_address
from digest.errors import InputError
from digest.web.context import WebContext

FORM_TTL_SECONDS = 2 * 3600
FORM_FIELDS = ("email", "first_name", "last_name", "organisation", "role", "sector")


class RateLimiter:
    """A sliding window per client address, in this process's memory."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self.hits: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            hits = self.hits[client]
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


class FormTokens:
    """A signed, time-limited form token bound to a random nonce kept in a cookie."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def make(self, nonce: str) -> str:
        stamp = str(int(time.time()))
        return f"{stamp}.{self._mac(nonce, stamp)}"

    def check(self, nonce: str, token: str) -> bool:
        stamp, _, mac = token.partition(".")
        if not nonce or not stamp.isdigit() or time.time() - int(stamp) > FORM_TTL_SECONDS:
            return False
        return hmac.compare_digest(self._mac(nonce, stamp), mac)

    def _mac(self, nonce: str, stamp: str) -> str:
        return hmac.new(self.secret, f"form:{nonce}:{stamp}".encode(), hashlib.sha256).hexdigest()


def register(app: Flask, context: WebContext) -> None:
    settings = context.settings
    limiter = RateLimiter(settings.events.subscribe_rate_limit, 3600)
    tokens = FormTokens(context.secret)
    topics = [{"slug": rule.slug, "label": rule.label} for rule in settings.topics]

    def form_page(status: int, nonce: str, errors: list[str], values: dict[str, str]) -> Response:
        return context.page(
            "subscribe.html.j2",
            status,
            topics=topics,
            # The organisation's own sectors, which the segment rules match word for word.
            sectors=segments.sector_choices(settings),
            form_token=tokens.make(nonce),
            notice=settings.privacy_notice_version,
            errors=errors,
            values=values,
        )

    def same_origin() -> bool:
        origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
        if not origin:
            return True  # some privacy tools strip both; the form token still has to match the cookie
        allowed = {settings.base_url, request.host_url.rstrip("/")}
        return any(origin == base or origin.startswith(base + "/") for base in allowed)

    def subscribe() -> Response:
        if request.method == "GET":
            nonce = secrets.token_urlsafe(16)
            response = form_page(200, nonce, [], {})
            response.set_cookie(
                "digest_form",
                nonce,
                httponly=True,
                samesite="Strict",
                secure=settings.base_url.startswith("https://"),
                max_age=FORM_TTL_SECONDS,
            )
            return response
        if not same_origin() or not tokens.check(
            request.cookies.get("digest_form", ""), request.form.get("form_token", "")
        ):
            return context.error(
                403, "Please try again", "The form had expired or came from another site. Open the sign-up page again."
            )
        if not limiter.allow(request.remote_addr or "unknown"):
            return context.error(429, "Too many sign-ups", "Please wait an hour before trying again.")
        return handle_signup()

    def handle_signup() -> Response:
        form = request.form
        values = {key: form.get(key, "").strip()[:200] for key in FORM_FIELDS}
        sectors = segments.sector_choices(settings)
        if sectors and values["sector"] not in {value for value, _label in sectors}:
            values["sector"] = ""  # only the offered choices (or none) are kept
        errors = []
        address = None
        try:
            address = check_address(values["email"])
        except InputError as exc:
            errors.append(exc.reason)
        if form.get("consent") != "yes":
            errors.append("Please tick the box to agree to receive the digest.")
        if errors or address is None:
            return form_page(400, request.cookies.get("digest_form", ""), errors, values)
        chosen = [t for t in form.getlist("topics") if t in {rule.slug for rule in settings.topics}]
        profile: dict[str, Any] = {**{k: v for k, v in values.items() if k != "email"}, "topics": chosen}
        subscriptions.request_signup(context.engine, settings, address, profile)
        # The same answer whether the address is new, known or suppressed.
        return context.page("subscribe_sent.html.j2")

    def confirm(token: str) -> Response:
        signup = subscriptions.pending_signup(context.engine, token)
        if signup is None:
            return context.bad_link()
        if request.method == "GET":
            return context.page("confirm.html.j2", token=token)
        subscriptions.confirm_signup(context.engine, settings, signup)
        return context.page("subscribe_confirmed.html.j2")

    app.add_url_rule("/subscribe", "subscribe", subscribe, methods=["GET", "POST"])
    app.add_url_rule("/subscribe/confirm/<token>", "confirm", confirm, methods=["GET", "POST"])
