"""Corrections and withdrawals of stories already sent (`digest corrections`).

Not :mod:`digest.articles.edits`, which is the editor's edits of imported
articles before they go out (`digest articles edit` and `delete`). Here a
story has reached readers, and taking it back must reach exactly them:

- ``store``: a correction or withdrawal recorded with who and when.
- ``audience``: which copies of the issue held the story (the ledger and the
  frozen variants know), and the correction's own send planned to their readers.
- ``message``: the short correction email, HTML and text.
- ``send``: the whole `digest corrections send`: plan → confirm → run, and resume,
  through the sending machinery (ledger, batches, lock, never twice).
- ``pages``: the archive's pages and feed as the corrections leave them.

May import: the base and the packages before it, up to :mod:`digest.events`.
"""

from __future__ import annotations

from digest.corrections.audience import CorrectionPlan, SegmentReach, plan_correction, reach_of
from digest.corrections.message import render_correction
from digest.corrections.send import correction_sends, resume_correction, send_correction
from digest.corrections.store import (
    CORRECTION,
    WITHDRAWAL,
    Correction,
    draft_correction,
    get_correction,
    list_corrections,
    record_correction,
    sent_story_ids,
    text_from_file,
)

__all__ = [
    "CORRECTION",
    "WITHDRAWAL",
    "Correction",
    "CorrectionPlan",
    "SegmentReach",
    "correction_sends",
    "draft_correction",
    "get_correction",
    "list_corrections",
    "plan_correction",
    "reach_of",
    "record_correction",
    "render_correction",
    "resume_correction",
    "send_correction",
    "sent_story_ids",
    "text_from_file",
]
