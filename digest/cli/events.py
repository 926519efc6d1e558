"""Events, bounces, reports and the web endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from digest.cli.base import App, cli, pass_app
from digest.words import counted

# --- events and bounces ----------------------------------------------------------------


def _print_ingest(report: Any) -> None:
    for change in report.changes:
        click.echo(f"  {change}")
    for item in report.reported:
        click.echo(f"Note: {item}", err=True)
    click.echo(
        f"{counted(report.received, 'event')}: {report.stored} stored, {report.duplicates} already known, "
        f"{report.unplaced} not placed, {report.reconciled} uncertain deliveries settled, "
        f"{len(report.changes)} subscriber changes."
    )


@cli.group()
def events() -> None:
    """Provider events: import saved webhook bodies, list what could not be placed."""


@events.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="FILE.json...")
@pass_app
def events_import(app: App, files: tuple[str, ...]) -> None:
    """Import SendGrid event webhook bodies or exports (JSON arrays)."""
    from digest.events.intake import import_events_file
    from digest.events.rules import IngestReport

    total = IngestReport()
    for path in files:
        total.merge(import_events_file(app.engine, app.settings, path))
    _print_ingest(total)


@events.command("unplaced")
@click.option("--limit", default=50, show_default=True)
@pass_app
def events_unplaced(app: App, limit: int) -> None:
    """Events that match no delivery or subscriber (kept, shown here)."""
    from digest.events.rules import unplaced_events

    found = unplaced_events(app.engine, limit=limit)
    for row in found:
        click.echo(f"#{row.id}  {row.occurred_at:%Y-%m-%d %H:%M}  {row.type:<18} {row.email or '(no address)'}")
    click.echo(f"{len(found)} unplaced event{'' if len(found) == 1 else 's'} shown.")


@cli.group()
def bounces() -> None:
    """Bounces: review key contacts, scan a bounce mailbox, sync SendGrid's lists."""


@bounces.command("review")
@click.option("--limit", default=50, show_default=True, help="How many unacted messages to list.")
@pass_app
def bounces_review(app: App, limit: int) -> None:
    """Key contacts whose address bounced, and mailbox messages nobody acted on."""
    from digest.events.bounces import review_evidence
    from digest.events.rules import bounce_review

    found = bounce_review(app.engine)
    for row in found:
        name = " ".join(p for p in (row.first_name, row.last_name) if p)
        click.echo(f"{row.email}  {name}, {row.organisation}  since {row.status_changed_at:%Y-%m-%d}")
        click.echo(f"    {row.status_reason}")
    click.echo(f"{len(found)} key contact{'' if len(found) == 1 else 's'} to review.")
    kept = review_evidence(app.engine, limit=limit)
    for row in kept:
        what = f"{row.bounce_reason} {row.status}".strip()
        where = f"{row.type:<14} {row.email or '(no address)'}  {what}"
        click.echo(f"#{row.id}  {row.occurred_at:%Y-%m-%d %H:%M}  {where}")
        click.echo(f"    {row.reason[:160]}  [{row.parser}]")
        click.echo(f"    not acted on: {row.matched_by}")
    if kept:
        click.echo(f"{len(kept)} mailbox message{'' if len(kept) == 1 else 's'} kept for review (nobody changed).")


@bounces.command("scan")
@click.argument("mailbox", metavar="MAILBOX")
@pass_app
def bounces_scan(app: App, mailbox: str) -> None:
    """Read a bounce mailbox: an mbox file, a Maildir folder or imaps://user@host/INBOX (IMAP_PASSWORD in .env)."""
    from digest.events.bounces import scan_mailbox

    report = scan_mailbox(app.engine, app.settings, mailbox)
    for problem in report.unreadable:
        click.echo(f"Note: {problem}", err=True)
    click.echo(
        f"{counted(report.messages, 'message')}: {counted(report.hard, 'hard bounce')}, "
        f"{counted(report.soft, 'soft bounce')}, "
        f"{counted(report.complaints, 'complaint')}; {counted(report.autoreplies, 'auto-reply', 'auto-replies')} "
        f"and {counted(report.delays, 'delay notice')} "
        f"(never counted); {report.unmatched} not tied to a message we sent and {report.not_understood} not "
        f"understood (kept for `digest bounces review`); {len(report.unreadable)} unreadable (skipped)."
    )
    _print_ingest(report.ingest)


@bounces.command("sync")
@pass_app
def bounces_sync(app: App) -> None:
    """Pull SendGrid's bounce, block, spam-report and unsubscribe lists."""
    from digest.events.intake import sync_sendgrid

    _print_ingest(sync_sendgrid(app.engine, app.settings))


@cli.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@click.option("--format", "output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a page with charts.")
@click.option("--last", default=5, show_default=True, help="Without ISSUE: how many recent issues to compare.")
@pass_app
def report(app: App, issue_ref: str | None, output: str, html_path: str | None, last: int) -> None:
    """What happened to an issue per segment, or the last issues side by side."""
    from digest.reports import report as reports
    from digest.sending.ledger import sent_issue_ids

    if issue_ref:
        from digest.issues.issue import issue_path

        issue_id = issue_path(app.settings, issue_ref).parent.name
        outcomes = [reports.issue_outcome(app.engine, app.settings, issue_id)]
    else:
        outcomes = [reports.issue_outcome(app.engine, app.settings, i) for i in sent_issue_ids(app.engine, limit=last)]
        if not outcomes:
            click.echo("No issue has been sent yet.")
            return
    rows = reports.outcome_table(outcomes, by_segment=bool(issue_ref))
    if output == "json":
        click.echo(reports.outcome_json(outcomes))
    elif output == "csv":
        click.echo(reports.outcome_csv(rows), nl=False)
    else:
        click.echo(reports.render_table(rows))
        if issue_ref and outcomes[0].clicks_by_story:
            click.echo("\nClicks per story:")
            for title, people, clicks in outcomes[0].clicks_by_story:
                click.echo(f"  {clicks:>5} clicks by {people:>4} people  {title}")
        if issue_ref and outcomes[0].corrections:
            from digest.cli.corrections import readers

            click.echo(f"\nCorrections: {len(outcomes[0].corrections)}")
            for item in outcomes[0].corrections:
                click.echo(
                    f"  #{item.id} {item.kind} of “{item.story}” ({item.recorded}): sent to {readers(item.accepted)}"
                )
    if html_path:
        if not issue_ref:
            raise click.UsageError("--html needs an ISSUE")
        reports.write_html_report(app.settings, outcomes[0], Path(html_path))
        click.echo(f"Wrote {html_path}", err=True)


# --- the web endpoint -------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@pass_app
def serve(app: App, host: str, port: int, threads: int) -> None:
    """Serve the webhook, unsubscribe and preference pages, sign-up and the archive."""
    from digest.web import serve as run

    click.echo(f"Serving on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    run(app.settings, host, port, threads=threads)
