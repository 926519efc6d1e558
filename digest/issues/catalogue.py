"""The project's issues at a glance (`digest issue list`): each issue file, its subject and where it stands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import DigestError


@dataclass(frozen=True)
class IssueEntry:
    """One issue folder: its subject and stories, and whether it is a draft, approved, scheduled or sent."""

    issue_id: str
    subject: str
    stories: int
    state: str  # draft | approved | scheduled | sending | sent | broken
    detail: str = ""


def list_issues(engine: Engine, settings: Settings) -> list[IssueEntry]:
    """Every issue folder, newest first. A file that does not load is listed with its problem."""
    from digest.issues.approval import latest_approval
    from digest.issues.issue import list_issue_ids, load_issue
    from digest.sending.ledger import SendSummary, list_sends, sent_issue_ids
    from digest.sending.states import SendState

    sent = set(sent_issue_ids(engine))
    last_send: dict[str, SendSummary] = {item.issue_id: item for item in list_sends(engine)}
    entries = []
    for issue_id in sorted(list_issue_ids(settings), reverse=True):
        try:
            issue = load_issue(settings, issue_id)
        except DigestError as exc:
            entries.append(IssueEntry(issue_id, "", 0, "broken", str(exc)))
            continue
        stories = len(issue.story_refs())
        send = last_send.get(issue_id)
        state, detail = "draft", ""
        if issue_id in sent and send is not None:
            when = f" on {send.finished_at:%Y-%m-%d}" if send.finished_at else ""
            state, detail = "sent", f"{send.counts.get('accepted', 0)} accepted{when}"
        elif send is not None and send.state == SendState.SCHEDULED and send.scheduled_at:
            state, detail = "scheduled", f"due {send.scheduled_at:%Y-%m-%d %H:%M} UTC"
        elif send is not None and send.state in (SendState.PLANNED, SendState.SENDING, SendState.PAUSED):
            state, detail = "sending", f"send #{send.id} is {send.state}; `digest send {issue_id} --resume`"
        elif (approval := latest_approval(engine, issue_id)) is not None:
            state, detail = "approved", f"by {approval.approved_by} on {approval.approved_at:%Y-%m-%d %H:%M} UTC"
        entries.append(IssueEntry(issue_id, issue.subject, stories, state, detail))
    return entries


def why_not_redrafted(engine: Engine, issue_id: str) -> str | None:
    """Why ``issue_id``'s file must not be drafted again (it was sent, or a send of it is under way), or None."""
    from digest.sending.ledger import open_send, sent_issue_ids

    if sent_issue_ids(engine, only=issue_id):
        accepted = sum(item.counts.get("accepted", 0) for item in _sends_of(engine, issue_id))
        return (
            f"issue {issue_id} was sent ({accepted} cop{'y' if accepted == 1 else 'ies'} accepted): its issue file "
            "is the record of what readers got, so it is not drafted again; draft another date"
        )
    unfinished = open_send(engine, issue_id)
    if unfinished is not None:
        return (
            f"issue {issue_id} has a send under way (#{unfinished.id}, {unfinished.state}): its issue file is what "
            "that send sends, so it is not drafted again; draft another date, or cancel the send first "
            f"(`digest send {issue_id} --cancel`)"
        )
    return None


def _sends_of(engine: Engine, issue_id: str) -> list[Any]:
    from digest.sending.ledger import list_sends

    return list(list_sends(engine, issue_id))
