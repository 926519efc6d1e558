"""The whole `digest send`: check → plan → approve → confirm → freeze → run; and resume, and run-due.

The issue is loaded once and each variant rendered once (:class:`Renderings`);
the checks, the story counts of the plan, the approval and the frozen variants
all use those renderings, so what was checked and approved is what is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import DigestError, NotFoundError, StateError
from digest.issues.render import Renderings
from digest.providers.base import Provider
from digest.providers.preflight import check_provider
from digest.sending import ledger
from digest.sending.plan import Plan, plan_send
from digest.sending.runner import RunControls, SendOutcome, run_send
from digest.sending.schedule import check_send_time, claim_due, due_sends, schedule_send
from digest.sending.states import SendState
from digest.sending.variants import freeze_sent
from digest.store import db
from digest.words import counted


@dataclass
class PreparedIssue:
    """An issue that passed `digest check`, with its renderings and stories per segment."""

    issue_id: str
    renderings: Renderings
    story_counts: dict[str, int]

    def count_stories(self, topics: frozenset[str] | None) -> int:
        """The stories a copy narrowed to ``topics`` holds (without rendering it)."""
        from digest.issues.issue import select_stories

        return len(select_stories(self.renderings.view, topics).stories())


def prepare_issue(engine: Engine, settings: Settings, issue_ref: str, segment_names: Sequence[str]) -> PreparedIssue:
    """Load and render the issue once and run `digest check` on it (an error stops the send)."""
    from digest.issues.checks import check_rendered
    from digest.issues.issue import load_view
    from digest.people.segments import find_segments

    view = load_view(engine, settings, issue_ref)
    renderings = Renderings(view, settings)
    segments = find_segments(settings, segment_names)
    copies = [replace(renderings.variant(segment.topics), segment=segment.name) for segment in segments]
    report = check_rendered(view, [renderings.variant(), *copies], from_name=settings.email.from_name)
    if not report.passed:
        first = report.errors[0].message
        raise DigestError(
            f"`digest check` found {counted(len(report.errors), 'error')}, the first: {first}; fix them first"
        )
    story_counts = {segment.name: len(renderings.variant(segment.topics).story_ids) for segment in segments}
    return PreparedIssue(view.issue.id, renderings, story_counts)


def start_send(
    engine: Engine,
    settings: Settings,
    issue_ref: str,
    segment_names: Sequence[str],
    *,
    provider_name: str | None = None,
    dry_run: bool = False,
    at: datetime | None = None,
    confirm: Callable[[Plan], bool] = lambda _plan: True,
    show_plan: Callable[[Plan], None] = lambda _plan: None,
    provider: Provider | None = None,
    controls: RunControls | None = None,
) -> tuple[Plan, SendOutcome | None]:
    """`digest send`: check, approve, plan, confirm, then send (or schedule for ``at``).

    Nothing is written on a dry run or a "no".
    """
    from digest.issues.approval import require_approval

    settings.require_secret_key()
    if at is not None:
        check_send_time(at)  # a time in the past would send at once: refused before anything
    prepared = prepare_issue(engine, settings, issue_ref, segment_names)
    issue_id = prepared.issue_id
    existing = ledger.open_send(engine, issue_id)
    if existing is not None and not dry_run:
        raise StateError(
            f"issue {issue_id} already has an unfinished send (#{existing.id}, {existing.state}); "
            + (
                f"cancel it with `digest send {issue_id} --cancel`"
                if existing.state == SendState.SCHEDULED
                else f"continue it with `digest send {issue_id} --resume`"
            )
        )
    chosen = provider_name or settings.provider
    provider_problem = ""
    if provider is None:
        try:
            # Before anything is written: a provider without its key or its server would strand a planned send.
            check_provider(settings, chosen, connect=at is None)
        except DigestError as exc:
            if not dry_run:
                raise
            provider_problem = str(exc)
    plan = plan_send(
        engine,
        settings,
        issue_id,
        segment_names,
        provider=chosen,
        dry_run=True,
        story_counts=prepared.story_counts,
        count_stories=prepared.count_stories,
    )
    plan.provider_problem = provider_problem
    if dry_run:
        try:
            require_approval(engine, settings, issue_ref, renderings=prepared.renderings)
        except StateError as exc:
            plan.approval_problem = str(exc)  # the real send would stop here: say so now
    show_plan(plan)
    if dry_run or (plan.total == 0 and at is None):
        return plan, None
    require_approval(engine, settings, issue_ref, renderings=prepared.renderings)
    if not confirm(plan):
        return plan, None
    if at is not None:
        check_send_time(at)  # still to come after the confirmation, or refused
        plan.send_id = schedule_send(engine, issue_id, segment_names, chosen, at)
        return plan, None
    plan = plan_send(
        engine, settings, issue_id, segment_names, provider=chosen, story_counts=prepared.story_counts, shown=plan
    )
    if plan.send_id is None:
        return plan, None  # everyone was mailed meanwhile (by a send that started at the same moment)
    return plan, run_planned(engine, settings, plan.send_id, prepared.renderings, provider=provider, controls=controls)


def run_planned(
    engine: Engine,
    settings: Settings,
    send_id: int,
    renderings: Renderings,
    *,
    provider: Provider | None = None,
    controls: RunControls | None = None,
) -> SendOutcome:
    """Freeze the send's variants and pages, then run it."""
    variants = freeze_sent(engine, settings, send_id, renderings)
    return run_send(
        engine, settings, send_id, provider=provider, controls=controls, renderings=renderings, variants=variants
    )


