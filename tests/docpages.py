"""The user's manual as the tests read it: README.md and the docs/ pages it links, their
shell commands in order, and their example files.

The pages are run, not only parsed (tests/test_docs_run.py). A command line
says so in its own comment when it cannot run on a machine with nothing but
this checkout:

- ``# needs …`` names what it needs from outside (an account, a server, a
  mailbox, a path of your own); it is parsed but not run;
- ``# runs until Ctrl-C`` marks a server: it is started, must answer on its
  address, and is then stopped with Ctrl-C (SIGINT), as a reader would.

The README's first block (``make demo``, ``make test``) is run verbatim by
.ci/run in a bare clone, not here: it is what runs these tests.

Example files are fenced with their language (yaml, toml, markdown) and start
with a comment naming the file they belong in (``# subscribers/segments.yaml``);
each is loaded by the code that reads that file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

NEEDS = re.compile(r"#\s*needs\b\s*(?P<what>.*)$")
SERVER = re.compile(r"#\s*runs until Ctrl-C\b")
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
_LINK = re.compile(r"\]\((?P<target>docs/[\w.-]+\.md)(?:#[\w-]*)?\)")


@dataclass(frozen=True)
class Command:
    """One command line of a page's shell block (continuation lines joined)."""

    page: str
    line: int
    text: str  # the command as a reader would type it, without the comment
    comment: str

    @property
    def needs(self) -> str | None:
        """What it needs from outside, when it says so in its comment."""
        match = NEEDS.search(self.comment)
        return match.group("what").strip() if match else None

    @property
    def server(self) -> bool:
        return bool(SERVER.search(self.comment))

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Example:
    """A fenced example file: its language, the file it belongs in, its text."""

    page: str
    line: int
    lang: str
    file: str
    text: str


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    body: str


def pages() -> list[str]:
    """README.md, then each docs/ page in the order README.md first links it."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = dict.fromkeys(match.group("target") for match in _LINK.finditer(readme))
    return ["README.md", *[page for page in linked if (REPO / page).is_file()]]


def blocks(page: str) -> list[Block]:
    text = (REPO / page).read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, match.start()) + 1, match.group("lang"), match.group("body"))
        for match in _FENCE.finditer(text)
    ]


def shell_blocks(page: str) -> list[Block]:
    return [block for block in blocks(page) if block.lang in ("sh", "bash")]


def commands(block: Block) -> list[Command]:
    """The block's command lines: comments split off, blank and comment-only lines left out."""
    found: list[Command] = []
    pending: list[str] = []
    start = 0
    for offset, raw in enumerate(block.body.splitlines()):
        if not pending:
            start = block.line + 1 + offset
        code, comment = _split_comment(raw)
        if code.endswith("\\"):
            pending.append(code[:-1].strip())
            continue
        code = " ".join([*pending, code.strip()]).strip()
        pending = []
        if code:
            found.append(Command(block.page, start, code, comment))
    return found


def _split_comment(line: str) -> tuple[str, str]:
    """A shell line's code and its trailing comment ('#' outside quotes, after a space)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index:]
    return line.rstrip(), ""


def all_commands() -> list[Command]:
    """Every command of every page, in reading order, the README's first block left out."""
    found: list[Command] = []
    for page in pages():
        page_blocks = shell_blocks(page)
        if page == "README.md":
            page_blocks = page_blocks[1:]
        for block in page_blocks:
            found.extend(commands(block))
    return found


def first_block_commands() -> list[str]:
    return [command.text for command in commands(shell_blocks("README.md")[0])]


def examples() -> list[Example]:
    """Every yaml, toml and markdown example of every page, with the file it names."""
    found = []
    for page in pages():
        for block in blocks(page):
            if block.lang not in ("yaml", "toml", "markdown"):
                continue
            first = block.body.splitlines()[0] if block.body else ""
            named = re.match(r"#\s*(?P<file>\S+)", first) or re.match(r"<!--\s*(?P<file>\S+)\s*-->", first)
            found.append(Example(page, block.line, block.lang, named.group("file") if named else "", block.body))
    return found


def page_path(page: str) -> Path:
    return REPO / page
