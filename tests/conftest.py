"""Shared fixtures: a throwaway project folder, its settings and database, the CLI."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import settings as hypothesis_settings

from digest.config import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# The core suite's own newsfeed export: five invented stories with every quirk of
# the real export format (see tests/data/README.md).
SAMPLE = DATA / "newsfeed-2025-04.txt"

# The corpus tier: material written by others, beside the checkout (../shared) or
# downloaded by .ci/run into a cache outside the repository.
SHARED = REPO.parent / "shared"
REAL_SAMPLE = SHARED / "samples" / "safe-newsfeed-2025-04.txt"
CORPUS_CACHE = Path(os.environ.get("DIGEST_CORPUS_DIR", "~/.cache/digest-corpus")).expanduser()
SECRET = "test-secret-key-that-is-long-enough-0123456789"

PROJECT_TOML = """\
[organisation]
name = "SAFE CIC"
tagline = "The Safeguarding Specialists"
address = "1 Test Street, Diss IP22 4AA"
phone = "01379 871091"
website = "https://safe.example.org"
privacy_url = "https://safe.example.org/privacy"

[email]
from_address = "newsfeed@safe.example.org"
from_name = "SAFE Newsfeed"
unsubscribe_mailto = "unsubscribe@safe.example.org"

[web]
base_url = "https://news.safe.example.org"

[sending]
# Approval has its own tests (tests/sending/test_approval_schedule.py); elsewhere it would only add steps.
require_approval = false
"""


def in_ci() -> bool:
    """CI must run every test: a missing tool fails there instead of skipping.

    DIGEST_CI=1 requires every tool and the corpus tier; DIGEST_CI=core (the run
    in a bare clone, as a new user has it) requires the tools but not the corpus.
    """
    return os.environ.get("DIGEST_CI") in ("1", "core")


def corpus_required() -> bool:
    return os.environ.get("DIGEST_CI") == "1"


# How to enable what a skipped test needed; the end-of-run summary prints these.
ENABLE = {
    "chromium": "apt-get install chromium (Debian's package; no browser download)",
    "axe-core": "npm ci (make test does it when npm is installed)",
    "spamassassin": "apt-get install spamassassin",
    "postgresql": "start a PostgreSQL server and set DIGEST_TEST_DATABASE_URL=postgresql://USER@HOST/DB",
    "dovecot": "apt-get install dovecot-imapd",
    "sisimai": "apt-get install libsisimai-perl",
    "corpus": "put shared/ beside the checkout and run .ci/run's corpus downloads (see .ci/run)",
}
SKIP_MARK = " | enable: "


def require_tool(available: bool, reason: str, *, tool: str = "") -> None:
    """Skip (or, in CI, fail) a test whose system tool is missing, saying how to enable it."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    enable = ENABLE.get(tool, "")
    pytest.skip(f"{reason}{SKIP_MARK}{enable}" if enable else reason)


def need_corpus(path: Path, what: str) -> Path:
    """A path of the corpus tier: skipped with one clear reason when absent, a failure in CI."""
    if path.exists():
        return path
    if corpus_required():
        pytest.fail(f"corpus tier: {what} is missing at {path}; CI must provide it (see .ci/run)")
    pytest.skip(f"corpus tier: {what} not found{SKIP_MARK}{ENABLE['corpus']}")


def corpus_files(folder: Path, pattern: str) -> list[Any]:
    """Parameters for a test over the files of a corpus folder.

    When the folder is missing or empty there is one placeholder parameter, so
    the test runs, and `need_corpus` turns it into a skip or (in CI) a failure:
    an empty parametrisation would otherwise pass unnoticed.
    """
    files = sorted(folder.glob(pattern)) if folder.is_dir() else []
    if not files:
        return [pytest.param(None, id="corpus-missing")]
    return [pytest.param(path, id=path.name) for path in files]


def corpus_file(path: Path | None, folder: Path, what: str) -> Path:
    """The file a `corpus_files` parameter names, or the skip/failure for a missing corpus."""
    if path is None:
        need_corpus(folder / "(no files)", what)
        raise AssertionError("unreachable")
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """End every run by saying what it did not prove, and what would enable it."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        terminalreporter.write_line("Nothing was skipped: every test ran.", green=True)
        return
    reasons: Counter[str] = Counter()
    for report in skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    terminalreporter.section("what this run did not prove", sep="-", yellow=True)
    for reason, count in reasons.most_common():
        what, _, enable = reason.partition(SKIP_MARK)
        terminalreporter.write_line(f"{count:4d} skipped: {what}")
        if enable:
            terminalreporter.write_line(f"      to run them: {enable}")


# Hypothesis: derandomised (a fixed seed, no example database) for `make test` and CI,
# so a run is reproducible; `make fuzz` sets HYPOTHESIS_PROFILE=fuzz for long random runs.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("fuzz", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def examples(count: int) -> int:
    """A test's number of generated examples: as written for `make test`, 20 times more for `make fuzz`."""
    return count * 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else count


