"""`digest init`: a new project folder."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli.base import cli

# --- init -----------------------------------------------------------------------------


@cli.command("init")
@click.argument("folder", default=".", type=click.Path())
@click.option("--name", default=None, help="Your organisation's name, shown in the email.")
@click.option("--from-address", default=None, help="The address the digest is sent from.")
@click.option("--base-url", default=None, help="The public address of `digest serve` (links start with it).")
@click.option("--privacy-url", default=None, help="Your privacy notice's address, linked in the email's footer.")
@click.option("--address", default=None, help="Your postal address, on one line, shown in the email's footer.")
def init(
    folder: str,
    name: str | None,
    from_address: str | None,
    base_url: str | None,
    privacy_url: str | None,
    address: str | None,
) -> None:
    """Lay out a new project: digest.toml, .env with a fresh secret key, segments and issues/.

    Existing files are kept, never overwritten. Settings not given are written with
    example values to edit before a real send. In a terminal it asks for the privacy
    notice and postal address the footer shows, unless given (Enter leaves them for later).
    """
    from digest import project

    if _asks(Path(folder)):
        if privacy_url is None:
            privacy_url = _ask("Privacy notice address (https://…; Enter to leave it for later)")
        if address is None:
            address = _ask("Postal address, on one line (Enter to leave it for later)")
    report = project.init_project(
        Path(folder),
        name=name or project.EXAMPLE_NAME,
        from_address=from_address or project.EXAMPLE_FROM,
        base_url=base_url or project.EXAMPLE_BASE_URL,
        privacy_url=privacy_url or "",
        address=address or "",
    )
    for path in report.written:
        click.echo(f"wrote {path}")
    for path in report.kept:
        click.echo(f"kept  {path} (already there)")
    click.echo(f"Project ready in {report.folder}. Next: edit digest.toml, then `digest articles import FILE`.")
    still_examples = [
        setting
        for setting, given in (
            ("[organisation] name", name),
            ("[email] from_address", from_address),
            ("[web] base_url", base_url),
        )
        if not given
    ]
    if still_examples:
        from digest.issues.wording import join_words

        values = "value" if len(still_examples) == 1 else "values"
        click.echo(f"Before a real send, replace the example {values} of {join_words(still_examples)} in digest.toml.")


def _asks(folder: Path) -> bool:
    """Questions only for a person at a terminal (never a script's pipe), and only for a new digest.toml."""
    from digest.config import CONFIG_NAME

    return sys.stdin.isatty() and sys.stdout.isatty() and not (folder / CONFIG_NAME).exists()


def _ask(question: str) -> str:
    return str(click.prompt(question, default="", show_default=False)).strip()
