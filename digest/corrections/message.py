"""The correction email: a short message of its own (templates correction.mjml.j2 and correction.txt.j2).

Subject "Correction: <story title>" or "Withdrawn: <story title>"; the date of
the issue that carried the story; the corrected wording or the withdrawal
notice; and the reader's usual footer with the digest's per-reader
placeholders, so sending fills them and adds the List-Unsubscribe headers as
it does for an issue. Rendered once per correction, like a digest variant.
"""

from __future__ import annotations

from typing import Any

from digest.config import Settings
from digest.corrections.store import Correction, correction_day
from digest.errors import DigestError
from digest.issues.issue import human_date
from digest.issues.render import (
    TOKENS,
    RenderedEmail,
    archive_url,
    neutralise_text,
    neutralise_url,
    render_html,
    render_text,
    unknown_placeholders,
)

TEMPLATE = "correction"


def correction_context(settings: Settings, correction: Correction) -> dict[str, Any]:
    """What correction.mjml.j2 and correction.txt.j2 need; the editor's words can hold no placeholder."""
    day = correction_day(settings, correction)
    issue_date = human_date(correction.issue_date)
    if correction.withdrawn:
        preheader = f"A story withdrawn from the SAFE Newsfeed of {issue_date}"
    else:
        preheader = f"A correction to the SAFE Newsfeed of {issue_date}"
    return {
        "org": settings.organisation,
        "sender": settings.email,
        "language": settings.language,
        "subject": neutralise_text(correction.subject),
        "preheader": preheader,
        "correction": {
            "withdrawn": correction.withdrawn,
            "label": "Withdrawn" if correction.withdrawn else "Correction",
            "title": neutralise_text(correction.title),
            "paragraphs": [neutralise_text(part) for part in correction.paragraphs],
            "date": human_date(day),
            "issue_date": issue_date,
            "story_url": neutralise_url(archive_url(settings, correction.issue_id, correction.article_id)),
        },
        "links": {
            **TOKENS,
            # The digest's "view in your browser" is the issue's page; a correction has none of its own.
            "view_url": "",
            "archive": f"{settings.base_url}/archive/",
            "privacy": settings.organisation.privacy_url,
            "website": settings.organisation.website,
        },
    }


def render_correction(settings: Settings, correction: Correction) -> RenderedEmail:
    """The correction email, ready for the runner to personalise per reader."""
    context = correction_context(settings, correction)
    html = render_html(context, settings, TEMPLATE)
    text = render_text(context, settings, TEMPLATE)
    unknown = unknown_placeholders(html + text)
    if unknown:
        raise DigestError(f"the correction templates use %%{unknown[0]}%%, which sending does not fill")
    return RenderedEmail(
        issue_id=correction.ledger_key,
        segment=None,
        subject=context["subject"],
        preheader=context["preheader"],
        html=html,
        text=text,
        story_ids=(correction.article_id,),
    )