@pytest.fixture(scope="session")
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("digest-cache")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, _cache_dir: Path) -> None:
    for key in list(os.environ):
        if key.startswith(("DIGEST_", "SENDGRID_", "SMTP_", "IMAP_")) and key not in (
            "DIGEST_CI",
            "DIGEST_TEST_DATABASE_URL",
            "DIGEST_CORPUS_DIR",
        ):
            monkeypatch.delenv(key, raising=False)
    # digest.issues.cache keeps inlined HTML and compiled templates: the suite's own, not the user's.
    monkeypatch.setenv("DIGEST_CACHE_DIR", str(_cache_dir))
    from digest.issues.cache import cache_dir

    cache_dir.cache_clear()


@pytest.fixture(autouse=True)
def _eml_lines_within_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every .eml digest writes in a test's folder (its outbox, its previews) keeps RFC 2045's 76-character
    lines: checked after the test, so no test has to remember to."""
    folder = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if folder is not None:
        from tests.mimelines import folder_problems

        problems = folder_problems(folder)
        assert not problems, "\n".join(problems)


# The whole suite runs once on SQLite and once on PostgreSQL: every test that
# uses a project gets both. DIGEST_TEST_DATABASE_URL names a PostgreSQL
# database the tests may create schemas in (.ci/run starts one).
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite; for PostgreSQL a URL whose search_path is a fresh schema."""
    if request.param == "sqlite":
        yield None
        return
    base = os.environ.get("DIGEST_TEST_DATABASE_URL", "")
    require_tool(bool(base), "no PostgreSQL server for the PostgreSQL half", tool="postgresql")
    import uuid

    import sqlalchemy as sa

    from digest.store.db import create_db_engine

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_db_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str | None) -> Path:
    """A project folder with digest.toml and .env, as the current directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "digest.toml").write_text(PROJECT_TOML, encoding="utf-8")
    env = f"DIGEST_SECRET_KEY={SECRET}\n"
    if backend:
        env += f"DIGEST_DATABASE_URL={backend}\n"
    (folder / ".env").write_text(env, encoding="utf-8")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def settings(project: Path) -> Settings:
    return load_settings(project / "digest.toml")


@pytest.fixture
def engine(settings: Settings) -> Iterator[object]:
    from digest.people.keyguard import check_database_key
    from digest.store.db import open_database

    engine = open_database(settings.database_url)
    check_database_key(engine, settings)  # as any command does first: the database remembers the project's key
    yield engine
    engine.dispose()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner: CliRunner, project: Path):  # type: ignore[no-untyped-def]
    """Run `digest ARGS…` in the project; returns click's Result."""
    from digest.cli import cli

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture
def sample_copy(project: Path) -> Path:
    """The suite's own newsfeed export, copied into the project."""
    target = project / "sample.txt"
    shutil.copy(SAMPLE, target)
    return target


@pytest.fixture
def imported(engine, settings, sample_copy):  # type: ignore[no-untyped-def]
    """The store after importing the suite's own newsfeed export."""
    from digest.articles.store import import_articles

    report = import_articles(engine, settings, [str(sample_copy)])
    assert report.new == 5
    return report


@pytest.fixture
def sample_issue(engine, settings, imported):  # type: ignore[no-untyped-def]
    """issues/2025-04-10/issue.yaml drafted from the sample."""
    from datetime import date

    from digest.issues.drafting import new_issue

    path, _ = new_issue(engine, settings, issue_date=date(2025, 4, 10))
    return path


@pytest.fixture
def demo_issue(engine, settings, project):  # type: ignore[no-untyped-def]
    """The demo's issue of 23 November 2026 (examples/articles) and the segments `digest init` writes."""
    from datetime import date

    from digest.articles.store import import_articles
    from digest.issues.drafting import new_issue

    (project / "subscribers").mkdir(exist_ok=True)
    shutil.copy(REPO / "digest" / "defaults" / "segments.yaml", project / "subscribers" / "segments.yaml")
    report = import_articles(engine, settings, sorted(str(p) for p in (REPO / "examples" / "articles").iterdir()))
    assert report.new == 8
    path, _ = new_issue(engine, settings, issue_date=date(2026, 11, 23))
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="Rewrite golden files from current output.")


SEGMENTS_YAML = """\
segments:
  - name: schools
    description: Schools
    match: {sector: education}
    topics: [online-safety, water-safety, social-care, education]
  - name: health
    description: Health
    match: {sector: health}
    topics: [health, courts-justice, child-sexual-abuse]
  - name: everyone
    description: Everyone
"""


@pytest.fixture
def audience(project, engine, settings, sample_issue):  # type: ignore[no-untyped-def]
    """Segments and a dozen subscribers (schools, health, others) for the sample issue."""
    from digest.people.subscribers import add_subscriber

    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    sectors = ["education", "education", "health", "sport"]
    for number in range(12):
        add_subscriber(
            engine,
            settings,
            f"person{number}@example.org",
            {"first_name": f"Person{number}", "sector": sectors[number % 4]},
            consent_source="test",
        )
    return [f"person{number}@example.org" for number in range(12)]