def resume_send(
    engine: Engine,
    settings: Settings,
    issue_ref: str,
    *,
    resend_uncertain: bool = False,
    provider_name: str | None = None,
    provider: Provider | None = None,
    controls: RunControls | None = None,
) -> SendOutcome:
    """`digest send ISSUE --resume`: continue the issue's unfinished send.

    ``provider_name`` sends the rest through another provider than the send was planned with
    (and records it); the provider is checked first either way.
    """
    from digest.issues.issue import issue_path

    issue_id = issue_path(settings, issue_ref).parent.name
    outcome = resume_open_send(
        engine,
        settings,
        issue_id,
        resend_uncertain=resend_uncertain,
        provider_name=provider_name,
        provider=provider,
        controls=controls,
    )
    if outcome is None:
        raise NotFoundError(
            f"issue {issue_id} has no unfinished send to resume; `digest sends {issue_id}` lists its sends"
        )
    return outcome


def resume_open_send(
    engine: Engine,
    settings: Settings,
    ledger_key: str,
    *,
    resend_uncertain: bool = False,
    provider_name: str | None = None,
    provider: Provider | None = None,
    controls: RunControls | None = None,
) -> SendOutcome | None:
    """Continue the unfinished send filed under ``ledger_key`` (an issue's id, or a correction's key);
    None when there is none. ``provider_name`` sends the rest through another provider (recorded)."""
    existing = ledger.open_send(engine, ledger_key)
    if existing is None:
        return None
    if provider is None:
        check_provider(settings, provider_name or existing.provider)
    if provider_name and provider_name != existing.provider:
        _switch_provider(engine, existing.id, existing.provider, provider_name, resend_uncertain=resend_uncertain)
        if controls is not None:
            controls.on_notice(
                f"Resuming send #{existing.id} through {provider_name}, not {existing.provider} as it was planned "
                "(--provider)."
            )
    return run_send(
        engine,
        settings,
        existing.id,
        provider=provider,
        resume=True,
        resend_uncertain=resend_uncertain,
        controls=controls,
    )


def _switch_provider(engine: Engine, send_id: int, before: str, after: str, *, resend_uncertain: bool) -> None:
    """Record that the rest of a send goes through another provider (`--resume --provider`)."""
    with db.write(engine) as conn:
        uncertain = ledger.count_uncertain(conn, send_id)
        if uncertain and not resend_uncertain:
            raise StateError(
                f"send #{send_id} has {uncertain} uncertain deliveries handed to {before}: its events settle them, "
                f"so resume through {before}, or add --resend-uncertain to send them again through {after}"
            )
        conn.execute(db.sends.update().where(db.sends.c.id == send_id).values(provider=after))


@dataclass
class DueResult:
    send_id: int
    issue_id: str
    outcome: SendOutcome | None
    error: str = ""


def run_due(
    engine: Engine, settings: Settings, *, now: datetime | None = None, controls: RunControls | None = None
) -> list[DueResult]:
    """`digest run-due`: send every scheduled send that is due.

    Safe every minute, twice at once or after a missed hour: each due send is
    claimed with one conditional UPDATE, so only one runner takes it, and a
    late runner sends whatever is overdue.
    """
    from digest.issues.approval import require_approval

    results = []
    for send in due_sends(engine, now or db.utcnow()):
        if not claim_due(engine, send.id):
            continue  # another runner took it
        try:
            prepared = prepare_issue(engine, settings, send.issue_id, send.segments)
            require_approval(engine, settings, send.issue_id, renderings=prepared.renderings)
            check_provider(settings, send.provider)
            plan_send(
                engine,
                settings,
                send.issue_id,
                send.segments,
                provider=send.provider,
                story_counts=prepared.story_counts,
                existing_send=send.id,
            )
            outcome = run_planned(engine, settings, send.id, prepared.renderings, controls=controls)
            results.append(DueResult(send.id, send.issue_id, outcome))
        except DigestError as exc:
            with db.write(engine) as conn:
                ledger.set_send_state(conn, send.id, SendState.FAILED, str(exc))
            results.append(DueResult(send.id, send.issue_id, None, str(exc)))
    return results
