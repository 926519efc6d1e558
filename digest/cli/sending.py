"""Sending: `digest send`, `run-due` and `sends`."""

from __future__ import annotations

import sys
from typing import Any

import click

from digest.cli.base import App, cli, pass_app
from digest.cli.terminal import redraw
from digest.providers.registry import PROVIDER_NAMES

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
        click.echo(f"{plan.personalised} readers' own topic choices narrow their copy further.")
    if plan.single_story:
        shown = ", ".join(plan.single_story[:10]) + (
            f" and {len(plan.single_story) - 10} more" if len(plan.single_story) > 10 else ""
        )
        count = len(plan.single_story)
        who = f"{count} reader{'s get' if count != 1 else ' gets'}"
        click.echo(f"{who} a copy of one story only (their topics leave out the rest): {shown}.")
    if plan.approval_problem:
        click.echo(f"Not approved: a real send would stop here: {plan.approval_problem}.")


def _progress_printer() -> Any:
    if not sys.stderr.isatty():
        return None  # a log file gets the summary line, not a stream of carriage returns

    def show(progress: Any) -> None:
        eta = f"{int(progress.eta) // 60}:{int(progress.eta) % 60:02d}" if progress.eta is not None else "-"
        redraw(f"  {progress.done}/{progress.total} recipients · {progress.rate:,.0f}/s · ETA {eta}  ")
        if progress.done >= progress.total:
            click.echo("", err=True)

    return show


def _stop_on_ctrl_c() -> Any:
    """A stop flag set by the first Ctrl-C (pause after this batch); the second one aborts."""
    import signal
    import threading

    stop = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("\nPausing after this batch (Ctrl-C again to abort at once)…", err=True)

    signal.signal(signal.SIGINT, handler)
    return stop


def _notice(message: str) -> None:
    click.echo(message, err=True)


def _run_controls() -> Any:
    """Ctrl-C pauses after the batch in flight; progress and notices go to stderr."""
    from digest.sending import RunControls

    controls = RunControls(stop=_stop_on_ctrl_c(), on_notice=_notice)
    printer = _progress_printer()
    if printer is not None:
        controls.on_progress = printer
    return controls


def _print_outcome(outcome: Any) -> None:
    counts = outcome.counts
    click.echo(
        f"Send #{outcome.send_id}: {outcome.state}. accepted {counts['accepted']}, failed {counts['failed']}, "
        f"skipped {counts['skipped']}, pending {counts['pending']}, uncertain {counts['sending']}."
    )
    if outcome.message:
        click.echo(f"  {outcome.message}")


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
    "--at", "at_text", metavar="'YYYY-MM-DD HH:MM'", help="Schedule the send ([sending] timezone); run-due sends it."
)
@click.option("--cancel", is_flag=True, help="Cancel the issue's scheduled send before it starts.")
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
) -> None:
    """Send an issue to segments through the ledger (or a test copy with --test-to)."""
    from digest import sending

    if cancel:
        send_id = sending.cancel_send(app.engine, app.settings, issue_ref)
        click.echo(f"Cancelled scheduled send #{send_id}.")
        return
    at = _parse_at(at_text, app.settings.timezone) if at_text else None

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
    if resume:
        resumed = sending.resume_send(
            app.engine, app.settings, issue_ref, resend_uncertain=resend_uncertain, controls=controls
        )
        _print_outcome(resumed)
        return

    def confirm(plan: Any) -> bool:
        if yes:
            return True
        return click.confirm(f"Send issue {plan.issue_id} to {plan.total} people?", default=False)

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
            f"Scheduled send #{_plan.send_id} for {at_text} ({app.settings.timezone}); "
            "`digest run-due` sends it when it is due."
        )
        return
    if outcome is None:
        if dry_run:
            click.echo("Dry run: nothing was written or sent.")
        elif _plan.total == 0:
            click.echo("Nobody to send to: nothing was written or sent.")
        else:
            click.echo("Not sent.")
        return
    _print_outcome(outcome)


def _parse_at(text: str, timezone: str) -> Any:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time written 'YYYY-MM-DD HH:MM'", param_hint="--at") from None
    return local.replace(tzinfo=ZoneInfo(timezone))


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
