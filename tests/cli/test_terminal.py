"""Every string the CLI shows is cleaned of terminal control sequences, in one place (digest.cli.terminal).

Article text comes from feeds and exports written by others; an escape
sequence in it (``ESC ] 0 ;`` sets the window title, OSC 8 writes a link whose
text hides its address, ``ESC [ 2 J`` clears the screen) must reach the
editor's terminal as visible text, never as a command to it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import click
import pytest

from digest.cli.terminal import CleanStream, cleaned_output, redraw

TITLE = "Protecting children from sexual abuse and exploitation: progress report"
HOSTILE = (
    "Protecting \x1b]0;pwned\x07children \x1b]8;;https://evil.example\x1b\\from abuse\x1b]8;;\x1b\\ \u202ereport\x9b2J"
)
SHOWN = "Protecting \\x1b]0;pwned\\x07children \\x1b]8;;https://evil.example\\x1b\\from abuse\\x1b]8;;\\x1b\\ \\u202ereport\\x9b2J"


@pytest.fixture
def hostile_article(project: Path, invoke: Any, engine: Any, sample_copy: Path) -> str:
    """An article whose stored title holds escape sequences; returns its id.

    Imports strip control characters now (digest.articles.content.strip_unwanted), so the
    title is written into the store directly, as one stored before that was, to
    show the terminal's own guard.
    """
    import sqlalchemy as sa

    from digest.store import db

    assert "Imported 5 new" in invoke("articles", "import", str(sample_copy)).output
    with db.write(engine) as conn:
        article_id = conn.execute(sa.select(db.articles.c.id).where(db.articles.c.title == TITLE)).scalar_one()
        conn.execute(db.articles.update().where(db.articles.c.id == article_id).values(title=HOSTILE))
    return str(article_id)


def test_articles_list_and_show_never_send_escapes_to_the_terminal(invoke: Any, hostile_article: str) -> None:
    for output in (invoke("articles", "list").output, invoke("articles", "show", hostile_article).output):
        assert not re.search("[\x1b\x07\x9b\u202e]", output)
        assert SHOWN in output


def test_error_messages_are_cleaned_too(invoke: Any, project: Path) -> None:
    result = invoke("articles", "import", "no-such-\x1b[2J-file.txt")
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "no-such-\\x1b[2J-file.txt: no such file" in result.output


def test_layout_stays_and_every_other_control_is_shown() -> None:
    target = io.StringIO()
    CleanStream(target).write("a\tb\nc\rd\r\ne\x00f\x7fg\u2066h")
    assert target.getvalue() == "a\tb\nc\\rd\\r\ne\\x00f\\x7fg\\u2066h"


def test_a_progress_line_is_redrawn_with_its_carriage_return_only() -> None:
    target = io.StringIO()
    with cleaned_output(stderr=target):
        redraw("  10/20 recipients\x1b[2J")
        click.echo("\rdone", err=True)
    assert target.getvalue() == "\r  10/20 recipients\\x1b[2J\\rdone\n"
