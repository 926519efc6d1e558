"""The `digest` group and what every command shares: settings and database on first use, errors."""

from __future__ import annotations

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
    """A group whose commands report library errors as `Error: …`, exit 1, and write through a cleaned terminal."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from digest.cli.terminal import cleaned_output

        with cleaned_output():  # every string shown, messages and errors included (digest.cli.terminal)
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            raise click.ClickException(str(exc)) from None

    def group(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", DigestGroup)
        return super().group(*args, **kwargs)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list with each first sentence whole, wrapped rather than cut off with '...'."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


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
            from digest.project import open_engine

            self._engine = open_engine(self.settings, on_notice=lambda line: click.echo(line, err=True))
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


# color=True: click would strip escape sequences from output that is not a terminal before anything else saw
# them; digest.cli.terminal shows them as visible escapes instead, alike in a terminal, a pipe and a file.
@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"], "color": True})
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
