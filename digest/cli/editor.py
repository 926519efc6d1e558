"""The editor's commands: articles, topics, issues, preview and checks."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from digest.cli.base import App, cli, parse_date, pass_app, warn
from digest.words import counted

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
    from digest.articles.store import import_articles

    report = import_articles(
        app.engine,
        app.settings,
        list(locations),
        source_name=source_name,
        on_step=_import_progress if len(locations) > 1 or any("://" in loc for loc in locations) else None,
    )
    for message in report.warnings:
        warn(message)
    click.echo(f"Imported {report.new} new, {report.updated} updated, {report.skipped} skipped.")
    if report.failures:
        for failure in report.failures:
            click.echo(f"Error: {failure}", err=True)
        noun = "file was" if len(report.failures) == 1 else "files were"
        raise click.ClickException(f"{len(report.failures)} {noun} not imported; fix and import again")


def _import_progress(step: Any) -> None:
    """One line per file on stderr: long imports (many files, slow feeds) are not silent."""
    where = f"[{step.number}/{step.total}] {step.location}"
    if not step.done:
        if "://" in step.location:
            click.echo(f"{where}: fetching…", err=True)
        return
    if step.failed:
        click.echo(f"{where}: not imported (see below)", err=True)
    else:
        click.echo(f"{where}: {step.new} new, {step.updated} updated, {step.skipped} skipped", err=True)


@articles.command("list")
@click.option("--since", callback=parse_date, help="Only articles published on or after this date.")
@click.option("--until", callback=parse_date, help="Only articles published before this date.")
@click.option("--topic", help="Only articles with this topic.")
@click.option("--source", help="Only articles whose source contains this text.")
@pass_app
def articles_list(app: App, since: date | None, until: date | None, topic: str | None, source: str | None) -> None:
    """List stored articles, newest first."""
    from digest.articles.store import date_text, list_articles

    found = list_articles(app.engine, since=since, until=until, topic=topic, source=source)
    for article in found:
        click.echo(f"{date_text(article.published):<10}  {article.source}: {article.title}")
        click.echo(f"            id: {article.id}")
        click.echo(f"            topics: {', '.join(article.topics) or '(none)'}")
    click.echo(f"{len(found)} article{'' if len(found) == 1 else 's'}.")


@articles.command("show")
@click.argument("article_id")
@pass_app
def articles_show(app: App, article_id: str) -> None:
    """Show one article as stored, body included."""
    from digest.articles.store import date_text, get_article
    from digest.articles.summary import summarise
    from digest.issues.typeset import LinkReferences, text_blocks, wrap

    article = get_article(app.engine, article_id)
    refs = LinkReferences()
    click.echo(f"id:        {article.id}")
    click.echo(f"title:     {article.title}")
    click.echo(f"source:    {article.source}")
    click.echo(f"published: {date_text(article.published)}")
    click.echo(f"author:    {article.author or '(none)'}")
    if article.posted_by:
        click.echo(f"posted by: {article.posted_by} (who put it on the site it came from; not shown to readers)")
    click.echo(f"url:       {article.url or '(none: the archive page is used)'}")
    locked = " (set by the editor)" if article.topics_locked else ""
    click.echo(f"topics:    {', '.join(article.topics) or '(none)'}{locked}")
    summary = article.summary or summarise(article.body, app.settings.summary_words)
    click.echo(f"summary:\n{wrap(summary, indent='  ')}")
    click.echo("body:")
    click.echo(text_blocks(article.body, refs))
    for number, url in refs.items():
        click.echo(f"[{number}] {url}")
    if article.edited:
        click.echo(f"edited:    {', '.join(article.edited)} (kept when the file is imported again)")
    for message in article.import_warnings:
        click.echo(f"warning:   {message}")


@articles.command("edit")
@click.argument("article_id")
@click.option("--title", help="The corrected title.")
@click.option("--source", help="The organisation it comes from.")
@click.option("--published", callback=parse_date, help="The date it was published (YYYY-MM-DD).")
@click.option("--author", help="Its author, shown as 'by …' (an empty value removes it).")
@click.option("--url", help="The original's address; 'Read the full story' goes there.")
@click.option("--summary", help="Its summary, used by every issue unless the issue gives its own.")
@pass_app
def articles_edit(app: App, article_id: str, **changes: Any) -> None:
    """Correct an imported article in place (its id stays, so issue files still name it).

    Importing the same file again updates the other fields but keeps these
    corrections. To correct the export and import it again instead would make
    a second article.
    """
    from digest.articles.edits import edit_article
    from digest.articles.store import date_text

    article = edit_article(app.engine, app.settings, article_id, changes)
    click.echo(f"{article.id}: {', '.join(name for name, value in changes.items() if value is not None)} changed.")
    click.echo(f"  {date_text(article.published)}  {article.source}: {article.title}")


@articles.command("delete")
@click.argument("article_id")
@pass_app
def articles_delete(app: App, article_id: str) -> None:
    """Delete an article that no issue file names; importing its file again leaves it deleted."""
    from digest.articles.edits import delete_article

    article = delete_article(app.engine, app.settings, article_id)
    click.echo(f"Deleted {article.id} ({article.source}: {article.title}).")


@articles.command("set-topics")
@click.argument("article_id")
@click.argument("topics", nargs=-1, required=True)
@pass_app
def articles_set_topics(app: App, article_id: str, topics: tuple[str, ...]) -> None:
    """Set an article's topics by hand; later imports keep them."""
    from digest.articles.store import set_topics

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
    from digest.issues.drafting import new_issue

    path, count = new_issue(
        app.engine, app.settings, issue_date=issue_date or date.today(), days=days, grouping=grouping, force=force
    )
    click.echo(f"Drafted {path} with {count} {'story' if count == 1 else 'stories'}.")
    click.echo("Edit it, then run `digest preview " + path.parent.name + "`.")


