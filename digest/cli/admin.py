"""The admin's commands: subscribers, suppressions and segments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from digest.cli.base import App, cli, pass_app, warn

# --- subscribers ----------------------------------------------------------------------


def _print_import_summary(summary: Any) -> None:
    for line, reason in summary.rejects:
        click.echo(f"Rejected line {line}: {reason}", err=True)
    hidden = summary.invalid - len(summary.rejects)
    if hidden > 0:
        click.echo(f"… and {hidden} more rejected rows; pass --rejects FILE to save every one.", err=True)
    for message in summary.warnings:
        warn(message)
    layout = summary.layout
    if layout is not None:
        click.echo(f"File: {layout.summary()}")
    if summary.dry_run:
        click.echo("Columns:")
        for line in summary.columns:
            click.echo(f"  {line}")
    elif summary.attribute_columns:
        click.echo(f"Extra columns kept as attributes: {', '.join(summary.attribute_columns)}")
    prefix = "Dry run, nothing written. Would import" if summary.dry_run else "Imported"
    not_subscribed = f", {summary.not_subscribed} not subscribed (left out)" if summary.not_subscribed else ""
    click.echo(
        f"{prefix}: {summary.new} new, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.duplicate} duplicate, {summary.invalid} invalid, {summary.suppressed} suppressed"
        f"{not_subscribed} ({summary.rows} rows)."
    )
    if summary.no_consent_date:
        rows = f"{summary.no_consent_date} row{'s' if summary.no_consent_date > 1 else ''}"
        click.echo(
            f"{rows} had no consent date: stored as unknown "
            "(a segment rule `consent_at: {exists: true}` leaves such people out)."
        )
    if summary.differs:
        click.echo(f"{summary.differs} existing subscribers differ from the file; --update applies the file.")


@cli.group()
def subscribers() -> None:
    """Import, add, remove, show, list, export and erase subscribers."""


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False), metavar="FILE.csv")
@click.option("--dry-run", is_flag=True, help="Check the file and print the summary; write nothing.")
@click.option("--update", is_flag=True, help="Apply the file's values to existing subscribers.")
@click.option("--consent-source", help="Where consent came from (default: 'import: <file name>').")
@click.option("--consent-text", default="", help="The consent wording or privacy-notice version people agreed to.")
@click.option("--encoding", help="The file's encoding (default: UTF-8, falling back to Windows-1252).")
@click.option("--check-deliverability", is_flag=True, help="Also look up each domain in DNS (needs network).")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    help="Write every rejected line and reason to this CSV (a bare name goes into exports/).",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Read a column as a field (e.g. REGION=region, NOTES=attributes.notes, Phone=ignore); repeat.",
)
@click.option("--status-column", metavar="COLUMN", help="Read this column as each person's subscription status.")
@click.option(
    "--left-values",
    metavar="V1,V2",
    help="Values of --status-column that mean the person left (others: subscribed; '*': any value).",
)
@pass_app
def subscribers_import(
    app: App,
    csv_file: str,
    dry_run: bool,
    update: bool,
    consent_source: str | None,
    consent_text: str,
    encoding: str | None,
    check_deliverability: bool,
    rejects: str | None,
    maps: tuple[str, ...],
    status_column: str | None,
    left_values: str | None,
) -> None:
    """Import subscribers from a CSV export (ours, a spreadsheet's, or another mailing tool's).

    Exports of Mailchimp (in any language), listmonk, MailerLite, Substack, beehiiv, Buttondown, Kit,
    Brevo, Campaign Monitor and Shopify are recognised, and the people they mark as gone stay gone.
    """
    from digest.people.csvimport import import_csv

    summary = import_csv(
        app.engine,
        app.settings,
        Path(csv_file),
        dry_run=dry_run,
        update=update,
        consent_source=consent_source,
        consent_text=consent_text,
        encoding=encoding,
        check_deliverability=check_deliverability,
        rejects_file=_personal_data_file(app, rejects) if rejects else None,
        maps=list(maps),
        status_column=status_column,
        left_values=[value.strip() for value in left_values.split(",")] if left_values is not None else None,
    )
    _print_import_summary(summary)


@subscribers.command("add")
@click.argument("email")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--organisation", default="")
@click.option("--role", default="")
@click.option("--sector", default="")
@click.option("--region", default="")
@click.option("--topic", "topics", multiple=True, help="A topic this person wants (repeat; none means all).")
@click.option("--attribute", "attributes", multiple=True, metavar="NAME=VALUE", help="A free attribute (repeat).")
@click.option("--key-contact", is_flag=True, help="The organisation's key safeguarding contact.")
@click.option("--consent-source", required=True, help="Where consent came from.")
@click.option("--consent-text", default="", help="The consent wording or privacy-notice version.")
@pass_app
def subscribers_add(
    app: App,
    email: str,
    topics: tuple[str, ...],
    attributes: tuple[str, ...],
    key_contact: bool,
    consent_source: str,
    consent_text: str,
    **profile: str,
) -> None:
    """Add one subscriber."""
    from digest.people.subscribers import add_subscriber

    extra = {}
    for item in attributes:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--attribute")
        extra[name.strip()] = value.strip()
    person = add_subscriber(
        app.engine,
        app.settings,
        email,
        {**profile, "topics": list(topics), "attributes": extra, "key_contact": key_contact},
        consent_source=consent_source,
        consent_text=consent_text,
    )
    click.echo(f"Added {person.email} (active).")


@subscribers.command("remove")
@click.argument("email")
@click.option("--reason", default="", help="Why (kept in the history).")
@pass_app
def subscribers_remove(app: App, email: str, reason: str) -> None:
    """Unsubscribe someone; their address is suppressed."""
    from digest.people.subscribers import remove_subscriber

    person = remove_subscriber(app.engine, app.settings, email, reason=reason)
    click.echo(f"{person.email} is now {person.status} and suppressed.")


@subscribers.command("show")
@click.argument("email")
@pass_app
def subscribers_show(app: App, email: str) -> None:
    """Everything about one subscriber: fields, segments, history, deliveries."""
    from digest.reports.report import subscriber_report

    for line in subscriber_report(app.engine, app.settings, email):
        click.echo(line)


@subscribers.command("list")
@click.option("--segment", help="Only members of this segment.")
@click.option("--status", type=click.Choice(["active", "unsubscribed", "bounced", "complained", "erased"]))
@pass_app
def subscribers_list(app: App, segment: str | None, status: str | None) -> None:
    """List subscribers: email, name, organisation, status."""
    from digest.people.segments import select_subscribers

    count = 0
    for person in select_subscribers(app.engine, app.settings, segment=segment, status=status):
        count += 1
        details = ", ".join(part for part in (person.name, person.organisation) if part)
        click.echo(f"{person.email or '(erased #' + str(person.id) + ')'}\t{person.status}\t{details}")
    click.echo(f"{count} subscriber{'' if count == 1 else 's'}.")


@subscribers.command("export")
@click.argument("csv_file", type=click.Path(dir_okay=False), metavar="[FILE.csv]", required=False)
@click.option("--segment", help="Only members of this segment.")
@click.option("--status", type=click.Choice(["active", "unsubscribed", "bounced", "complained", "erased"]))
@pass_app
def subscribers_export(app: App, csv_file: str | None, segment: str | None, status: str | None) -> None:
    """Export subscribers to CSV, into exports/ (ignored by git) unless FILE names a folder."""
    from datetime import date

    from digest.people.segments import select_subscribers
    from digest.people.subscribers import export_rows, write_csv

    target = _personal_data_file(app, csv_file or f"subscribers-{date.today().isoformat()}.csv")
    count = write_csv(target, export_rows(select_subscribers(app.engine, app.settings, segment=segment, status=status)))
    here = Path.cwd().resolve()
    shown = target.relative_to(here) if target.is_relative_to(here) else target
    click.echo(f"Exported {count} subscriber{'' if count == 1 else 's'} to {shown}.")


def _personal_data_file(app: App, given: str) -> Path:
    """Where a file of personal data goes (digest.people.exports), warning when git would take it."""
    from digest.people.exports import export_path, git_would_take

    target = export_path(app.settings, given)
    problem = git_would_take(target)
    if problem:
        warn(problem)
    return target


@subscribers.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def subscribers_erase(app: App, email: str, yes: bool) -> None:
    """Right to erasure: wipe someone's personal data for good (their suppression is kept)."""
    from digest.people.erasure import erase_person

    if not yes:
        click.confirm(f"Erase every personal detail of {email}? This cannot be undone", abort=True)
    erasure = erase_person(app.engine, app.settings, email)
    click.echo(f"Erased subscriber #{erasure.subscriber_id}; the address stays on the suppression list as a hash.")
    for path in erasure.files_removed:
        click.echo(f"  removed {path}")
    if not erasure.log_truncated:
        warn("another process was reading the database; its write-ahead log is emptied at the next checkpoint")


