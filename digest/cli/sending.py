"""Sending: `digest send`, `run-due` and `sends`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from digest.cli.base import App, cli, pass_app, warn
from digest.cli.terminal import redraw
from digest.providers.registry import PROVIDER_NAMES
from digest.words import counted

# --- sending --------------------------------------------------------------------------


def _print_plan(plan: Any) -> None:
    click.echo(f"Plan for issue {plan.issue_id} through {plan.provider}:")
    click.echo(f"  {'segment':<20} {'audience':>9} {'stories':>8}")
    for segment in plan.segments:
        click.echo(f"  {segment.name:<20} {segment.audience:>9} {segment.stories:>8}")
    click.echo(f"  {'total':<20} {plan.total:>9}")
    not_active = sum(plan.not_active.values())
    detail = ", ".join(f"{count} {status}" for status, count in sorted(plan.not_active.items()))
    click.echo(
        f"Left out: {plan.suppressed} suppressed, {not_active} not active"
        + (f" ({detail})" if detail else "")
        + f", {plan.already_sent} already sent this issue."
    )
    if plan.personalised:
        readers = counted(plan.personalised, "reader's", "readers'")
        click.echo(f"{readers} own topic choices narrow their copy further.")
    if plan.single_story:
        shown = ", ".join(plan.single_story[:10]) + (
            f" and {len(plan.single_story) - 10} more" if len(plan.single_story) > 10 else ""
        )
        count = len(plan.single_story)
        who = f"{count} reader{'s get' if count != 1 else ' gets'}"
        click.echo(f"{who} a copy of one story only (their topics leave out the rest): {shown}.")
    if plan.approval_problem:
        click.echo(f"Not approved: a real send would stop here: {plan.approval_problem}.")
    if plan.provider_problem:
        click.echo(f"Provider not ready: a real send would stop here: {plan.provider_problem}.")


def _progress_printer() -> Any:
    if not sys.stderr.isatty():
        return None  # a log file gets the summary line, not a stream of carriage returns

    def show(progress: Any) -> None:
        eta = f"{int(progress.eta) // 60}:{int(progress.eta) % 60:02d}" if progress.eta is not None else "-"
        redraw(f"  {progress.done}/{progress.total} recipients · {progress.rate:,.0f}/s · ETA {eta}  ")
        if progress.done >= progress.total:
            click.echo("", err=True)

    return show


def _notice(message: str) -> None:
    click.echo(message, err=True)


def _run_controls() -> Any:
    """Progress and notices go to stderr (Ctrl-C: see digest.sending.ctrlc)."""
    from digest.sending import RunControls

    controls = RunControls(on_notice=_notice)
    printer = _progress_printer()
    if printer is not None:
        controls.on_progress = printer
    return controls


def _print_outcome(outcome: Any, controls: Any = None, *, resume: str = "") -> None:
    """The send's counts; after the first Ctrl-C, where it stands and how to go on with ``resume``
    (an issue's `digest send ISSUE --resume` unless given), exit status 130."""
    counts = outcome.counts
    click.echo(
        f"Send #{outcome.send_id}: {outcome.state}. accepted {counts['accepted']}, failed {counts['failed']}, "
        f"skipped {counts['skipped']}, pending {counts['pending']}, uncertain {counts['sending']}."
    )
    if outcome.message:
        click.echo(f"  {outcome.message}")
    if controls is not None and controls.stop.is_set() and outcome.state == "paused":
        from digest.sending.ctrlc import after_pause, resume_command

        for line in after_pause(resume or resume_command(outcome.issue_id), outcome):
            click.echo(line)
        sys.exit(130)


@cli.command()
@click.argument("issue_ref", metavar="ISSUE")
@click.option("--segment", "segment_names", multiple=True, help="A segment to send to (repeat; order decides ties).")
@click.option("--provider", type=click.Choice(PROVIDER_NAMES), help="Default: [sending] provider.")
@click.option("--dry-run", is_flag=True, help="Show the plan; write and send nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--test-to", "test_to", multiple=True, help="Send a [TEST] copy to this address only (repeat).")
@click.option("--resume", is_flag=True, help="Continue the issue's interrupted send.")
@click.option("--resend-uncertain", is_flag=True, help="With --resume: send again rows left uncertain by a crash.")
@click.option(
    "--at",
    "at_text",
    metavar="WHEN",
    help="Schedule the send: 'YYYY-MM-DD HH:MM' or 'Monday 08:00' ([sending] timezone); run-due sends it.",
)
@click.option("--cancel", is_flag=True, help="Cancel the issue's scheduled or planned send before it starts.")
@click.option("--skip-doctor", is_flag=True, help="Send even when `digest doctor`'s offline checks find an error.")
@pass_app
def send(
    app: App,
    issue_ref: str,
    segment_names: tuple[str, ...],
    provider: str | None,
    dry_run: bool,
    yes: bool,
    test_to: tuple[str, ...],
    resume: bool,
    resend_uncertain: bool,
    at_text: str | None,
    cancel: bool,
    skip_doctor: bool,
) -> None:
    """Send an issue to segments through the ledger (or a test copy with --test-to)."""
    from digest import sending

    if cancel:
        cancelled = sending.cancel_send(app.engine, app.settings, issue_ref)
        if cancelled.was == "scheduled":
            click.echo(f"Cancelled scheduled send #{cancelled.send_id}.")
        else:
            click.echo(
                f"Cancelled send #{cancelled.send_id}, which had not started: its {cancelled.removed} planned "
                "deliveries were removed."
            )
        return
    if not (dry_run or skip_doctor):
        from digest.doctor import require_ready

        require_ready(app.settings, provider)
    at = sending.parse_send_time(at_text, app.settings.timezone) if at_text else None
    far = sending.check_send_time(at) if at is not None else ""
    if far and (yes or dry_run):
        warn(f"{far}.")
    elif far:
        click.confirm(f"{far}. Schedule it that far ahead?", abort=True)

    if test_to:
        from digest.providers.base import make_provider

        if len(segment_names) > 1:
            raise click.UsageError("--test-to sends one segment's variant; give at most one --segment")
        sent = sending.send_test_copies(
            app.engine,
            app.settings,
            issue_ref,
            test_to,
            segment=segment_names[0] if segment_names else None,
            provider=make_provider(app.settings, provider),
        )
        for failure in sent.failures:
            click.echo(f"Failed: {failure}", err=True)
        for line in sent.delivered:
            click.echo(f"  {line}")
        copies = f"{sent.accepted} test cop{'y' if sent.accepted == 1 else 'ies'}"
        click.echo(f"Sent {copies} through {provider or app.settings.provider}; nothing was recorded in the ledger.")
        if sent.failures:
            sys.exit(1)
        return
    controls = _run_controls()
    with stopped_by_ctrl_c(
        controls,
        resume=f"digest send {issue_ref} --resume",
        cancel=f"digest send {issue_ref} --cancel",
        listed=f"digest sends {issue_ref}",
    ):
        _send_or_resume(app, issue_ref, segment_names, provider, dry_run, yes, resume, resend_uncertain, at, controls)


@contextmanager
def stopped_by_ctrl_c(controls: Any, *, resume: str, cancel: str = "", listed: str = "") -> Iterator[None]:
    """Ctrl-C during the run inside: the first finishes the batch in flight, a second stops at once; either way
    where the send stands and the command that goes on (``resume``) are printed, exit status 130."""
    from digest.sending.ctrlc import after_interrupt, before_the_run, stop_on_ctrl_c
    from digest.sending.runner import SendInterrupted

    restore = stop_on_ctrl_c(controls)
    try:
        yield
    except SendInterrupted as stopped:
        _print_outcome(stopped.outcome)
        for line in after_interrupt(resume, stopped):
            click.echo(line)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo(f"\n{before_the_run(resume, cancel, listed)}", err=True)
        sys.exit(130)
    finally:
        restore()


def _send_or_resume(
    app: App,
    issue_ref: str,
    segment_names: tuple[str, ...],
    provider: str | None,
    dry_run: bool,
    yes: bool,
    resume: bool,
    resend_uncertain: bool,
    at: Any,
    controls: Any,
) -> None:
    from digest import sending

    if resume:
        resumed = sending.resume_send(
            app.engine,
            app.settings,
            issue_ref,
            resend_uncertain=resend_uncertain,
            provider_name=provider,
            controls=controls,
        )
        _print_outcome(resumed, controls)
        return

    def confirm(plan: Any) -> bool:
        if yes:
            return True
        return click.confirm(f"Send issue {plan.issue_id} to {counted(plan.total, 'person', 'people')}?", default=False)

    _plan, outcome = sending.start_send(
        app.engine,
        app.settings,
        issue_ref,
        segment_names,
        provider_name=provider,
        dry_run=dry_run,
        confirm=confirm,
        show_plan=_print_plan,
        controls=controls,
        at=at,
    )
    if outcome is None and at is not None and _plan.send_id is not None:
        click.echo(
            f"Scheduled send #{_plan.send_id} for {at:%Y-%m-%d %H:%M} ({app.settings.timezone}); "
            "`digest run-due` sends it when it is due."
        )
        return
    _print_result(outcome, dry_run=dry_run, total=_plan.total, controls=controls)


def _print_result(outcome: Any, *, dry_run: bool, total: int, controls: Any = None, resume: str = "") -> None:
    """What a send did, or why it did nothing."""
    if outcome is not None:
        _print_outcome(outcome, controls, resume=resume)
    elif dry_run:
        click.echo("Dry run: nothing was written or sent.")
    elif total == 0:
        click.echo("Nobody to send to: nothing was written or sent.")
    else:
        click.echo("Not sent.")


@cli.command("run-due")
@pass_app
def run_due(app: App) -> None:
    """Send every scheduled send that is due (for cron or a systemd timer; safe to overlap)."""
    from digest.sending import RunControls
    from digest.sending import run_due as due

    results = due(app.engine, app.settings, controls=RunControls(on_notice=_notice))
    for result in results:
        if result.outcome is not None:
            _print_outcome(result.outcome)
        else:
            click.echo(f"Send #{result.send_id} of issue {result.issue_id} failed: {result.error}", err=True)
    if not results:
        click.echo("Nothing is due.")
    if any(result.error for result in results):
        sys.exit(1)


@cli.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@pass_app
def sends(app: App, issue_ref: str | None) -> None:
    """Each send with its state, delivery counts and times."""
    from digest.sending import list_sends

    found = list_sends(app.engine, issue_ref)
    for item in found:
        when = f"created {item.created_at:%Y-%m-%d %H:%M}"
        if item.scheduled_at:
            when += f", due {item.scheduled_at:%Y-%m-%d %H:%M}"
        if item.finished_at:
            when += f", finished {item.finished_at:%Y-%m-%d %H:%M}"
        click.echo(
            f"#{item.id}  {item.issue_id}  {item.state:<9} {item.provider:<8} {', '.join(item.segments)}  ({when} UTC)"
        )
        c = item.counts
        click.echo(
            f"    accepted {c['accepted']} · failed {c['failed']} · skipped {c['skipped']} · "
            f"pending {c['pending']} · uncertain {c['sending']}" + (f" · {item.note}" if item.note else "")
        )
    if not found:
        click.echo("No sends yet.")
