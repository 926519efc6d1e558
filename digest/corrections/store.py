"""Corrections and withdrawals as recorded: one row each, with who recorded it and when.

A correction carries the corrected wording; a withdrawal the notice shown in
the story's place. Either is about one story of a sent issue that at least one
accepted copy held; a withdrawn story is not corrected afterwards.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.articles.content import clean_text
from digest.config import Settings
from digest.errors import InputError, NotFoundError, StateError
from digest.sending.ledger import KEY_SEPARATOR, sent_issue_ids
from digest.sending.states import DeliveryState
from digest.store import db

CORRECTION = "correction"
WITHDRAWAL = "withdrawal"
DEFAULT_NOTICE = "This story has been withdrawn. Please do not rely on it or pass it on."
MAX_TEXT = 5000
MAX_BY = 200
MAX_ISSUE_ID = 100  # the ledger's key, "<issue>/correction-<id>", must fit its 120 characters
C = db.story_corrections


@dataclass(frozen=True)
class Correction:
    """A correction (or withdrawal) of one story of a sent issue."""

    id: int
    issue_id: str
    article_id: str
    kind: str
    text: str
    title: str
    issue_date: date
    created_by: str
    created_at: datetime

    @property
    def withdrawn(self) -> bool:
        return self.kind == WITHDRAWAL

    @property
    def ledger_key(self) -> str:
        """What the ledger files this correction's own sends under: one copy per reader, ever."""
        return f"{self.issue_id}{KEY_SEPARATOR}correction-{self.id}"

    @property
    def subject(self) -> str:
        return f"{'Withdrawn' if self.withdrawn else 'Correction'}: {self.title}"

    @property
    def paragraphs(self) -> list[str]:
        return [part for part in self.text.split("\n\n") if part]


def correction_day(settings: Settings, correction: Correction) -> date:
    """The organisation's day the correction was recorded: the date readers are shown."""
    from zoneinfo import ZoneInfo

    return correction.created_at.astimezone(ZoneInfo(settings.organisation.timezone)).date()


def _row(row: sa.Row[tuple[object, ...]]) -> Correction:
    values = row._mapping
    return Correction(
        id=int(values["id"]),
        issue_id=str(values["issue_id"]),
        article_id=str(values["article_id"]),
        kind=str(values["kind"]),
        text=str(values["text"]),
        title=str(values["title"]),
        issue_date=values["issue_date"],
        created_by=str(values["created_by"]),
        created_at=values["created_at"],
    )


def clean_wording(text: str) -> str:
    """The editor's wording: paragraphs (split at blank lines) with their spaces tidied."""
    paragraphs = [clean_text(part) for part in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    cleaned = "\n\n".join(part for part in paragraphs if part)
    if len(cleaned) > MAX_TEXT:
        raise InputError(f"the wording is {len(cleaned)} characters long; keep it under {MAX_TEXT}")
    return cleaned


def text_from_file(path: str | Path) -> str:
    """The wording in a UTF-8 text file (`--text-file`)."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read it: {exc.strerror or exc}", path=path) from None
    except UnicodeDecodeError:
        raise InputError("is not UTF-8 text; save it as UTF-8 and try again", path=path) from None


def sent_story_ids(engine: Engine, issue_id: str) -> list[str]:
    """The stories that reached readers: those of the issue's frozen copies the provider accepted for
    anyone, in the issue's order (each copy is found by the ledger's (send, state, variant) index)."""
    d, sv = db.deliveries, db.send_variants
    taken = sa.exists().where(
        d.c.send_id == sv.c.send_id, d.c.state == DeliveryState.ACCEPTED, d.c.variant == sv.c.variant
    )
    query = (
        sa.select(sv.c.variant, sv.c.story_ids)
        .join(db.sends, db.sends.c.id == sv.c.send_id)
        .where(db.sends.c.issue_id == issue_id, taken)
        .order_by(sv.c.send_id, sv.c.variant)
    )
    with db.read(engine) as conn:
        copies = conn.execute(query).all()
    found: dict[str, None] = {}
    # The whole issue's copy (if one went) lists every story in the issue's order; the others fill in.
    for _variant, stories in sorted(copies, key=lambda row: row.variant != "all"):
        found.update(dict.fromkeys(stories or ()))
    return list(found)


def draft_correction(
    engine: Engine,
    settings: Settings,
    issue_ref: str,
    article_id: str,
    *,
    text: str = "",
    withdrawn: bool = False,
    by: str | None = None,
) -> Correction:
    """The correction as it would be recorded (numbered 0, nothing written): checked, for a preview.

    Refuses an issue nobody was sent, a story no accepted copy held, a correction
    without wording and anything more about a story already withdrawn.
    """
    from digest.articles.store import get_article
    from digest.issues.issue import load_issue

    issue = load_issue(settings, issue_ref)
    if len(issue.id) > MAX_ISSUE_ID:
        raise InputError(f"issue ids longer than {MAX_ISSUE_ID} characters leave no room for a correction's key")
    if not sent_issue_ids(engine, only=issue.id):
        raise StateError(f"issue {issue.id} has not been sent; change its file instead (issues/{issue.id}/issue.yaml)")
    held = sent_story_ids(engine, issue.id)
    if article_id not in held:
        raise InputError(
            f"no copy of issue {issue.id} that went out held the story {article_id!r}; "
            f"its stories were: {', '.join(held)}"
        )
    earlier = [item for item in list_corrections(engine, issue.id) if item.article_id == article_id and item.withdrawn]
    if earlier:
        raise StateError(
            f"the story {article_id} was withdrawn on {earlier[0].created_at:%Y-%m-%d} (#{earlier[0].id}); "
            "there is nothing more to correct"
        )
    wording = clean_wording(text)
    if not wording and not withdrawn:
        raise InputError("say what the correction is with --text or --text-file (or --withdrawn to withdraw the story)")
    return Correction(
        id=0,
        issue_id=issue.id,
        article_id=article_id,
        kind=WITHDRAWAL if withdrawn else CORRECTION,
        text=wording or DEFAULT_NOTICE,
        title=get_article(engine, article_id).title,
        issue_date=issue.date,
        created_by=clean_text(by or getpass.getuser() or "unknown")[:MAX_BY] or "unknown",
        created_at=db.utcnow(),
    )


def record_correction(
    engine: Engine,
    settings: Settings,
    issue_ref: str,
    article_id: str,
    *,
    text: str = "",
    withdrawn: bool = False,
    by: str | None = None,
) -> Correction:
    """Record a correction of a story of a sent issue, or its withdrawal (``withdrawn``), checked as
    :func:`draft_correction` checks it."""
    draft = draft_correction(engine, settings, issue_ref, article_id, text=text, withdrawn=withdrawn, by=by)
    values = {name: value for name, value in vars(draft).items() if name != "id"}
    with db.write(engine) as conn:
        new_id = conn.execute(C.insert().values(**values).returning(C.c.id)).scalar_one()
    return get_correction(engine, int(new_id))


def list_corrections(engine: Engine, issue_id: str | None = None) -> list[Correction]:
    """Every correction (of one issue, or all), oldest first."""
    query = sa.select(C).order_by(C.c.id)
    if issue_id is not None:
        query = query.where(C.c.issue_id == issue_id)
    with db.read(engine) as conn:
        return [_row(row) for row in conn.execute(query).all()]


def get_correction(engine: Engine, correction_id: int) -> Correction:
    with db.read(engine) as conn:
        row = conn.execute(sa.select(C).where(C.c.id == correction_id)).first()
    if row is None:
        raise NotFoundError(f"no correction #{correction_id}; `digest corrections list` lists them")
    return _row(row)
