"""Corrections and withdrawals of stories already sent: `digest corrections new`, `list`, `show`, `send`.

(Not `digest articles edit`, which corrects an article before it goes out.)
"""

from __future__ import annotations

from typing import Any

import click

from digest.cli.base import App, cli, pass_app
from digest.cli.sending import _print_outcome, _print_result, _run_controls, stopped_by_ctrl_c
from digest.providers.registry import PROVIDER_NAMES


@cli.group()
def corrections() -> None:
    """Correct or withdraw a story of a sent issue, and tell exactly the readers who got it."""


@corrections.command("new")
@click.argument("issue_ref", metavar="ISSUE")
@click.argument("article_id")
@click.option("--text", help="The corrected wording (blank lines separate paragraphs).")
@click.option("--text-file", type=click.Path(dir_okay=False), help="Read the wording from a UTF-8 text file.")
@click.option("--withdrawn", is_flag=True, help="Withdraw the story instead (--text: the notice shown in its place).")
@click.option("--by", help="Who records it (default: your login name).")
@pass_app
def corrections_new(
    app: App, issue_ref: str, article_id: str, text: str | None, text_file: str | None, withdrawn: bool, by: str | None
) -> None:
    """Record a correction (or withdrawal) of one story of a sent issue; the archive shows it at once."""
    from digest.corrections import record_correction, text_from_file

    if text is not None and text_file is not None:
        raise click.UsageError("give the wording with --text or --text-file, not both")
    wording = text_from_file(text_file) if text_file is not None else text or ""
    found = record_correction(app.engine, app.settings, issue_ref, article_id, text=wording, withdrawn=withdrawn, by=by)
    what = "Withdrawal" if found.withdrawn else "Correction"
    click.echo(f"{what} #{found.id} of “{found.title}” (issue {found.issue_id}) recorded by {found.created_by}.")
    click.echo(f"The archive page shows it now; `digest corrections send {found.id}` tells the readers who got it.")


@corrections.command("list")
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@pass_app
def corrections_list(app: App, issue_ref: str | None) -> None:
    """Every correction (of one issue), oldest first, with how many readers it reached."""
    from digest.corrections import list_corrections, reach_of

    issue_id = _issue_id(app, issue_ref) if issue_ref else None
    found = list_corrections(app.engine, issue_id)
    for item in found:
        sent = reach_of(app.engine, item)
        click.echo(
            f"#{item.id}  {item.issue_id}  {item.kind:<10}  {item.created_at:%Y-%m-%d} by {item.created_by}  "
            f"“{item.title}”"
        )
        click.echo(f"      sent to {readers(sent['accepted'])}" + _open_rows(sent))
    if not found:
        click.echo("No corrections yet.")


@corrections.command("show")
@click.argument("correction_id", metavar="ID", type=int)
@pass_app
def corrections_show(app: App, correction_id: int) -> None:
    """One correction: the story, the wording, who recorded it and its sends."""
    from digest.corrections import correction_sends, get_correction
    from digest.issues.issue import human_date

    item = get_correction(app.engine, correction_id)
    click.echo(f"{item.kind.capitalize()} #{item.id} of issue {item.issue_id} ({human_date(item.issue_date)})")
    click.echo(f"  story:    {item.title} [{item.article_id}]")
    click.echo(f"  recorded: {item.created_at:%Y-%m-%d %H:%M} UTC by {item.created_by}")
    click.echo(f"  subject:  {item.subject}")
    click.echo("  wording:")
    for para in item.paragraphs:
        click.echo(f"    {para}")
    sends = correction_sends(app.engine, item)
    for send in sends:
        c = send.counts
        click.echo(
            f"  send #{send.id} {send.state} through {send.provider} ({', '.join(send.segments)}): "
            f"accepted {c['accepted']} · failed {c['failed']} · skipped {c['skipped']} · pending {c['pending']} · "
            f"uncertain {c['sending']}" + (f" · {send.note}" if send.note else "")
        )
    if not sends:
        click.echo(f"  not sent yet: `digest corrections send {item.id}`")


