"""Approval of exactly what will be sent.

`digest issue approve` records who approved a hash over the HTML and text of
every variant (the whole issue and each segment's). Sending refuses an issue
whose rendering has changed since, until it is approved again. (Freezing what
was sent is :mod:`digest.sending.variants`.)
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import StateError
from digest.issues.render import Renderings
from digest.store import db


@dataclass(frozen=True)
class Approval:
    issue_id: str
    content_hash: str
    variants: dict[str, str]
    approved_by: str
    approved_at: datetime


def current_variants(
    engine: Engine, settings: Settings, issue_ref: str, renderings: Renderings | None = None
) -> tuple[str, dict[str, str]]:
    """(issue id, {variant: content hash}) for the whole issue and every segment's variant."""
    from digest.issues.issue import load_view
    from digest.people.segments import load_segments

    if renderings is None:
        renderings = Renderings(load_view(engine, settings, issue_ref), settings)
    variants = {"all": renderings.variant().content_hash}
    if settings.segments_file.is_file():
        for segment in load_segments(settings):
            variants[f"segment:{segment.name}"] = renderings.variant(segment.topics).content_hash
    return renderings.view.issue.id, variants


def combined_hash(variants: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(variants, sort_keys=True).encode()).hexdigest()


def approve(engine: Engine, settings: Settings, issue_ref: str, *, approved_by: str | None = None) -> Approval:
    """Record that ``approved_by`` approved the issue as it renders now."""
    issue_id, variants = current_variants(engine, settings, issue_ref)
    who = (approved_by or getpass.getuser() or "unknown").strip()
    now = db.utcnow()
    content_hash = combined_hash(variants)
    with db.write(engine) as conn:
        conn.execute(
            db.approvals.insert().values(
                issue_id=issue_id, content_hash=content_hash, variants=variants, approved_by=who, approved_at=now
            )
        )
    return Approval(issue_id, content_hash, variants, who, now)


def latest_approval(engine: Engine, issue_id: str) -> Approval | None:
    query = (
        sa.select(db.approvals)
        .where(db.approvals.c.issue_id == issue_id)
        .order_by(db.approvals.c.approved_at.desc(), db.approvals.c.id.desc())
        .limit(1)
    )
    with db.read(engine) as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return Approval(row.issue_id, row.content_hash, dict(row.variants), row.approved_by, row.approved_at)


def approval_state(
    engine: Engine, settings: Settings, issue_ref: str, renderings: Renderings | None = None
) -> tuple[Approval | None, bool]:
    """The issue's latest approval, and whether it still matches how the issue renders now."""
    issue_id, variants = current_variants(engine, settings, issue_ref, renderings)
    approval = latest_approval(engine, issue_id)
    return approval, approval is not None and approval.content_hash == combined_hash(variants)


def require_approval(
    engine: Engine, settings: Settings, issue_ref: str, *, renderings: Renderings | None = None
) -> Approval | None:
    """Refuse to send an issue that is not approved as it renders now (when approval is required)."""
    if not settings.require_approval:
        return None
    issue_id, variants = current_variants(engine, settings, issue_ref, renderings)
    approval = latest_approval(engine, issue_id)
    if approval is None:
        raise StateError(
            f"issue {issue_id} is not approved; review the preview, then run `digest issue approve {issue_id}` "
            "(or set require_approval = false under [sending] in digest.toml)"
        )
    if approval.content_hash != combined_hash(variants):
        changed = sorted(
            k for k in set(variants) | set(approval.variants) if variants.get(k) != approval.variants.get(k)
        )
        raise StateError(
            f"issue {issue_id} has changed since {approval.approved_by} approved it on "
            f"{approval.approved_at:%Y-%m-%d %H:%M} UTC (changed: {', '.join(changed)}); "
            f"review it and run `digest issue approve {issue_id}` again"
        )
    return approval
