"""The `digest` command: a thin layer over the library.

Each command parses its options, calls one library function and prints the
result. Library errors (:class:`digest.errors.DigestError`) become
``Error: <message>`` and exit status 1. Heavy libraries are imported inside
the commands that need them so that `digest --help` starts fast.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digest import __version__
from digest.errors import DigestError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from digest.config import Settings


class DigestGroup(click.Group):
    """A group whose commands report library errors as `Error: …`, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            raise click.ClickException(str(exc)) from None

    def group(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", DigestGroup)
        return super().group(*args, **kwargs)


class App:
    """Settings and database, loaded on first use by the commands that need them."""

    def __init__(self, config: str | None) -> None:
        self.config = Path(config) if config else None
        self._settings: Settings | None = None
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from digest.config import load_settings

            self._settings = load_settings(self.config)
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from digest.db import open_database

            self._engine = open_database(self.settings.database_url, pool=self.settings.pool)
        return self._engine


pass_app = click.make_pass_decorator(App)


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD") from None


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="Path of digest.toml (default: DIGEST_CONFIG, else the nearest digest.toml).",
)
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Build, preview and send the weekly SAFE Newsfeed digest."""
    ctx.obj = App(config)


# --- articles -------------------------------------------------------------------------


@cli.group()
def articles() -> None:
    """Import and list the articles an issue is made from."""


@articles.command("import")
@click.argument("locations", nargs=-1, required=True, metavar="PATH_OR_URL...")
@click.option("--source", "source_name", help="Organisation name for feed items (default: the feed's title).")
@pass_app
def articles_import(app: App, locations: tuple[str, ...], source_name: str | None) -> None:
    """Import newsfeed text, RSS/Atom feeds (files or URLs) and Markdown files."""
    from digest.articles import import_articles

    report = import_articles(app.engine, app.settings, list(locations), source_name=source_name)
    for message in report.warnings:
        warn(message)
    click.echo(f"Imported {report.new} new, {report.updated} updated, {report.skipped} skipped.")
    if report.failures:
        for failure in report.failures:
            click.echo(f"Error: {failure}", err=True)
        noun = "file was" if len(report.failures) == 1 else "files were"
        raise click.ClickException(f"{len(report.failures)} {noun} not imported; fix and import again")


@articles.command("list")
@click.option("--since", callback=parse_date, help="Only articles published on or after this date.")
@click.option("--until", callback=parse_date, help="Only articles published before this date.")
@click.option("--topic", help="Only articles with this topic.")
@click.option("--source", help="Only articles whose source contains this text.")
@pass_app
def articles_list(app: App, since: date | None, until: date | None, topic: str | None, source: str | None) -> None:
    """List stored articles, newest first."""
    from digest.articles import list_articles

    found = list_articles(app.engine, since=since, until=until, topic=topic, source=source)
    for article in found:
        click.echo(f"{article.published.isoformat()}  {article.source}: {article.title}")
        click.echo(f"            id: {article.id}")
        click.echo(f"            topics: {', '.join(article.topics) or '(none)'}")
    click.echo(f"{len(found)} article{'' if len(found) == 1 else 's'}.")


@articles.command("show")
@click.argument("article_id")
@pass_app
def articles_show(app: App, article_id: str) -> None:
    """Show one article as stored, body included."""
    from digest.articles import get_article
    from digest.render import LinkReferences, text_blocks, wrap
    from digest.summary import summarise

    article = get_article(app.engine, article_id)
    refs = LinkReferences()
    click.echo(f"id:        {article.id}")
    click.echo(f"title:     {article.title}")
    click.echo(f"source:    {article.source}")
    click.echo(f"published: {article.published.isoformat()}")
    click.echo(f"author:    {article.author or '(none)'}")
    click.echo(f"url:       {article.url or '(none: the archive page is used)'}")
    locked = " (set by the editor)" if article.topics_locked else ""
    click.echo(f"topics:    {', '.join(article.topics) or '(none)'}{locked}")
    summary = article.summary or summarise(article.body, app.settings.summary_words)
    click.echo(f"summary:\n{wrap(summary, indent='  ')}")
    click.echo("body:")
    click.echo(text_blocks(article.body, refs))
    for number, url in refs.items():
        click.echo(f"[{number}] {url}")


@articles.command("set-topics")
@click.argument("article_id")
@click.argument("topics", nargs=-1, required=True)
@pass_app
def articles_set_topics(app: App, article_id: str, topics: tuple[str, ...]) -> None:
    """Set an article's topics by hand; later imports keep them."""
    from digest.articles import set_topics

    article = set_topics(app.engine, app.settings, article_id, topics)
    click.echo(f"{article.id}: topics {', '.join(article.topics)}")


