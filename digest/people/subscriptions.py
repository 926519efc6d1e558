"""What readers decide for themselves: unsubscribe by link, topic choices, resubscribe.

These are the library functions behind `digest serve`'s pages (the routes in
:mod:`digest.web` only read the request and call them). Each change records
its cause in the subscriber's history. Sign-up is :mod:`digest.people.signups`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.people.links import LinkToken, read_token
from digest.people.subscribers import (
    ACTIVE,
    UNSUBSCRIBED,
    Subscriber,
    change_status,
    own_unsubscribe,
    remove_suppression,
    row_to_subscriber,
)
from digest.store import db

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


def may_resubscribe(engine: Engine, subscriber_id: int) -> bool:
    """Whether the preferences page may offer to start again: only after the person's own unsubscribe."""
    with db.read(engine) as conn:
        return own_unsubscribe(conn, subscriber_id)


def resubscribe(engine: Engine, subscriber_id: int) -> bool:
    """The reader starts again from the preferences page; True when they are active again.

    Only the person's own unsubscribe is theirs to undo: an admin's suppression,
    a bounce or a spam complaint stays until `digest suppressions lift`.
    """
    with db.write(engine) as conn:
        # FOR UPDATE (PostgreSQL): a bounce or an admin arriving meanwhile waits for this decision.
        person = conn.execute(sa.select(S.c.email_hash).where(S.c.id == subscriber_id).with_for_update()).one()
        if not own_unsubscribe(conn, subscriber_id):
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