@cli.group()
def suppressions() -> None:
    """The list of addresses that must never be mailed again."""


@suppressions.command("list")
@pass_app
def suppressions_list(app: App) -> None:
    """List suppressions (addresses are stored only as keyed hashes)."""
    from digest.people.subscribers import list_suppressions

    found = list_suppressions(app.engine)
    for item in found:
        who = item.email or f"(hash {item.email_hash[:12]}…)"
        click.echo(f"{item.created_at:%Y-%m-%d}  {item.reason:<12}  {who}  {item.detail}")
    click.echo(f"{len(found)} suppressed address{'' if len(found) == 1 else 'es'}.")


@suppressions.command("add")
@click.argument("email")
@click.option("--reason", required=True, help="Why this address must not be mailed.")
@pass_app
def suppressions_add(app: App, email: str, reason: str) -> None:
    """Suppress an address, subscribed or not."""
    from digest.people.subscribers import suppress_address

    added = suppress_address(app.engine, app.settings, email, reason=reason)
    click.echo(f"{email} {'is now suppressed' if added else 'was already suppressed'}.")


@suppressions.command("lift")
@click.argument("email")
@click.option("--reason", required=True, help="Why this person may be mailed again (kept in the history).")
@pass_app
def suppressions_lift(app: App, email: str, reason: str) -> None:
    """Lift a suppression; an existing subscriber becomes active again."""
    from digest.people.subscribers import lift_suppression

    person = lift_suppression(app.engine, app.settings, email, reason=reason)
    tail = f"; {person.email} is {person.status} again" if person else ""
    click.echo(f"Suppression lifted{tail}.")