@cli.command("topics")
@pass_app
def topics_list(app: App) -> None:
    """List the topic rules (defaults plus digest.toml's changes)."""
    for rule in app.settings.topics:
        click.echo(f"{rule.slug}: {rule.label}")
        click.echo(f"    keywords: {', '.join(rule.keywords)}")


# --- issues ---------------------------------------------------------------------------


@cli.group()
def issue() -> None:
    """Compose and inspect issues (issues/<date>/issue.yaml)."""


@issue.command("new")
@click.option("--date", "issue_date", callback=parse_date, help="Date of the issue (default: today).")
@click.option("--days", type=click.IntRange(1, 366), help="Days of articles before the date (default: 7).")
@click.option(
    "--group-by", "grouping", type=click.Choice(["topic", "source"]), help="Make sections by topic or by source."
)
@click.option("--force", is_flag=True, help="Draft the file again even if it exists (edits are lost).")
@pass_app
def issue_new(app: App, issue_date: date | None, days: int | None, grouping: str | None, force: bool) -> None:
    """Draft a new issue from the articles of the week before DATE."""
    from digest.issues import new_issue

    path, count = new_issue(
        app.engine, app.settings, issue_date=issue_date or date.today(), days=days, grouping=grouping, force=force
    )
    click.echo(f"Drafted {path} with {count} {'story' if count == 1 else 'stories'}.")
    click.echo("Edit it, then run `digest preview " + path.parent.name + "`.")


@issue.command("approve")
@click.argument("issue_ref", metavar="ISSUE")
@click.option("--by", "approved_by", help="Who approves (default: your login name).")
@pass_app
def issue_approve(app: App, issue_ref: str, approved_by: str | None) -> None:
    """Approve the issue exactly as it renders now (every segment's variant)."""
    from digest.approval import approve

    approval = approve(app.engine, app.settings, issue_ref, approved_by=approved_by)
    click.echo(
        f"Issue {approval.issue_id} approved by {approval.approved_by} "
        f"({len(approval.variants)} variants, {approval.content_hash[:12]})."
    )


@issue.command("show")
@click.argument("issue_ref", metavar="ISSUE")
@pass_app
def issue_show(app: App, issue_ref: str) -> None:
    """Print the issue as digest understands it."""
    from digest.issues import human_date, load_view

    view = load_view(app.engine, app.settings, issue_ref)
    issue_ = view.issue
    click.echo(f"Issue {issue_.id} ({human_date(issue_.date)})")
    click.echo(f"  file:      {issue_.path}")
    last_day = issue_.window_end.toordinal() - 1
    click.echo(f"  window:    {issue_.window_start.isoformat()} to {date.fromordinal(last_day).isoformat()}")
    click.echo(f"  subject:   {issue_.subject}")
    click.echo(f"  preheader: {issue_.preheader or '(none)'}")
    if view.lead:
        click.echo(f"  lead:      {view.lead.article.title} [{view.lead.id}]")
    for section in view.sections:
        click.echo(f"  {section.title}")
        for story in section.stories:
            flags = [
                name for name, on in (("full", story.full), ("pinned", story.pin), ("note", bool(story.note))) if on
            ]
            extra = f" ({', '.join(flags)})" if flags else ""
            click.echo(f"    - {story.article.title} [{story.id}]{extra}")
    click.echo(f"  {len(view.stories())} stories")


# --- preview and checks ---------------------------------------------------------------


def _print_checks(report: Any) -> None:
    for check in report.checks:
        click.echo(f"  {check.level:<8} {check.code:<12} {check.message}")
    click.echo(f"{len(report.errors)} errors, {len(report.warnings)} warnings.")


@cli.command()
@click.argument("issue_ref", metavar="ISSUE")
@click.option("--out", type=click.Path(file_okay=False), help="Folder to write (default: preview/<issue>/).")
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in a web browser.")
@click.option("--segment", help="Preview what this segment receives.")
@click.option("--no-screenshots", is_flag=True, help="Skip the browser screenshots (taken when Chromium is installed).")
@pass_app
def preview(
    app: App, issue_ref: str, out: str | None, open_browser: bool, segment: str | None, no_screenshots: bool
) -> None:
    """Write the email, its plain text, a .eml and the archive pages to a folder."""
    from digest.preview import write_preview

    result = write_preview(
        app.engine,
        app.settings,
        issue_ref,
        out=Path(out) if out else None,
        segment=segment,
        screenshots=not no_screenshots,
    )
    for failed in result.checks.errors:
        click.echo(f"Check failed: {failed.message}", err=True)
    for warning in result.checks.warnings:
        warn(warning.message)
    click.echo(str(result.index))
    if open_browser:
        import webbrowser

        webbrowser.open(result.index.as_uri())


