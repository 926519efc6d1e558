"""What each reader gets: variant keys, and the rendered variants frozen for a send.

A send's variants are rendered once and stored with it, so a resume sends the
same bytes; once the send runs they are also written into
``issues/<id>/sent/`` with the issue's archive pages, so the web archive shows
exactly what readers got whatever changes later. Approval
(:mod:`digest.issues.approval`) hashes the same renderings.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.files import atomic_write_text
from digest.issues.render import RenderedEmail, Renderings
from digest.store import db

ALL_TOPICS = "all"


def variant_key(topics: frozenset[str] | None) -> str:
    """A name for the stories a reader gets: 'all', or their topics."""
    return ALL_TOPICS if topics is None else "topics:" + ",".join(sorted(topics))


def variant_topics_of(key: str) -> frozenset[str] | None:
    """The topics a variant key stands for (None: every story)."""
    if key == ALL_TOPICS:
        return None
    body = key.removeprefix("topics:")
    return frozenset(t for t in body.split(",") if t)


def freeze_variants(
    engine: Engine, settings: Settings, send_id: int, renderings: Renderings | None = None
) -> dict[str, RenderedEmail]:
    """The rendered variants of a send: rendered once (from ``renderings`` when given) and stored."""
    d = db.deliveries
    with db.read(engine) as conn:
        issue_id = conn.execute(sa.select(db.sends.c.issue_id).where(db.sends.c.id == send_id)).scalar_one()
        stored = {
            row.variant: row
            for row in conn.execute(sa.select(db.send_variants).where(db.send_variants.c.send_id == send_id))
        }
        keys = conn.execute(sa.select(d.c.variant).where(d.c.send_id == send_id).distinct()).scalars().all()
    missing = [key for key in keys if key is not None and key not in stored]
    frozen = {
        key: RenderedEmail(
            issue_id=issue_id,
            segment=key,
            subject=row.subject,
            preheader=row.preheader,
            html=row.html,
            text=row.text,
            story_ids=tuple(row.story_ids),
        )
        for key, row in stored.items()
    }
    if missing:
        if renderings is None:
            from digest.issues.issue import load_view

            renderings = Renderings(load_view(engine, settings, issue_id), settings)
        with db.write(engine) as conn:
            for key in missing:
                rendered = renderings.variant(variant_topics_of(key))
                store_variant(conn, send_id, key, rendered)
                # As it is now stored (segment None): the same as a later read of it gives.
                frozen[key] = RenderedEmail(
                    issue_id=issue_id,
                    segment=key,
                    subject=rendered.subject,
                    preheader=rendered.preheader,
                    html=rendered.html,
                    text=rendered.text,
                    story_ids=tuple(rendered.story_ids),
                )
    return frozen


def store_variant(conn: Connection, send_id: int, key: str, rendered: RenderedEmail) -> None:
    """Freeze one rendered variant with its send (under its key, for whichever segments share it)."""
    conn.execute(
        db.send_variants.insert().values(
            send_id=send_id,
            variant=key,
            segment=None,
            subject=rendered.subject,
            preheader=rendered.preheader,
            html=rendered.html,
            text=rendered.text,
            story_ids=list(rendered.story_ids),
            content_hash=rendered.content_hash,
        )
    )


def freeze_sent(
    engine: Engine, settings: Settings, send_id: int, renderings: Renderings | None = None
) -> dict[str, RenderedEmail]:
    """Write the send's variants and the issue's archive pages into issues/<id>/sent/; returns the variants."""
    from digest.issues.archive import archive_pages
    from digest.issues.issue import load_view

    variants = freeze_variants(engine, settings, send_id, renderings)
    with db.read(engine) as conn:
        issue_id = conn.execute(sa.select(db.sends.c.issue_id).where(db.sends.c.id == send_id)).scalar_one()
    folder = settings.issues_dir / issue_id / "sent"
    manifest: dict[str, Any] = {"send_id": send_id, "frozen_at": db.utcnow().isoformat(), "variants": {}}
    for key, variant in variants.items():
        name = _file_name(key)
        atomic_write_text(folder / "variants" / f"{name}.html", variant.html)
        atomic_write_text(folder / "variants" / f"{name}.txt", variant.text)
        manifest["variants"][key] = {
            "file": name,
            "subject": variant.subject,
            "content_hash": variant.content_hash,
            "stories": list(variant.story_ids),
        }
    view = renderings.view if renderings is not None else load_view(engine, settings, issue_id)
    for page, html in archive_pages(view, settings).items():
        atomic_write_text(folder / "archive" / page, html)
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return variants


def _file_name(key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in key)
    return safe[:80] + "-" + hashlib.sha256(key.encode()).hexdigest()[:8]
