"""The user's manual runs: every command of README.md and the docs/ pages it links, in
reading order, in a copy of this checkout, as a new user types them.

Each page starts afresh in its own copy of the checkout (git's files, a fresh
`.env`, `.venv` linked to the environment running the tests), which is the
project, as the README says this folder is: a page shows whatever it needs
before it, as a reader coming to it from the README would need it. Each command runs in bash from its root with the virtualenv on the PATH;
it must exit 0, answering "y" where it asks. Servers start, answer on their
address and stop on Ctrl-C. Commands marked `# needs …` are parsed only (see
tests/docpages.py for the marks). Every example file is loaded by the code
that reads such files.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from digest.cli import cli
from tests import docpages
from tests.checkout import source_copy
from tests.conftest import REPO, SECRET

pytestmark = pytest.mark.slow

COMMANDS = docpages.all_commands()
ANSWERS = "y\n" * 10
COMMAND_TIMEOUT = 180
SERVER_PORTS = {"serve": 8000, "studio": 8001}  # the commands' default ports


@dataclass
class Ran:
    returncode: int
    output: str


def _environment(home: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DIGEST_", "SENDGRID_", "SMTP_", "IMAP_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        PATH=f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        HOME=str(home),
        # `--open` hands the page to $BROWSER: here a command that accepts it and does nothing.
        BROWSER="true",
        LC_ALL="C.UTF-8",
    )
    for kept in ("DIGEST_CACHE_DIR", "DIGEST_CHROMIUM"):
        if kept in os.environ:
            env[kept] = os.environ[kept]
    return env


def _port_of(command: docpages.Command) -> tuple[str, int]:
    words = shlex.split(command.text)
    host, port = "127.0.0.1", SERVER_PORTS[words[1]]
    for flag, value in itertools.pairwise(words):
        if flag == "--port":
            port = int(value)
        if flag == "--host" and value not in ("0.0.0.0", "::"):  # noqa: S104 - a server that listens everywhere answers here too
            host = value
    return host, port


def _answers(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _run_server(command: docpages.Command, cwd: Path, env: dict[str, str]) -> Ran:
    host, port = _port_of(command)
    if _answers(host, port):
        return Ran(-1, f"{host}:{port} is already taken by another program; cannot try {command.text!r}")
    process = subprocess.Popen(
        ["bash", "-c", command.text],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline and process.poll() is None:
        if _answers(host, port):
            answered = True
            break
        time.sleep(0.2)
    # Ctrl-C reaches the whole foreground job, as in a terminal.
    os.killpg(process.pid, signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return Ran(-1, output + "\n(did not stop on Ctrl-C)")
    if not answered:
        return Ran(process.returncode or -1, output + f"\n(never answered on {host}:{port})")
    # Stopped by the user, as intended: 0, or 130 for a program that reports the interrupt.
    return Ran(0 if process.returncode in (0, 130, -signal.SIGINT) else process.returncode, output)


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[docpages.Command, Ran]]:
    """Every command of the manual, run once: each page in order, in a fresh copy of the checkout."""
    env = _environment(tmp_path_factory.mktemp("home"))
    results: dict[docpages.Command, Ran] = {}
    for page in docpages.pages():
        project = source_copy(tmp_path_factory.mktemp("manual") / "digest")
        (project / ".env").write_text(f"DIGEST_SECRET_KEY={SECRET}\n", encoding="utf-8")
        (project / ".venv").symlink_to(Path(sys.prefix))
        for command in COMMANDS:
            if command.page != page or command.needs is not None:
                continue
            results[command] = _run_server(command, project, env) if command.server else _run(command, project, env)
    yield results


def _run(command: docpages.Command, cwd: Path, env: dict[str, str]) -> Ran:
    """Run one command to its end, answering "y" to any question; a hang is stopped and reported."""
    process = subprocess.Popen(
        ["bash", "-c", command.text],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(ANSWERS, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return Ran(-1, f"{output}\n(still running after {COMMAND_TIMEOUT} s: a server must say '# runs until Ctrl-C')")
    return Ran(process.returncode, output)


def test_the_manual_has_commands_to_run() -> None:
    assert len([c for c in COMMANDS if c.needs is None]) >= 40


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.needs is None], ids=str)
def test_the_command_works_where_the_manual_shows_it(manual: dict[docpages.Command, Ran], command) -> None:  # type: ignore[no-untyped-def]
    ran = manual[command]
    assert ran.returncode == 0, f"{command}\nexit {ran.returncode}\n{ran.output}"
    assert "Traceback" not in ran.output, f"{command}\n{ran.output}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.needs is not None], ids=str)
def test_a_command_not_run_says_what_it_needs_and_still_parses(command) -> None:  # type: ignore[no-untyped-def]
    assert command.needs, f"{command}: say what it needs after '# needs'"
    words = shlex.split(command.text)
    if words[0] != "digest":
        return
    args = words[1:]
    group: click.Command = cli
    while isinstance(group, click.Group):
        assert args and args[0] in group.commands, f"unknown command: {command}"
        group, args = group.commands[args[0]], args[1:]
    group.make_context(group.name or "", list(args))


def test_the_readme_opens_with_the_two_commands_ci_runs_verbatim() -> None:
    assert docpages.first_block_commands() == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme_first_commands" in ci


def test_every_docs_page_with_commands_is_reached_from_the_readme() -> None:
    with_commands = {
        f"docs/{path.name}" for path in (REPO / "docs").glob("*.md") if docpages.shell_blocks(f"docs/{path.name}")
    }
    assert with_commands <= set(docpages.pages())


# --- example files -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This folder's settings and segments, with the example articles imported (the ids the pages name)."""
    import shutil

    from digest.articles.store import import_articles
    from digest.config import load_settings
    from digest.store.db import open_database

    project = tmp_path_factory.mktemp("examples")
    shutil.copy(REPO / "digest.toml", project / "digest.toml")
    shutil.copytree(REPO / "subscribers", project / "subscribers")
    settings = load_settings(project / "digest.toml", env={"DIGEST_SECRET_KEY": SECRET})
    engine = open_database(settings.database_url)
    import_articles(engine, settings, [str(path) for path in sorted((REPO / "examples" / "articles").iterdir())])
    engine.dispose()
    return project