@issue.command("list")
@pass_app
def issue_list(app: App) -> None:
    """List the issues, newest first: subject, stories and where each stands."""
    from digest.issues.catalogue import list_issues

    found = list_issues(app.engine, app.settings)
    for entry in found:
        detail = f" ({entry.detail})" if entry.detail else ""
        if entry.state == "broken":
            click.echo(f"{entry.issue_id}  broken{detail}")
            continue
        stories = f"{entry.stories} {'story' if entry.stories == 1 else 'stories'}"
        click.echo(f"{entry.issue_id}  {entry.state}{detail}")
        click.echo(f"            {entry.subject} · {stories}")
    if not found:
        click.echo("No issues yet; draft one with `digest issue new --date YYYY-MM-DD`.")


@issue.command("approve")
@click.argument("issue_ref", metavar="ISSUE")
@click.option("--by", "approved_by", help="Who approves (default: your login name).")
@pass_app
def issue_approve(app: App, issue_ref: str, approved_by: str | None) -> None:
    """Approve the issue exactly as it renders now (every segment's variant)."""
    from digest.issues.approval import approve

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
    from digest.issues.issue import human_date, load_view

    view = load_view(app.engine, app.settings, issue_ref)
    issue_ = view.issue
    click.echo(f"Issue {issue_.id} ({human_date(issue_.date)})")
    click.echo(f"  file:      {issue_.path}")
    last_day = issue_.window_end.toordinal() - 1
    click.echo(f"  window:    {issue_.window_start.isoformat()} to {date.fromordinal(last_day).isoformat()}")
    click.echo(f"  subject:   {issue_.subject}")
    click.echo(f"  preheader: {issue_.preheader or '(each copy names its own stories)'}")
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
    click.echo(f"  {counted(len(view.stories()), 'story', 'stories')}")
    _show_corrections(app, issue_.id)


def _show_corrections(app: App, issue_id: str) -> None:
    """A sent issue's corrections and withdrawals, and how many readers each reached."""
    from digest.cli.corrections import readers
    from digest.corrections import list_corrections, reach_of

    found = list_corrections(app.engine, issue_id)
    if found:
        click.echo(f"  corrections ({len(found)}):")
    for item in found:
        sent = reach_of(app.engine, item)["accepted"]
        click.echo(f"    #{item.id} {item.kind} of {item.title} [{item.article_id}]")
        click.echo(f"        {item.created_at:%Y-%m-%d} by {item.created_by}; sent to {readers(sent)}")


# --- preview and checks ---------------------------------------------------------------


def _print_checks(report: Any) -> None:
    for check in report.checks:
        click.echo(f"  {check.level:<8} {check.code:<12} {check.message}")
    click.echo(f"{counted(len(report.errors), 'error')}, {counted(len(report.warnings), 'warning')}.")


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
    from digest.issues.preview import write_preview

    result = write_preview(
        app.engine,
        app.settings,
        issue_ref,
        out=Path(out) if out else None,
        segment=segment,
        screenshots=not no_screenshots,
        on_progress=lambda line: click.echo(line, err=True),
    )
    if result.no_screenshots_because:
        click.echo(f"No screenshots: {result.no_screenshots_because}.", err=True)
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
    """Check an issue before sending; exit status 1 when a check finds an error."""
    from digest.issues.checks import check_issue

    report = check_issue(app.engine, app.settings, issue_ref)
    click.echo(f"Checks for {issue_ref}:")
    _print_checks(report)
    if not report.passed:
        sys.exit(1)