@cli.command()
@click.argument("issue_ref", metavar="ISSUE")
@pass_app
def check(app: App, issue_ref: str) -> None:
    """Check an issue before sending; exit status 1 when an error-level check fails."""
    from digest.checks import check_issue

    report = check_issue(app.engine, app.settings, issue_ref)
    click.echo(f"Checks for {issue_ref}:")
    _print_checks(report)
    if not report.passed:
        sys.exit(1)


# --- subscribers ----------------------------------------------------------------------


def _print_import_summary(summary: Any) -> None:
    for line, reason in summary.rejects:
        click.echo(f"Rejected line {line}: {reason}", err=True)
    hidden = summary.invalid - len(summary.rejects)
    if hidden > 0:
        click.echo(f"… and {hidden} more rejected rows; pass --rejects FILE to save every one.", err=True)
    for message in summary.warnings:
        warn(message)
    if summary.attribute_columns:
        click.echo(f"Extra columns kept as attributes: {', '.join(summary.attribute_columns)}")
    prefix = "Dry run, nothing written. Would import" if summary.dry_run else "Imported"
    click.echo(
        f"{prefix}: {summary.new} new, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.duplicate} duplicate, {summary.invalid} invalid, {summary.suppressed} suppressed "
        f"({summary.rows} rows)."
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
@click.option("--rejects", type=click.Path(dir_okay=False), help="Write every rejected line and reason to this CSV.")
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
) -> None:
    """Import subscribers from a CSV export (ours, Mailchimp's, a spreadsheet's)."""
    from digest.csvimport import import_csv

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
        rejects_file=Path(rejects) if rejects else None,
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
    from digest.subscribers import add_subscriber

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
    from digest.subscribers import remove_subscriber

    person = remove_subscriber(app.engine, app.settings, email, reason=reason)
    click.echo(f"{person.email} is now {person.status} and suppressed.")


@subscribers.command("show")
@click.argument("email")
@pass_app
def subscribers_show(app: App, email: str) -> None:
    """Everything about one subscriber: fields, segments, history, deliveries."""
    from digest.report import subscriber_report

    for line in subscriber_report(app.engine, app.settings, email):
        click.echo(line)


@subscribers.command("list")
@click.option("--segment", help="Only members of this segment.")
@click.option("--status", type=click.Choice(["active", "unsubscribed", "bounced", "complained", "erased"]))
@pass_app
def subscribers_list(app: App, segment: str | None, status: str | None) -> None:
    """List subscribers: email, name, organisation, status."""
    from digest.segments import select_subscribers

    count = 0
    for person in select_subscribers(app.engine, app.settings, segment=segment, status=status):
        count += 1
        details = ", ".join(part for part in (person.name, person.organisation) if part)
        click.echo(f"{person.email or '(erased #' + str(person.id) + ')'}\t{person.status}\t{details}")
    click.echo(f"{count} subscriber{'' if count == 1 else 's'}.")


@subscribers.command("export")
@click.argument("csv_file", type=click.Path(dir_okay=False), metavar="FILE.csv")
@click.option("--segment", help="Only members of this segment.")
@click.option("--status", type=click.Choice(["active", "unsubscribed", "bounced", "complained", "erased"]))
@pass_app
def subscribers_export(app: App, csv_file: str, segment: str | None, status: str | None) -> None:
    """Export subscribers to CSV (cells that look like formulas are made safe)."""
    from digest.segments import select_subscribers
    from digest.subscribers import export_rows, write_csv

    count = write_csv(
        Path(csv_file), export_rows(select_subscribers(app.engine, app.settings, segment=segment, status=status))
    )
    click.echo(f"Exported {count} subscriber{'' if count == 1 else 's'} to {csv_file}.")


@subscribers.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def subscribers_erase(app: App, email: str, yes: bool) -> None:
    """Right to erasure: wipe someone's personal data for good (their suppression is kept)."""
    from digest.subscribers import erase_subscriber

    if not yes:
        click.confirm(f"Erase every personal detail of {email}? This cannot be undone", abort=True)
    subscriber_id = erase_subscriber(app.engine, app.settings, email)
    click.echo(f"Erased subscriber #{subscriber_id}; the address stays on the suppression list as a hash.")


@cli.group()
def suppressions() -> None:
    """The list of addresses that must never be mailed again."""


