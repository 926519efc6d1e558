"""The studio's corrections of a sent issue: "Correct this story", the correction email's preview and
the readers it will reach, recording it and sending it (as `digest corrections new` and `send` do).

Pages of their own beside the issue page (which links here from each story that went out); every
change is a POST (checked by the studio's gate like any other), answered with a redirect so that a
reload never records or sends twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, Response, redirect, request
from sqlalchemy.engine import Engine
from werkzeug.wrappers import Response as AnyResponse

from digest import corrections as errata
from digest.config import Settings
from digest.errors import DigestError
from digest.issues.issue import human_date
from digest.issues.personalise import personalise, preview_values
from digest.sending.ledger import sent_issue_ids

PLACEHOLDER = "Your corrected wording appears here."


class _Site(Protocol):
    settings: Settings
    engine: Engine

    def render(self, template: str, status: int = 200, **context: Any) -> Response: ...

    def message(self, title: str, text: str, status: int = 200) -> Response: ...


@dataclass
class Draft:
    """What the form holds: the wording, withdraw or not, and who."""

    text: str = ""
    withdrawn: bool = False
    by: str = ""


def register(app: Flask, site: _Site) -> None:
    """Add the corrections' pages to the studio."""
    pages = _Pages(site)
    app.add_url_rule("/issue/<issue_id>/corrections", "corrections", pages.index)
    app.add_url_rule(
        "/issue/<issue_id>/corrections/<article_id>", "correct_story", pages.story, methods=["GET", "POST"]
    )
    app.add_url_rule("/corrections/<int:correction_id>/send", "send_correction", pages.send, methods=["POST"])


class _Pages:
    def __init__(self, site: _Site) -> None:
        self.site = site
        self.settings, self.engine = site.settings, site.engine

    def _not_sent(self, issue_id: str) -> Response | None:
        if not sent_issue_ids(self.engine, only=issue_id):
            return self.site.message(
                "Not sent", f"Issue {issue_id!r} has not been sent: change the issue itself, not its stories.", 404
            )
        return None

    def index(self, issue_id: str) -> Response:
        refused = self._not_sent(issue_id)
        if refused is not None:
            return refused
        from digest.articles.store import get_articles

        story_ids = errata.sent_story_ids(self.engine, issue_id)
        articles = get_articles(self.engine, story_ids)
        found = errata.list_corrections(self.engine, issue_id)
        rows = []
        for item in found:
            waiting = errata.plan_correction(self.engine, item, provider=self.settings.provider, dry_run=True)
            rows.append({"item": item, "sent": errata.reach_of(self.engine, item), "waiting": waiting.total})
        return self.site.render(
            "corrections.html.j2",
            issue_id=issue_id,
            issue_date=self._issue_date(issue_id),
            stories=[
                (story_id, articles[story_id].title if story_id in articles else story_id) for story_id in story_ids
            ],
            corrections=rows,
            withdrawn={item.article_id for item in found if item.withdrawn},
            notice=self._notice(),
        )

    def _issue_date(self, issue_id: str) -> str:
        from digest.issues.issue import load_issue

        try:
            return human_date(load_issue(self.settings, issue_id).date)
        except DigestError:
            return issue_id  # the file was removed after sending: its id is its date

    def _notice(self) -> str:
        """What the last POST did, read back from the ledger (the redirect carries only the number)."""
        recorded, sent = request.args.get("recorded", ""), request.args.get("sent", "")
        try:
            if recorded.isdigit():
                item = errata.get_correction(self.engine, int(recorded))
                return f"{item.kind.capitalize()} #{item.id} recorded; the archive shows it now."
            if sent.isdigit():
                item = errata.get_correction(self.engine, int(sent))
                accepted = errata.reach_of(self.engine, item)["accepted"]
                return f"{item.kind.capitalize()} #{item.id} sent: {accepted} readers have it."
        except DigestError:
            pass
        return ""

    def story(self, issue_id: str, article_id: str) -> AnyResponse:
        refused = self._not_sent(issue_id)
        if refused is not None:
            return refused
        form = request.form
        draft = Draft(form.get("text", ""), form.get("withdrawn") == "1", form.get("by", ""))
        error = ""
        if request.method == "POST" and form.get("action") == "record":
            try:
                item = errata.record_correction(
                    self.engine, self.settings, issue_id, article_id, text=draft.text, withdrawn=draft.withdrawn,
                    by=draft.by or None,
                )  # fmt: skip
            except DigestError as exc:
                error = str(exc)
            else:
                return redirect(f"/issue/{issue_id}/corrections?recorded={item.id}", 303)
        try:
            shown = errata.draft_correction(
                self.engine, self.settings, issue_id, article_id,
                text=draft.text if draft.text.strip() or draft.withdrawn else PLACEHOLDER, withdrawn=draft.withdrawn,
                by=draft.by or None,
            )  # fmt: skip
        except DigestError as exc:
            return self.site.message("This story cannot be corrected", f"{exc}.", 400)
        plan = errata.plan_correction(self.engine, shown, provider=self.settings.provider, dry_run=True)
        rendered = errata.render_correction(self.settings, shown)
        html, text = personalise(rendered, preview_values(self.settings, issue_id))
        return self.site.render(
            "correct_story.html.j2",
            issue_id=issue_id,
            article_id=article_id,
            issue_date=human_date(shown.issue_date),
            title=shown.title,
            draft=draft,
            error=error,
            plan=plan,
            sender=self.settings.email.from_name,
            subject=rendered.subject,
            preview_html=html,
            preview_text=text,
        )

    def send(self, correction_id: int) -> AnyResponse:
        try:
            item = errata.get_correction(self.engine, correction_id)
            errata.send_correction(self.engine, self.settings, correction_id)
        except DigestError as exc:
            return self.site.message("Not sent", f"{exc}. Nothing more was sent.", 400)
        return redirect(f"/issue/{item.issue_id}/corrections?sent={item.id}", 303)
