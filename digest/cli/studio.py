"""`digest studio`: compose an issue in the browser."""

from __future__ import annotations

import click

from digest.cli.base import App, cli, pass_app


@cli.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (others need a password).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--open", "open_browser", is_flag=True, help="Open the studio in a web browser.")
@pass_app
def studio(app: App, issue_ref: str | None, host: str, port: int, open_browser: bool) -> None:
    """Compose an issue in the browser: choose, arrange, preview, check, save, approve, test."""
    from digest.issues.issue import issue_path
    from digest.studio.server import open_in_browser, start_studio

    issue_file = issue_path(app.settings, issue_ref) if issue_ref else None
    running = start_studio(app.settings, app.engine, host=host, port=port, issue_file=issue_file)
    click.echo(f"The studio is at {running.url}", err=True)
    click.echo("Keep that address to yourself: it is the key. Ctrl-C stops the studio.", err=True)
    if open_browser:
        open_in_browser(running.url)
    running.run()