@suppressions.command("list")
@pass_app
def suppressions_list(app: App) -> None:
    """List suppressions (addresses are stored only as keyed hashes)."""
    from digest.subscribers import list_suppressions

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
    from digest.subscribers import suppress_address

    added = suppress_address(app.engine, app.settings, email, reason=reason)
    click.echo(f"{email} {'is now suppressed' if added else 'was already suppressed'}.")


@suppressions.command("lift")
@click.argument("email")
@click.option("--reason", required=True, help="Why this person may be mailed again (kept in the history).")
@pass_app
def suppressions_lift(app: App, email: str, reason: str) -> None:
    """Lift a suppression; an existing subscriber becomes active again."""
    from digest.subscribers import lift_suppression

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
    from digest.segments import load_segments, segment_counts

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

    from digest.segments import find_segments, members, segment_counts

    (segment,) = find_segments(app.settings, [name])
    click.echo(f"{segment.name}: {segment.description}")
    click.echo("rules:")
    click.echo("  " + yaml.safe_dump(segment.rules, sort_keys=False).strip().replace("\n", "\n  "))
    topics = ", ".join(sorted(segment.topics)) if segment.topics is not None else "all"
    click.echo(f"topics: {topics}")
    click.echo(f"members: {segment_counts(app.engine, [segment])[segment.name]}")
    for row in members(app.engine, segment, limit=sample):
        click.echo(f"  {row['email']}\t{row['organisation']}")


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