def _print_plan(plan: Any) -> None:
    item = plan.correction
    what = f"{item.kind.capitalize()} #{item.id} of “{item.title}” (issue {item.issue_id})"
    click.echo(f"{what} through {plan.provider}:")
    click.echo(f"  {'segment':<20} {'held it':>8} {'left out':>9} {'to mail':>8}")
    for segment in plan.segments:
        click.echo(f"  {segment.name:<20} {segment.held:>8} {segment.left_out:>9} {segment.readers:>8}")
    left_out = plan.issue_readers - plan.holders
    click.echo(f"  {'total':<20} {plan.holders:>8} {left_out:>9} {plan.total:>8}")
    click.echo(
        f"{plan.issue_readers} readers were sent the issue; the copies of {plan.holders} held the story, "
        f"those of {left_out} left it out."
    )
    not_active = sum(plan.not_active.values())
    detail = ", ".join(f"{count} {status}" for status, count in sorted(plan.not_active.items()))
    click.echo(
        f"Not mailed: {not_active} no longer active" + (f" ({detail})" if detail else "")
        + f", {plan.suppressed} suppressed, {plan.already_sent} sent this correction already."
    )  # fmt: skip
    if plan.uncertain:
        click.echo(
            f"{plan.uncertain} copies that held the story are uncertain (no answer from the provider yet): "
            "once the provider's events settle them, send the correction again and they get it."
        )
    if plan.unsent:
        click.echo(
            f"{plan.unsent} readers whose copy holds the story have not been sent the issue yet (its send is "
            "unfinished): they would get the story as it was. Cancel or finish that send, then send this again."
        )


@corrections.command("send")
@click.argument("correction_id", metavar="ID", type=int)
@click.option("--provider", type=click.Choice(PROVIDER_NAMES), help="Default: [sending] provider.")
@click.option("--dry-run", is_flag=True, help="Show who it reaches; write and send nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--resume", is_flag=True, help="Continue the correction's interrupted send.")
@click.option("--resend-uncertain", is_flag=True, help="With --resume: send again rows left uncertain by a crash.")
@pass_app
def corrections_send(
    app: App, correction_id: int, provider: str | None, dry_run: bool, yes: bool, resume: bool, resend_uncertain: bool
) -> None:
    """Email the correction to the readers whose copy of the issue held the story, through the ledger."""
    from digest import corrections as errata

    controls = _run_controls()
    again = f"digest corrections send {correction_id} --resume"
    with stopped_by_ctrl_c(controls, resume=again, listed=f"digest corrections show {correction_id}"):
        if resume:
            resumed = errata.resume_correction(
                app.engine, app.settings, correction_id, resend_uncertain=resend_uncertain, controls=controls
            )
            _print_outcome(resumed, controls, resume=again)
            return

        def confirm(plan: Any) -> bool:
            if yes:
                return True
            segments = ", ".join(item.name for item in plan.segments if item.readers)
            return click.confirm(
                f"Send correction #{correction_id} to {readers(plan.total)} ({segments})?", default=False
            )

        plan, outcome = errata.send_correction(
            app.engine,
            app.settings,
            correction_id,
            provider_name=provider,
            dry_run=dry_run,
            confirm=confirm,
            show_plan=_print_plan,
            controls=controls,
        )
        _print_result(outcome, dry_run=dry_run, total=plan.total, controls=controls, resume=again)


def readers(count: int) -> str:
    """ "1 reader", "5 readers"."""
    return f"{count} reader{'' if count == 1 else 's'}"


def _issue_id(app: App, issue_ref: str) -> str:
    from digest.issues.issue import issue_path

    return issue_path(app.settings, issue_ref).parent.name


def _open_rows(counts: dict[str, int]) -> str:
    """The rows a send has not finished, when there are any."""
    labels = (("pending", "pending"), ("sending", "uncertain"))
    parts = [f"{counts[state]} {label}" for state, label in labels if counts[state]]
    return f" ({', '.join(parts)})" if parts else ""
