"""What readers decide for themselves: unsubscribe by link, topic choices, resubscribe, sign up.

These are the library functions behind `digest serve`'s pages (the routes in
:mod:`digest.web` only read the request and call them). Each change records
its cause in the subscriber's history.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest import db
from digest.config import Settings
from digest.emails import Address
from digest.links import LinkToken, read_token
from digest.subscribers import (
    ACTIVE,
    UNSUBSCRIBED,
    Subscriber,
    change_status,
    email_hash,
    insert_subscriber,
    new_subscriber_values,
    normalise_profile,
    remove_suppression,
    row_to_subscriber,
)

CONFIRM_TTL = timedelta(days=7)
S = db.subscribers


# --- links in the email -------------------------------------------------------------------------


def resolve_link(engine: Engine, secret: bytes, token: str) -> LinkToken | None:
    """The subscriber (and delivery) a link token names, or None for a forged, altered or stale one."""
    found = read_token(secret, token)
    if found is None:
        return None
    with db.read(engine) as conn:
        exists = conn.execute(sa.select(S.c.id).where(S.c.id == found.subscriber_id)).first()
    return found if exists else None


def reader(engine: Engine, subscriber_id: int) -> Subscriber:
    with db.read(engine) as conn:
        return row_to_subscriber(conn.execute(sa.select(S).where(S.c.id == subscriber_id)).one())


def unsubscribe_by_link(engine: Engine, link: LinkToken, *, one_click: bool) -> None:
    """The reader asked to stop: through the email's one-click header, or the page's button."""
    issue = _issue_of(engine, link)
    detail = f"issue {issue}" if issue else "web page"
    with db.write(engine) as conn:
        status = conn.execute(sa.select(S.c.status).where(S.c.id == link.subscriber_id)).scalar()
        if status == ACTIVE:
            change_status(
                conn, link.subscriber_id, UNSUBSCRIBED, cause="one-click" if one_click else "unsubscribe-link",
                detail=detail,
            )  # fmt: skip


def _issue_of(engine: Engine, link: LinkToken) -> str:
    if not link.delivery_id:
        return ""
    with db.read(engine) as conn:
        query = sa.select(db.deliveries.c.issue_id).where(db.deliveries.c.id == link.delivery_id)
        return str(conn.execute(query).scalar() or "")


# --- the preferences page ---------------------------------------------------------------------------


def save_topics(engine: Engine, settings: Settings, subscriber_id: int, chosen: Sequence[str]) -> bool:
    """An active reader's topics; every topic ticked is the same as none (the whole digest)."""
    known = {rule.slug for rule in settings.topics}
    picked = [topic for topic in chosen if topic in known]
    value = [] if set(picked) == known else picked
    with db.write(engine) as conn:
        status = conn.execute(sa.select(S.c.status).where(S.c.id == subscriber_id)).scalar()
        if status != ACTIVE:
            return False
        conn.execute(S.update().where(S.c.id == subscriber_id).values(topics=value, updated_at=db.utcnow()))
    return True


def resubscribe(engine: Engine, subscriber_id: int) -> bool:
    """The reader starts again from the preferences page; True when they are active again."""
    with db.write(engine) as conn:
        person = conn.execute(sa.select(S.c.status, S.c.email_hash).where(S.c.id == subscriber_id)).one()
        if person.status != UNSUBSCRIBED:
            return False
        remove_suppression(conn, person.email_hash, "resubscribed on the preferences page")
        change_status(conn, subscriber_id, ACTIVE, cause="preferences", detail="resubscribed on the preferences page")
    return True


def unsubscribe_on_preferences(engine: Engine, subscriber_id: int) -> None:
    with db.write(engine) as conn:
        status = conn.execute(sa.select(S.c.status).where(S.c.id == subscriber_id)).scalar()
        if status == ACTIVE:
            change_status(
                conn, subscriber_id, UNSUBSCRIBED, cause="preferences", detail="unsubscribed on the preferences page"
            )


# --- sign-up with double opt-in -------------------------------------------------------------------


@dataclass(frozen=True)
class SignupRequest:
    """A confirmation waiting for its link to be pressed."""

    id: int
    email: str
    email_key: str
    profile: Mapping[str, Any]
    consent_text: str


