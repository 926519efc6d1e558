"""`digest db`: migrations, copying to PostgreSQL, the schema revision."""

from __future__ import annotations

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
    from digest.db import SCHEMA_HEAD, create_db_engine, read_revision

    url = app.settings.database_url
    revision = read_revision(create_db_engine(url), url)
    state = "current" if revision == SCHEMA_HEAD else f"behind {SCHEMA_HEAD}; run `digest db upgrade`"
    click.echo(f"{redact_url(app.settings.database_url)}: schema {revision or '(empty)'} ({state}).")
