"""`digest corrections send`: plan → confirm → run, and resume, through the sending machinery.

A correction's send is a send like an issue's: a row in ``sends``, one pending
delivery per reader written in one transaction (unique per ledger key and
person), batches claimed before the provider is called, one sender at a time
under the lock, Ctrl-C pausing after the batch in flight, `--resume` and
`--resend-uncertain` as for an issue. Its ledger key is the correction's own
(:attr:`Correction.ledger_key`), so it never counts as a copy of the issue and
nobody gets the same correction twice; who it reaches is decided in
:mod:`digest.corrections.audience`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.corrections.audience import CORRECTION_VARIANT, CorrectionPlan, plan_correction
from digest.corrections.message import render_correction
from digest.corrections.store import Correction, get_correction
from digest.errors import NotFoundError, StateError
from digest.providers.base import Provider
from digest.sending import ledger
from digest.sending.runner import RunControls, SendOutcome, run_send
from digest.sending.workflow import resume_open_send


def send_correction(
    engine: Engine,
    settings: Settings,
    correction_id: int,
    *,
    provider_name: str | None = None,
    dry_run: bool = False,
    confirm: Callable[[CorrectionPlan], bool] = lambda _plan: True,
    show_plan: Callable[[CorrectionPlan], None] = lambda _plan: None,
    provider: Provider | None = None,
    controls: RunControls | None = None,
) -> tuple[CorrectionPlan, SendOutcome | None]:
    """Show who the correction reaches, ask, then send it to them; nothing is written on a dry run or a "no"."""
    settings.require_secret_key()
    correction = get_correction(engine, correction_id)
    existing = ledger.open_send(engine, correction.ledger_key)
    if existing is not None and not dry_run:
        raise StateError(
            f"correction #{correction.id} already has an unfinished send (#{existing.id}, {existing.state}); "
            f"continue it with `digest corrections send {correction.id} --resume`"
        )
    rendered = render_correction(settings, correction)  # a template mistake stops it before anything is shown
    chosen = provider_name or settings.provider
    plan = plan_correction(engine, correction, provider=chosen, dry_run=True)
    show_plan(plan)
    if dry_run or plan.total == 0 or not confirm(plan):
        return plan, None
    plan = plan_correction(engine, correction, provider=chosen, rendered=rendered)
    if plan.send_id is None:
        return plan, None  # everyone shown has left or been mailed meanwhile
    outcome = run_send(
        engine, settings, plan.send_id, provider=provider, controls=controls, variants={CORRECTION_VARIANT: rendered}
    )
    return plan, outcome


def resume_correction(
    engine: Engine,
    settings: Settings,
    correction_id: int,
    *,
    resend_uncertain: bool = False,
    provider: Provider | None = None,
    controls: RunControls | None = None,
) -> SendOutcome:
    """`digest corrections send ID --resume`: continue the correction's unfinished send."""
    correction = get_correction(engine, correction_id)
    outcome = resume_open_send(
        engine,
        settings,
        correction.ledger_key,
        resend_uncertain=resend_uncertain,
        provider=provider,
        controls=controls,
    )
    if outcome is None:
        raise NotFoundError(f"correction #{correction.id} has no unfinished send to resume")
    return outcome


def correction_sends(engine: Engine, correction: Correction) -> list[ledger.SendSummary]:
    """The correction's sends, oldest first, with their delivery counts."""
    return ledger.list_sends(engine, correction.ledger_key)