@cli.group()
def segments() -> None:
    """Segments from subscribers/segments.yaml."""


@segments.command("list")
@pass_app
def segments_list(app: App) -> None:
    """Each segment with its description and member count."""
    from digest.people.segments import load_segments, segment_counts

    found = load_segments(app.settings)
    counts = segment_counts(app.engine, found)
    for segment in found:
        click.echo(f"{segment.name}: {counts[segment.name]} member{'' if counts[segment.name] == 1 else 's'}")
        if segment.description:
            click.echo(f"    {segment.description}")


@segments.command("show")
@click.argument("name")
@click.option("--sample", default=10, show_default=True, help="How many members to show.")
@pass_app
def segments_show(app: App, name: str, sample: int) -> None:
    """A segment's rules, topics, member count and a sample of members."""
    import yaml

    from digest.people.segments import find_segments, members, segment_counts

    (segment,) = find_segments(app.settings, [name])
    click.echo(f"{segment.name}: {segment.description}")
    click.echo("rules:")
    click.echo("  " + yaml.safe_dump(segment.rules, sort_keys=False).strip().replace("\n", "\n  "))
    topics = ", ".join(sorted(segment.topics)) if segment.topics is not None else "all"
    click.echo(f"topics: {topics}")
    click.echo(f"members: {segment_counts(app.engine, [segment])[segment.name]}")
    for row in members(app.engine, segment, limit=sample):
        click.echo(f"  {row['email']}\t{row['organisation']}")