def suppression_log(engine: Any, settings: Settings, address: str) -> list[tuple[str, str, str]]:
    """What happened to an address's suppression, in order: (action, reason, detail)."""
    import sqlalchemy as sa

    from digest.people.subscribers import email_hash
    from digest.store import db

    hashed = email_hash(settings, address)
    log = db.suppression_log
    with engine.connect() as conn:
        found = conn.execute(sa.select(log).where(log.c.email_hash == hashed).order_by(log.c.id))
        return [(row.action, row.reason, row.detail) for row in found]


@pytest.fixture
def keypair():  # type: ignore[no-untyped-def]
    """A webhook signing key: the private key (the test signs as SendGrid) and the public key as SendGrid shows it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public).decode()


@pytest.fixture
def fake_sendgrid(project):  # type: ignore[no-untyped-def]
    """A fake SendGrid server; the project's settings point at it."""
    from tests.fakes import sendgrid as fake_module

    fake = fake_module.FakeSendGrid()
    server = fake_module.start(fake)
    with (project / ".env").open("a", encoding="utf-8") as env:
        env.write(f"SENDGRID_API_KEY={fake_module.API_KEY}\nSENDGRID_API_HOST={fake.url}\n")
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + "\n[sendgrid]\ntimeout = 1.0\nretry_base_delay = 0.01\n", encoding="utf-8"
    )
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def sg_settings(fake_sendgrid, project):  # type: ignore[no-untyped-def]
    return load_settings(project / "digest.toml")


@pytest.fixture
def smtp_server(project):  # type: ignore[no-untyped-def]
    """An aiosmtpd server; the project's settings send to it."""
    from tests.fakes import smtp as fake_smtp

    handler = fake_smtp.RecordingHandler()
    controller = fake_smtp.start(handler)
    port = controller.port
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 5.0\n',
        encoding="utf-8",
    )
    yield handler
    controller.stop()


def record_send(conn: Any, issue_id: str, *, state: str = "done", provider: str = "sendgrid") -> int:
    """A send of ``issue_id`` written straight to the table (for tests that need several issues' sends)."""
    from digest.store import db

    found = conn.execute(
        db.sends.insert()
        .values(issue_id=issue_id, state=state, provider=provider, segments=["everyone"], created_at=db.utcnow())
        .returning(db.sends.c.id)
    )
    return int(found.scalar_one())


def first_variant(engine: Any, send_id: int) -> str:
    """The variant key of a planned send's first delivery (the sample issue to everyone has one)."""
    import sqlalchemy as sa

    from digest.store import db

    with engine.connect() as conn:
        query = sa.select(db.deliveries.c.variant).where(db.deliveries.c.send_id == send_id).limit(1)
        return str(conn.execute(query).scalar_one())


def awkward_text(max_size: int) -> Any:
    """Hypothesis text from every kind of character a cell or a line can hold, weighted towards the awkward ones."""
    from hypothesis import strategies as st

    awkward = " \t\n\r\x0b\x0c\x1b\x00\x85\u00a0\u2028\u2029\u200b\u202e\u2066\ufeff\u3000é’"
    return st.text(alphabet=st.one_of(st.characters(), st.sampled_from(awkward)), max_size=max_size)


AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    """One headless Chromium per test module; each test gets its own context from the fixtures below."""
    from digest.issues import browser

    require_tool(
        browser.available(), "no Chromium (and the playwright package) for the browser checks", tool="chromium"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=browser.chromium_path(), headless=True, args=browser.CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def chromium(chromium_browser: Any) -> Iterator[Any]:
    """A fresh browser context under the pages' own Content-Security-Policy, closed after the test.

    Tests leave their pages to this close and never call ``page.close()``:
    Chromium can acknowledge a page's close that races a navigation's commit
    (a form's POST and its redirect, say) and then not close it, and
    Playwright's ``page.close()`` waits for ever. Seen here: the studio's login
    test hung 600 s in CI, and a loop of submit-then-close hung within nine
    rounds in each of five runs. Closing the context takes another path in the
    browser, which did not hang in 300 rounds of the same loop.
    """
    context = chromium_browser.new_context()
    yield context
    context.close()


@pytest.fixture
def chromium_for_axe(chromium_browser: Any) -> Iterator[Any]:
    """As ``chromium``, but the pages' Content-Security-Policy is off so axe-core can be injected."""
    require_tool(AXE.is_file(), "no axe-core for the accessibility checks", tool="axe-core")
    context = chromium_browser.new_context(bypass_csp=True)
    yield context
    context.close()


def axe(page: Any) -> list[dict[str, Any]]:
    """The serious and critical accessibility violations axe-core finds on ``page``."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """Axe's violations, short enough to read in a failed assertion."""
    return json.dumps(
        [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:160] for n in v["nodes"][:3]]}
            for v in violations
        ],
        indent=1,
    )
