"""/subscribe and /subscribe/confirm/<token>: double opt-in sign-up.

Protected against cross-site posting by a signed form token bound to a cookie
and an exact Origin check; rate-limited per client and per target address in
the database (:mod:`digest.people.signups`); answering the same, after the same work,
whether or not the address is known: the confirmation is mailed later, by the
queue (:mod:`digest.web.queue`). Only a POST changes anything: confirming takes
a press of a button, so a link scanner (GET or HEAD) subscribes nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request

from digest.errors import InputError
from digest.people import segments, signups
from digest.people.emails import check_address
from digest.web.context import WebContext

FORM_TTL_SECONDS = 2 * 3600
FORM_FIELDS = ("email", "first_name", "last_name", "organisation", "role", "sector")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, default ports dropped; '' when it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    netloc = parts.hostname if port in (None, default) else f"{parts.hostname}:{port}"
    return f"{parts.scheme}://{netloc}"


def same_origin(origin: str, referer: str, allowed: set[str]) -> bool:
    """Whether a POST came from one of our own pages: its Origin (else its Referer) names exactly our origin.

    Compared as whole origins, so ``https://news.example.org.evil.example`` is not ``https://news.example.org``.
    """
    claimed = origin or referer
    if not claimed:
        return True  # some privacy tools strip both; the form token still has to match the cookie
    return origin_of(claimed) in allowed


class FormTokens:
    """A signed, time-limited form token bound to a random nonce kept in a cookie."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def make(self, nonce: str) -> str:
        stamp = str(int(time.time()))
        return f"{stamp}.{self._mac(nonce, stamp)}"

    def check(self, nonce: str, token: str) -> bool:
        stamp, _, mac = token.partition(".")
        if not nonce or not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            return False
        if time.time() - int(stamp) > FORM_TTL_SECONDS:
            return False
        return hmac.compare_digest(self._mac(nonce, stamp), mac)

    def _mac(self, nonce: str, stamp: str) -> str:
        return hmac.new(self.secret, f"form:{nonce}:{stamp}".encode(), hashlib.sha256).hexdigest()


def register(app: Flask, context: WebContext) -> None:
    settings = context.settings
    tokens = FormTokens(context.secret)
    topics = [{"slug": rule.slug, "label": rule.label} for rule in settings.topics]
    known_topics = {rule.slug for rule in settings.topics}

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

    def subscribe() -> Response:
        if request.method != "POST":  # GET and HEAD: the form
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
        allowed = {origin_of(settings.base_url), origin_of(request.host_url)} - {""}
        origin_ok = same_origin(request.headers.get("Origin", ""), request.headers.get("Referer", ""), allowed)
        token_ok = tokens.check(request.cookies.get("digest_form", ""), request.form.get("form_token", ""))
        if not origin_ok or not token_ok:
            return context.error(
                403, "Please try again", "The form had expired or came from another site. Open the sign-up page again."
            )
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
        chosen = [t for t in form.getlist("topics") if t in known_topics]
        profile: dict[str, Any] = {**{k: v for k, v in values.items() if k != "email"}, "topics": chosen}
        # remote_addr is the client's address: ProxyFix (app.py) sets it from trusted proxies only.
        if not signups.request_signup(context.engine, settings, address, profile, client=request.remote_addr):
            return context.error(429, "Too many sign-ups", "Please wait an hour before trying again.")
        context.confirmations.wake()
        # The same answer, after the same work, whether the address is new, known or suppressed.
        return context.page("subscribe_sent.html.j2")

    def confirm(token: str) -> Response:
        if request.method != "POST":  # GET and HEAD (link scanners) only show the button
            state = signups.link_state(context.engine, token)
            if state == signups.SENT:
                return context.page("confirm.html.j2", token=token)
            return used_link() if state == signups.USED else context.bad_link()
        outcome = signups.confirm_signup(context.engine, settings, token)
        if outcome in (signups.SUBSCRIBED, signups.ALREADY):
            return context.page("subscribe_confirmed.html.j2")
        if outcome == signups.REFUSED:
            return context.error(
                409,
                "We cannot subscribe this address",
                "Nothing has changed: this address has left the SAFE Newsfeed or cannot receive it, and a "
                "sign-up link does not change that. Please contact us if you would like to receive it again.",
            )
        return used_link() if outcome == signups.USED else context.bad_link()

    def used_link() -> Response:
        return context.error(
            400, "This link has already been used", "Each confirmation link works once. Nothing has changed."
        )

    app.add_url_rule("/subscribe", "subscribe", subscribe, methods=["GET", "POST"])
    app.add_url_rule("/subscribe/confirm/<token>", "confirm", confirm, methods=["GET", "POST"])
