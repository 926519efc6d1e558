"""Every command's --help ends with examples that parse, and no help line is cut off with '...'."""

from __future__ import annotations

import shlex

import click
import pytest

from digest.cli import cli
from digest.cli.examples import EXAMPLES, commands

ALL = commands(cli)
GROUPS = {path: command for path, command in commands(cli, groups=True).items() if isinstance(command, click.Group)}


def test_every_command_has_examples_and_every_example_names_a_command() -> None:
    assert sorted(set(ALL) - set(EXAMPLES)) == []
    assert sorted(set(EXAMPLES) - set(ALL) - set(GROUPS)) == []


@pytest.mark.parametrize("path", sorted(ALL))
def test_the_help_shows_examples_that_parse(invoke, path: str) -> None:  # type: ignore[no-untyped-def]
    result = invoke(*path.split(), "--help")
    assert result.exit_code == 0
    assert "\n  Examples:\n    digest " in result.output
    for example in EXAMPLES[path]:
        words = shlex.split(example, comments=True)
        assert words[0] == "digest" and " ".join(words[1 : 1 + len(path.split())]) == path, example
        args = words[1 + len(path.split()) :]
        # Parsing checks the options exist, the required arguments are there and values convert.
        ALL[path].make_context(path, args)


@pytest.mark.parametrize("group", ["", "articles", "issue", "subscribers", "suppressions", "bounces", "events", "db"])
def test_no_command_list_is_cut_off(invoke, group: str) -> None:  # type: ignore[no-untyped-def]
    result = invoke(*group.split(), "--help")
    listing = result.output.split("Commands:\n", 1)[1]
    assert "..." not in listing, listing
    for line in listing.splitlines():
        assert len(line) <= 80, line


def test_every_group_and_digest_itself_has_examples() -> None:
    assert sorted(set(GROUPS) - set(EXAMPLES)) == []


@pytest.mark.parametrize("path", sorted(GROUPS))
def test_a_groups_help_ends_with_examples_of_its_own_commands(invoke, path: str) -> None:  # type: ignore[no-untyped-def]
    result = invoke(*path.split(), "--help")
    assert result.exit_code == 0
    assert result.output.rstrip().rsplit("\n\n", 1)[1].startswith("  Examples:\n    digest "), result.output
    for example in EXAMPLES[path]:
        words = shlex.split(example, comments=True)[1:]
        assert words[: len(path.split())] == path.split(), example
        # Walk down to the command the example runs, and parse its arguments there.
        command: click.Command = GROUPS[path]
        words = words[len(path.split()) :]
        while isinstance(command, click.Group):
            command = command.commands[words.pop(0)]
        command.make_context(command.name or "", words)


@pytest.mark.parametrize("path", sorted(ALL))
def test_examples_are_shown_once(invoke, path: str) -> None:  # type: ignore[no-untyped-def]
    assert invoke(*path.split(), "--help").output.count("Examples:") == 1


def test_a_bad_example_would_be_caught() -> None:
    with pytest.raises(click.UsageError):
        ALL["check"].make_context("check", ["2026-11-23", "--no-such-option"])
