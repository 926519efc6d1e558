"""The `digest` command: a thin layer over the library.

Each command parses its options, calls one library function and prints the
result. Library errors (:class:`digest.errors.DigestError`) become
``Error: <message>`` and exit status 1. Heavy libraries are imported inside
the commands that need them so that `digest --help` starts fast. The commands
live in one module per kind of work; importing them registers them.

May import: every package, but never a table (`digest db` calls the store's
functions: upgrade, copy, the revision).
"""

from __future__ import annotations

from digest.cli import admin, corrections, database, doctor, editor, events, project, sending, studio
from digest.cli.base import cli
from digest.cli.examples import add_examples

COMMAND_MODULES = (project, editor, admin, sending, corrections, doctor, events, studio, database)
add_examples(cli)


def main() -> None:
    """The `digest` console script."""
    cli(prog_name="digest")


__all__ = ["COMMAND_MODULES", "cli", "main"]