def _progress_printer() -> Any:
    if not sys.stderr.isatty():
        return None  # a log file gets the summary line, not a stream of carriage returns

    def show(progress: Any) -> None:
        eta = f"{int(progress.eta) // 60}:{int(progress.eta) % 60:02d}" if progress.eta is not None else "-"
        click.echo(
            f"\r  {progress.done}/{progress.total} recipients · {progress.rate:,.0f}/s · ETA {eta}  ",
            nl=False,
            err=True,
        )
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
@click.option("--provider", type=click.Choice(["outbox", "smtp", "sendgrid"]), help="Default: [sending] provider.")
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
        from digest.providers import make_provider

        if len(segment_names) > 1:
            raise click.UsageError("--test-to sends one segment's variant; give at most one --segment")
        accepted, failures = sending.send_test_copies(
            app.engine,
            app.settings,
            issue_ref,
            test_to,
            segment=segment_names[0] if segment_names else None,
            provider=make_provider(app.settings, provider),
        )
        for failure in failures:
            click.echo(f"Failed: {failure}", err=True)
        click.echo(f"Sent {accepted} test cop{'y' if accepted == 1 else 'ies'}; nothing was recorded in the ledger.")
        if failures:
            sys.exit(1)
        return
    notice = lambda message: click.echo(message, err=True)  # noqa: E731
    if resume:
        resumed = sending.resume_send(
            app.engine,
            app.settings,
            issue_ref,
            resend_uncertain=resend_uncertain,
            stop=_stop_on_ctrl_c(),
            on_progress=_progress_printer(),
            on_notice=notice,
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
        stop=_stop_on_ctrl_c(),
        on_progress=_progress_printer(),
        on_notice=notice,
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
    from digest.sending import run_due as due

    results = due(app.engine, app.settings, on_notice=lambda message: click.echo(message, err=True))
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


# --- events and bounces ----------------------------------------------------------------


def _print_ingest(report: Any) -> None:
    for change in report.changes:
        click.echo(f"  {change}")
    for item in report.reported:
        click.echo(f"Note: {item}", err=True)
    click.echo(
        f"{report.received} events: {report.stored} stored, {report.duplicates} already known, "
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
    from digest.events import IngestReport, import_events_file

    total = IngestReport()
    for path in files:
        total.merge(import_events_file(app.engine, app.settings, path))
    _print_ingest(total)


@events.command("unplaced")
@click.option("--limit", default=50, show_default=True)
@pass_app
def events_unplaced(app: App, limit: int) -> None:
    """Events that match no delivery or subscriber (kept, shown here)."""
    from digest.events import unplaced_events

    found = unplaced_events(app.engine, limit=limit)
    for row in found:
        click.echo(f"#{row.id}  {row.occurred_at:%Y-%m-%d %H:%M}  {row.type:<18} {row.email or '(no address)'}")
    click.echo(f"{len(found)} unplaced event{'' if len(found) == 1 else 's'} shown.")


@cli.group()
def bounces() -> None:
    """Bounces: review key contacts, scan a bounce mailbox, sync SendGrid's lists."""


@bounces.command("review")
@pass_app
def bounces_review(app: App) -> None:
    """Key contacts whose address bounced: find them a new one."""
    from digest.events import bounce_review

    found = bounce_review(app.engine)
    for row in found:
        name = " ".join(p for p in (row.first_name, row.last_name) if p)
        click.echo(f"{row.email}  {name}, {row.organisation}  since {row.status_changed_at:%Y-%m-%d}")
        click.echo(f"    {row.status_reason}")
    click.echo(f"{len(found)} key contact{'' if len(found) == 1 else 's'} to review.")


@bounces.command("scan")
@click.argument("mailbox_path", type=click.Path(exists=False), metavar="MAILBOX")
@pass_app
def bounces_scan(app: App, mailbox_path: str) -> None:
    """Read bounce messages from an mbox file or Maildir folder (SMTP sending)."""
    from digest.bounces import scan_mailbox

    report = scan_mailbox(app.engine, app.settings, Path(mailbox_path))
    click.echo(
        f"{report.messages} messages: {report.bounces} failed recipients, {report.not_understood} not understood."
    )
    _print_ingest(report.ingest)


@bounces.command("sync")
@pass_app
def bounces_sync(app: App) -> None:
    """Pull SendGrid's bounce, block, spam-report and unsubscribe lists."""
    from digest.bounces import sync_sendgrid

    _print_ingest(sync_sendgrid(app.engine, app.settings))


@cli.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@click.option("--format", "output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a page with charts.")
@click.option("--last", default=5, show_default=True, help="Without ISSUE: how many recent issues to compare.")
@pass_app
def report(app: App, issue_ref: str | None, output: str, html_path: str | None, last: int) -> None:
    """What happened to an issue per segment, or the last issues side by side."""
    from digest import report as reports

    if issue_ref:
        from digest.issues import issue_path

        issue_id = issue_path(app.settings, issue_ref).parent.name
        outcomes = [reports.issue_outcome(app.engine, app.settings, issue_id)]
    else:
        outcomes = [
            reports.issue_outcome(app.engine, app.settings, i) for i in reports.sent_issue_ids(app.engine, last)
        ]
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


@cli.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (others need a password).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--open", "open_browser", is_flag=True, help="Open the studio in a web browser.")
@pass_app
def studio(app: App, issue_ref: str | None, host: str, port: int, open_browser: bool) -> None:
    """Compose an issue in the browser: choose, arrange, preview, check, save, approve, test."""
    from digest.issues import issue_path
    from digest.studio.server import open_in_browser, start_studio

    issue_file = issue_path(app.settings, issue_ref) if issue_ref else None
    running = start_studio(app.settings, app.engine, host=host, port=port, issue_file=issue_file)
    click.echo(f"The studio is at {running.url}", err=True)
    click.echo("Keep that address to yourself: it is the key. Ctrl-C stops the studio.", err=True)
    if open_browser:
        open_in_browser(running.url)
    running.run()


# --- database -------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema and maintenance."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Migrate the database to the current schema, in place."""
    from digest.config import redact_url
    from digest.db import create_db_engine, upgrade

    engine = create_db_engine(app.settings.database_url)
    before, after = upgrade(engine)
    where = redact_url(app.settings.database_url)
    if before == after:
        click.echo(f"{where}: already at schema {after}.")
    else:
        click.echo(f"{where}: upgraded schema {before or '(empty)'} → {after}.")


@db.command("copy")
@click.option("--to", "target", required=True, metavar="URL", help="The database to copy into, e.g. postgresql://…")
@click.option("--force", is_flag=True, help="Empty the target first if it holds data.")
@pass_app
def db_copy(app: App, target: str, force: bool) -> None:
    """Copy this database into another (SQLite into PostgreSQL), then compare counts and checksums."""
    from digest.config import redact_url
    from digest.dbcopy import copy_database

    results = copy_database(app.engine, target, force=force)
    for item in results:
        state = "same" if item.matches else "DIFFERENT"
        click.echo(f"  {item.table:<20} {item.rows:>9} rows  checksum {state}")
    if all(item.matches for item in results):
        click.echo(f"Copied {sum(i.rows for i in results)} rows into {redact_url(target)}; every table matches.")
    else:
        raise click.ClickException("the copy differs from the source; see the tables marked DIFFERENT")


@db.command("current")
@pass_app
def db_current(app: App) -> None:
    """Print the database's schema revision."""
    from digest.config import redact_url
    from digest.db import SCHEMA_HEAD, create_db_engine, current_revision

    revision = current_revision(create_db_engine(app.settings.database_url))
    state = "current" if revision == SCHEMA_HEAD else f"behind {SCHEMA_HEAD}; run `digest db upgrade`"
    click.echo(f"{redact_url(app.settings.database_url)}: schema {revision or '(empty)'} ({state}).")


def main() -> None:
    cli(prog_name="digest")