def _load_example(example: docpages.Example, project: Path) -> None:
    """Load an example the way digest reads the file it belongs in; raise on any problem."""
    from digest.config import load_settings
    from digest.store.db import open_database

    if example.lang == "markdown":
        from digest.articles.sources.markdown import parse_markdown

        result = parse_markdown(example.text, origin=f"{example.page}:{example.line}")
        assert result.articles, "no article in the example"
        return
    name = example.file
    config = project / "digest.toml"
    if name == "digest.toml":
        # Examples of settings are parts of the file: they must load added to the project's own.
        config = project / "digest-with-example.toml"
        base = (project / "digest.toml").read_text(encoding="utf-8")
        config.write_text(_merge_toml(base, example.text), encoding="utf-8")
        load_settings(config, env={"DIGEST_SECRET_KEY": SECRET})
        return
    settings = load_settings(config, env={"DIGEST_SECRET_KEY": SECRET})
    if name.endswith("segments.yaml"):
        from dataclasses import replace

        from digest.people.segments import load_segments

        example_file = project / "segments-example.yaml"
        example_file.write_text(example.text, encoding="utf-8")
        assert load_segments(replace(settings, segments_file=example_file))
        return
    if re.fullmatch(r"issues/[\w-]+/issue\.yaml", name):
        from digest.issues.issue import parse_issue_text

        engine = open_database(settings.database_url)
        try:
            parse_issue_text(settings, example.text, project / name, engine)
        finally:
            engine.dispose()
        return
    raise AssertionError(f"{example.page}:{example.line}: no reader for {name or 'an unnamed example'}")


def _merge_toml(base: str, part: str) -> str:
    """The project's digest.toml with ``part``'s tables replacing tables of the same name."""
    tables = re.findall(r"(?m)^\[([\w.-]+)\]", part)
    kept = []
    skipping = False
    for line in base.splitlines():
        heading = re.match(r"^\[([\w.-]+)\]", line)
        if heading:
            skipping = heading.group(1) in tables
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n\n" + part


@pytest.mark.parametrize("example", docpages.examples(), ids=lambda e: f"{e.page}:{e.line}")
def test_every_example_file_loads(example: docpages.Example, example_project: Path) -> None:
    assert example.lang == "markdown" or example.file, (
        f"{example.page}:{example.line}: start the example with a comment naming its file, e.g. '# digest.toml'"
    )
    _load_example(example, example_project)
