"""Sign-up with double opt-in: a request is queued, a confirmation mailed, a link pressed once.

The form's answer must not tell anyone whether an address is already known, so
the request does the same work for every address: it counts the client and the
target address against their rate limits (kept in the database, shared by every
`digest serve` process) and stores the request as ``queued``. Everything that
depends on who the address belongs to happens later, away from the visitor, in
:func:`send_queued`: an active subscriber, a suppressed address or one with a
hard bounce on record gets no mail; anyone else gets a one-time link.

States of a request: ``queued`` → ``sent`` (mailed, its link valid for
:data:`CONFIRM_TTL`) → ``confirmed`` (the link was used; it never works again),
or ``skipped`` (nobody mailed, with why), ``limited`` (over the per-address
limit: nobody mailed) and ``failed`` (the provider refused). :func:`purge`
forgets every request after the TTL.

Confirming creates a subscriber only when the address has no record and no
suppression at that moment: a link never lifts a suppression, and never
restores someone who left after asking.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import DigestError
from digest.people import ratelimit
from digest.people.emails import Address
from digest.people.subscribers import (
    ACTIVE,
    email_hash,
    insert_subscriber,
    is_suppressed,
    new_subscriber_values,
    normalise_profile,
)
from digest.store import db

CONFIRM_TTL = timedelta(days=7)
CLIENT_WINDOW = timedelta(hours=1)
ADDRESS_WINDOW = timedelta(days=1)
QUEUED, SENT, CONFIRMED, SKIPPED, LIMITED, FAILED = "queued", "sent", "confirmed", "skipped", "limited", "failed"
CLAIMING = "sending"
# What pressing a confirmation link did.
SUBSCRIBED, ALREADY, REFUSED, USED, INVALID = "subscribed", "already", "refused", "used", "invalid"
CONSENT_SOURCE = "web sign-up, confirmed by email"
R = db.subscribe_requests
log = logging.getLogger("digest.signups")


def request_signup(
    engine: Engine, settings: Settings, address: Address, profile: Mapping[str, Any], *, client: str | None
) -> bool:
    """Queue a sign-up; False when the client is over its hourly limit (nothing is stored then).

    The same statements run for every address, known or not; over the
    per-address daily limit the request is kept as ``limited`` and nobody is
    mailed, so nobody's mailbox can be flooded, and the visitor cannot tell.
    """
    secret = settings.require_secret_key()
    notice = settings.privacy_notice_version or "the privacy notice on the sign-up page"
    cleaned = normalise_profile(profile)  # control characters (terminal escapes) never get in
    now = db.utcnow()
    events = settings.events
    with db.write(engine) as conn:
        client_bucket = ratelimit.bucket(secret, "client", ratelimit.client_network(client))
        if not ratelimit.hit(conn, client_bucket, limit=events.subscribe_rate_limit, window=CLIENT_WINDOW, now=now):
            return False
        address_bucket = ratelimit.bucket(secret, "address", address.key)
        within = ratelimit.hit(
            conn, address_bucket, limit=events.subscribe_address_limit, window=ADDRESS_WINDOW, now=now
        )
        conn.execute(
            R.insert().values(
                email=address.email,
                email_key=address.key,
                profile=cleaned,
                consent_text=f"Agreed on the web sign-up form to {notice}",
                token_hash=None,
                created_at=now,
                state=QUEUED if within else LIMITED,
                outcome="" if within else f"over {events.subscribe_address_limit} requests for this address a day",
            )
        )
    return True


def send_queued(engine: Engine, settings: Settings, *, limit: int = 100) -> int:
    """Mail the confirmations of queued requests (claimed one by one, so processes never share one).

    Returns how many were mailed. An active subscriber, a suppressed address or
    one with a hard bounce on record is skipped, with the reason kept.
    """
    with db.read(engine) as conn:
        waiting = conn.execute(sa.select(R.c.id).where(R.c.state == QUEUED).order_by(R.c.id).limit(limit)).scalars()
        candidates = list(waiting)
    mailed = 0
    for request_id in candidates:
        token = secrets.token_urlsafe(24)
        with db.write(engine) as conn:
            claimed = conn.execute(
                R.update().where(R.c.id == request_id, R.c.state == QUEUED).values(state=CLAIMING)
            ).rowcount
            if not claimed:
                continue  # another process took it
            row = conn.execute(sa.select(R.c.email, R.c.email_key).where(R.c.id == request_id)).one()
            reason = _why_not_mail(conn, settings, row.email_key)
            if reason:
                conn.execute(R.update().where(R.c.id == request_id).values(state=SKIPPED, outcome=reason))
                continue
            # The link is valid from here; if the process dies before the mail goes, nobody knows it.
            conn.execute(
                R.update()
                .where(R.c.id == request_id)
                .values(state=SENT, token_hash=_token_hash(token), sent_at=db.utcnow())
            )
        try:
            send_confirmation(settings, row.email, token)
        except DigestError as exc:
            log.warning("sign-up confirmation %s not sent: %s", request_id, exc)
            with db.write(engine) as conn:
                conn.execute(
                    R.update().where(R.c.id == request_id).values(state=FAILED, token_hash=None, outcome=str(exc)[:500])
                )
            continue
        mailed += 1
    return mailed


def _why_not_mail(conn: Connection, settings: Settings, key: str) -> str:
    """Why this address gets no confirmation ('' when it may): known, suppressed or hard-bounced."""
    status = conn.execute(sa.select(db.subscribers.c.status).where(db.subscribers.c.email_key == key)).scalar()
    if status == ACTIVE:
        return "already subscribed"
    if status is not None:
        return f"already known ({status}); only the preferences page or `digest suppressions lift` restores them"
    if is_suppressed(conn, email_hash(settings, key)):
        return "suppressed"
    if _hard_bounced(conn, key):
        return "a hard bounce is on record for this address"
    return ""


def _hard_bounced(conn: Connection, key: str) -> bool:
    # A confirmation that bounced hard left an event with no subscriber behind it.
    e = db.events
    query = sa.select(e.c.id).where(e.c.type == "bounced", sa.func.lower(e.c.email) == key).limit(1)
    return conn.execute(query).first() is not None


def send_confirmation(settings: Settings, email: str, token: str) -> None:
    """The confirmation email, through the configured provider.

    It carries no List-Unsubscribe: it is not list mail, the person is on no
    list yet, and ignoring it is how to say no.
    """
    from digest.issues.personalise import Personal
    from digest.issues.render import RenderedEmail, environment
    from digest.providers.base import Batch, Recipient, make_provider

    url = f"{settings.base_url}/subscribe/confirm/{token}"
    context = {"org": settings.organisation, "confirm_url": url, "language": settings.language}
    html = environment(settings, "html").get_template("web/confirm_email.html.j2").render(context)
    text = environment(settings, "text").get_template("web/confirm_email.txt.j2").render(context)
    rendered = RenderedEmail("subscribe", None, "Please confirm your SAFE Newsfeed subscription", "", html, text, ())
    personal = Personal(unsubscribe_url="", preferences_url="", view_url="", greeting_name="")
    provider = make_provider(settings)
    try:
        provider.send(Batch("subscribe", None, rendered, [Recipient(None, email, "", personal)]))
    finally:
        provider.close()


def link_state(engine: Engine, token: str, *, now: datetime | None = None) -> str:
    """What a confirmation link is now: ``sent`` (usable), ``used``, or ``invalid`` (unknown or expired)."""
    with db.read(engine) as conn:
        found = conn.execute(sa.select(R.c.state, R.c.created_at).where(R.c.token_hash == _token_hash(token))).first()
    if found is None or (now or db.utcnow()) - found.created_at > CONFIRM_TTL:
        return INVALID
    if found.state == SENT:
        return SENT
    return USED if found.state == CONFIRMED else INVALID


def confirm_signup(engine: Engine, settings: Settings, token: str, *, now: datetime | None = None) -> str:
    """The link was pressed: subscribe the person, once. Returns what happened.

    ``subscribed``: a new active subscriber with their consent recorded;
    ``already``: they are already active; ``refused``: the address is known or
    suppressed (perhaps since the request), so nothing changed; ``used`` or
    ``invalid``: the link was used before, expired or never existed.
    """
    now = now or db.utcnow()
    with db.write(engine) as conn:
        found = conn.execute(sa.select(R).where(R.c.token_hash == _token_hash(token))).first()
        if found is None or now - found.created_at > CONFIRM_TTL:
            return INVALID
        # The link works once: only one press can move the request on from 'sent'.
        taken = conn.execute(
            R.update().where(R.c.id == found.id, R.c.state == SENT).values(state=CONFIRMED, confirmed_at=now)
        ).rowcount
        if not taken:
            return USED if found.state == CONFIRMED else INVALID
        outcome = _subscribe(conn, settings, found, now)
        conn.execute(R.update().where(R.c.id == found.id).values(outcome=outcome))
        if outcome == SUBSCRIBED:
            # The person's other links for the same address are spent too.
            conn.execute(
                R.update()
                .where(R.c.email_key == found.email_key, R.c.id != found.id, R.c.state.in_([QUEUED, SENT]))
                .values(state=SKIPPED, outcome="another request for this address was confirmed")
            )
    return outcome


def _subscribe(conn: Connection, settings: Settings, found: Any, now: datetime) -> str:
    existing = conn.execute(
        sa.select(db.subscribers.c.status).where(db.subscribers.c.email_key == found.email_key)
    ).first()
    if existing is not None:
        # Known already: active stays active; anyone who left is not brought back by a sign-up link.
        return ALREADY if existing.status == ACTIVE else REFUSED
    hashed = email_hash(settings, found.email_key)
    if is_suppressed(conn, hashed) or _hard_bounced(conn, found.email_key):
        return REFUSED  # suppressed since the link was mailed: a link never lifts a suppression
    values = new_subscriber_values(
        settings,
        Address(found.email, found.email_key),
        normalise_profile(found.profile),
        consent_source=CONSENT_SOURCE,
        consent_at=now,
        consent_text=found.consent_text,
        now=now,
        hashed=hashed,
    )
    insert_subscriber(conn, values, cause="subscribe", detail=CONSENT_SOURCE)
    return SUBSCRIBED


def purge(engine: Engine, *, now: datetime | None = None) -> tuple[int, int]:
    """Forget sign-up requests older than the TTL (whatever became of them) and spent rate-limit counts.

    A confirmed request's consent already lives on the subscriber; an
    unconfirmed one is a stranger's address we have no reason to keep.
    Returns (requests, rate-limit rows) removed.
    """
    now = now or db.utcnow()
    with db.write(engine) as conn:
        requests = conn.execute(R.delete().where(R.c.created_at < now - CONFIRM_TTL)).rowcount or 0
        hits = ratelimit.purge(conn, max(CLIENT_WINDOW, ADDRESS_WINDOW), now=now)
    return int(requests), hits


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
