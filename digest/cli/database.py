"""`digest db`: migrations, copying to PostgreSQL, the schema revision."""

from __future__ import annotations

from typing import Any

import click

from digest.cli.base import App, cli, pass_app

# --- database -------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema and maintenance."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Migrate the database to the current schema, in place."""
    from digest.config import redact_url
    from digest.store.db import create_db_engine, upgrade

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
    from digest.store.dbcopy import copy_database

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
    from digest.store.db import SCHEMA_HEAD, create_db_engine, read_revision

    url = app.settings.database_url
    revision = read_revision(create_db_engine(url), url)
    state = "current" if revision == SCHEMA_HEAD else f"behind {SCHEMA_HEAD}; run `digest db upgrade`"
    click.echo(f"{redact_url(app.settings.database_url)}: schema {revision or '(empty)'} ({state}).")


@db.command("rekey")
@click.option(
    "--old-key-file",
    required=True,
    type=click.Path(dir_okay=False),
    help="A file holding the old key: a copy of the old .env, or the key alone.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def db_rekey(app: App, old_key_file: str, yes: bool) -> None:
    """Move the address hashes to the key now in .env from the old key, in one transaction."""
    from pathlib import Path

    from digest.people.rekey import read_old_key, rekey
    from digest.project import open_engine

    engine = open_engine(app.settings, check_key=False)  # the key in .env is the new one: not the database's yet
    old = read_old_key(Path(old_key_file))
    plan = rekey(engine, app.settings, old, dry_run=True)
    click.echo(
        f"Re-keying the address hashes from key {plan.old}… (in {old_key_file}) to the key in .env ({plan.new}…):"
    )
    _print_rekeying(plan)
    if not yes:
        click.confirm("Re-key the database?", abort=True)
    done = rekey(engine, app.settings, old)
    click.echo(
        f"Re-keyed: {done.subscribers} subscribers' hashes made again; the database now remembers key {done.new}…."
    )


def _print_rekeying(plan: Any) -> None:
    from digest.people.plaintext import for_terminal

    click.echo(f"  {plan.subscribers} subscribers' hashes made again")
    merged = f" ({plan.merged} of them held under both keys, now kept once)" if plan.merged else ""
    click.echo(f"  {plan.suppressions + plan.merged} suppressions moved to the new key{merged}")
    click.echo(f"  {plan.log_lines} lines of the suppression list's history moved")
    click.echo(f"  {plan.rate_limits} rate-limit counts cleared (they last an hour or a day)")
    if plan.unknown:
        click.echo(
            f"  {plan.unknown} suppressions are of addresses the database no longer holds (erased people, or "
            "addresses suppressed without being subscribed): a hash is made from the address, so they stay as "
            "they are and no longer match those addresses. Keep the old key instead to keep them working."
        )
    if plan.now_suppressed:
        shown = ", ".join(for_terminal(email) for email in plan.now_suppressed)
        click.echo(
            f"  {len(plan.now_suppressed)} active subscribers were suppressed under the old key and will not be "
            f"mailed: {shown}"
        )
    click.echo("Links in mail already sent (unsubscribe, preferences) were signed with the old key and stop working.")