def request_signup(engine: Engine, settings: Settings, address: Address, profile: Mapping[str, Any]) -> None:
    """Record a sign-up and mail its confirmation link; says nothing about whether the address is known."""
    token = secrets.token_urlsafe(24)
    notice = settings.privacy_notice_version or "the privacy notice on the sign-up page"
    with db.write(engine) as conn:
        active = conn.execute(sa.select(S.c.id).where(S.c.email_key == address.key, S.c.status == ACTIVE)).first()
        if active is not None:
            return  # already receiving it; say nothing that reveals so
        conn.execute(
            db.subscribe_requests.insert().values(
                email=address.email,
                email_key=address.key,
                profile=dict(profile),
                consent_text=f"Agreed on the web sign-up form to {notice}",
                token_hash=_token_hash(token),
                created_at=db.utcnow(),
            )
        )
    send_confirmation(settings, address.email, token)


def send_confirmation(settings: Settings, email: str, token: str) -> None:
    """The confirmation email, through the configured provider."""
    from digest.personalise import Personal
    from digest.providers.base import Batch, Recipient, make_provider
    from digest.render import RenderedEmail, environment

    url = f"{settings.base_url}/subscribe/confirm/{token}"
    context = {"org": settings.organisation, "confirm_url": url, "language": settings.language}
    html = environment(settings, "html").get_template("web/confirm_email.html.j2").render(context)
    text = environment(settings, "text").get_template("web/confirm_email.txt.j2").render(context)
    rendered = RenderedEmail("subscribe", None, "Please confirm your SAFE Newsfeed subscription", "", html, text, ())
    personal = Personal(
        unsubscribe_url=f"{settings.base_url}/subscribe", preferences_url="", view_url="", greeting_name=""
    )
    provider = make_provider(settings)
    try:
        provider.send(Batch("subscribe", None, rendered, [Recipient(None, email, "", personal)]))
    finally:
        provider.close()


def pending_signup(engine: Engine, token: str) -> SignupRequest | None:
    """The sign-up a confirmation link belongs to, while the link is valid."""
    with db.read(engine) as conn:
        found = conn.execute(
            sa.select(db.subscribe_requests).where(db.subscribe_requests.c.token_hash == _token_hash(token))
        ).first()
    if found is None or db.utcnow() - found.created_at > CONFIRM_TTL:
        return None
    return SignupRequest(found.id, found.email, found.email_key, dict(found.profile), found.consent_text)


def confirm_signup(engine: Engine, settings: Settings, signup: SignupRequest) -> None:
    """The link was pressed: the person is subscribed, with their consent recorded."""
    now = db.utcnow()
    hashed = email_hash(settings, signup.email_key)
    consent_source = "web sign-up, confirmed by email"
    with db.write(engine) as conn:
        existing = conn.execute(sa.select(S).where(S.c.email_key == signup.email_key)).first()
        if existing is None:
            suppressed = conn.execute(
                sa.select(db.suppressions.c.reason).where(db.suppressions.c.email_hash == hashed)
            ).scalar()
            if suppressed in (None, "unsubscribed", "manual", "erased"):
                remove_suppression(conn, hashed, "signed up again on the web and confirmed")
                values = new_subscriber_values(
                    settings,
                    Address(signup.email, signup.email_key),
                    normalise_profile(signup.profile),
                    consent_source=consent_source,
                    consent_at=now,
                    consent_text=signup.consent_text,
                    now=now,
                    hashed=hashed,
                )
                insert_subscriber(conn, values, cause="subscribe", detail=consent_source)
        elif existing.status == UNSUBSCRIBED:
            remove_suppression(conn, existing.email_hash, "signed up again on the web and confirmed")
            conn.execute(
                S.update()
                .where(S.c.id == existing.id)
                .values(consent_source=consent_source, consent_at=now, consent_text=signup.consent_text)
            )
            change_status(conn, existing.id, ACTIVE, cause="subscribe", detail="signed up again and confirmed")
        conn.execute(
            db.subscribe_requests.update().where(db.subscribe_requests.c.id == signup.id).values(confirmed_at=now)
        )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
