"""The studio's routes through Flask's test client: the gate, every button, and never a crash.

The page is driven as a browser without JavaScript drives it: the form is read
from the HTML, changed as an editor would change it and posted with the
button's action (tests/studio_support.py reads the form).
"""

from __future__ import annotations

import dataclasses
import email.policy
import hashlib
import html
import http.client
import io
import os
import re
import subprocess
import sys
import time
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from digest.articles.store import get_article
from digest.config import SourceSettings, load_settings
from digest.errors import ConfigError
from digest.issues.approval import require_approval
from digest.netpolicy import AllowList
from digest.store import db
from digest.studio.app import create_app
from digest.studio.auth import Gate, is_loopback, require_password
from digest.studio.lockout import LoginThrottle
from tests import httpserve
from tests.conftest import DATA, SEGMENTS_YAML
from tests.studio_support import (
    COLD_WATER,
    DSL_DATES,
    ISSUE_ID,
    JAILED,
    LATE,
    NURSES,
    RECRUITMENT,
    REVIEW,
    SEXTORTION,
    YOUNG_CARERS,
    add_late_article,
    draft_week,
    order_of,
    read_form,
    replace_field,
)

PAGE = f"/issue/{ISSUE_ID}"


@pytest.fixture
def week(project: Path, engine: Any, settings: Any) -> Path:
    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    return draft_week(engine, settings)


class Studio:
    """A logged-in test client on the studio of the example week."""

    def __init__(self, app: Any, gate: Gate, path: Path) -> None:
        self.app = app
        self.gate = gate
        self.path = path
        self.client = app.test_client()
        answer = self.client.get(f"/?token={gate.token}")
        assert answer.status_code == 303

    def page(self, url: str = PAGE) -> str:
        answer = self.client.get(url)
        assert answer.status_code == 200, answer.text[:400]
        return answer.text

    def press(self, html: str, action: str, changes: dict[str, str | None] | None = None, **extra: Any) -> Any:
        """Submit the page's form with one button, after changing some fields."""
        fields = read_form(html).fields
        for name, value in (changes or {}).items():
            fields = replace_field(fields, name, value)
        data = MultiDict([*fields, ("action", action)])
        for name, value in extra.items():
            data.add(name, value)
        return self.client.post(PAGE, data=data, content_type="multipart/form-data")

    def act(self, html: str, action: str, changes: dict[str, str | None] | None = None, **extra: Any) -> str:
        answer = self.press(html, action, changes, **extra)
        assert answer.status_code == 200, answer.text[:400]
        assert "Traceback" not in answer.text
        return answer.text


@pytest.fixture
def studio(settings: Any, engine: Any, week: Path) -> Studio:
    app = create_app(settings, engine, Gate())
    app.testing = True  # an exception would reach the test instead of becoming a 500 page
    return Studio(app, app.extensions["digest_studio"].gate, week)


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text_of(found: re.Match[str] | None) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())) if found else ""


def status(page: str) -> str:
    """What the page says happened (said again for screen readers at the top)."""
    return _text_of(re.search(r'<div id="status" class="visually-hidden" role="status">(.*?)</div>', page, re.S))


def problems(page: str) -> str:
    return _text_of(re.search(r'<div id="problems" role="alert">(.*?)</div>\s*\n\s*<form', page, re.S))


def outcome(page: str) -> str:
    """The result shown beside the control that caused it."""
    return _text_of(re.search(r'<div class="outcome [a-z]+" id="outcome">(.*?)</div>', page, re.S))


def stories(html: str) -> list[str]:
    return [entry.split(":", 1)[1] for entry in order_of(html) if entry.startswith("story:")]


# --- the gate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", PAGE, "/static/studio.js", "/static/drafts.js", "/login", "/nowhere", "/favicon.ico"]
)
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
def test_without_the_token_every_request_is_refused(settings, engine, week, path, method) -> None:  # type: ignore[no-untyped-def]
    gate = Gate()
    client = create_app(settings, engine, gate).test_client()
    before = file_hash(week)
    for query in ("", "?token=wrong", f"?token={gate.token[:-1]}"):
        answer = client.open(path + query, method=method)
        assert answer.status_code == 403
        assert gate.token not in answer.text
    client.set_cookie(gate.cookie_name, "made.up.cookie")
    assert client.open(path, method=method).status_code == 403
    assert file_hash(week) == before


def test_the_token_opens_a_session_and_leaves_the_address(settings, engine, week) -> None:  # type: ignore[no-untyped-def]
    gate = Gate()
    client = create_app(settings, engine, gate).test_client()
    answer = client.get(f"{PAGE}?token={gate.token}&segment=health")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{PAGE}?segment=health"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(gate.cookie_name + "=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get(PAGE)
    assert page.status_code == 200 and "Issue of 23 November 2026" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert gate.token not in page.text


def test_a_session_from_another_run_is_refused(settings, engine, week) -> None:  # type: ignore[no-untyped-def]
    first, second = Gate(), Gate()
    _, cookie = first.open_session()
    client = create_app(settings, engine, second).test_client()
    client.set_cookie(second.cookie_name, cookie)
    assert client.get(PAGE).status_code == 403


def test_a_session_signed_with_the_projects_key_outlives_a_restart_and_not_a_day(
    settings, engine, week, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from digest.studio import auth
    from digest.studio.server import session_secret

    secret = session_secret(settings)
    assert secret == settings.secret_key.reveal().encode()
    first, second = Gate(secret=secret), Gate(secret=secret)
    assert first.cookie_name == second.cookie_name and first.token != second.token
    session, cookie = first.open_session()
    assert second.read_session(cookie) == session
    assert second.csrf_token(session) == first.csrf_token(session)  # the open page's form still posts
    client = create_app(settings, engine, second).test_client()
    client.set_cookie(second.cookie_name, cookie)
    assert client.get(PAGE).status_code == 200
    # Another key, or a new password, ends it; so does a day.
    assert Gate(secret=b"another key that is long enough to be used here").read_session(cookie) is None
    with_password = Gate(secret=secret, password="correct horse battery")
    _, logged_in = with_password.open_session(auth.PASSWORD)
    assert Gate(secret=secret, password="correct horse battery").read_session(logged_in) is not None
    assert Gate(secret=secret, password="a new password, long enough").read_session(logged_in) is None
    now = time.time()
    monkeypatch.setattr(auth.time, "time", lambda: now + auth.SESSION_HOURS * 3600 + 1)
    assert second.read_session(cookie) is None


def test_a_post_needs_the_csrf_token_and_the_same_origin(studio: Studio) -> None:
    html = studio.page()
    before = file_hash(studio.path)
    changes = {"subject": "Changed by a forged request"}
    for csrf in (None, "", "0" * 64):
        answer = studio.press(html, "save", {**changes, "csrf": csrf})
        assert answer.status_code == 403
        assert "expired" in answer.text
    answer = studio.client.post(
        PAGE,
        data=MultiDict([*replace_field(read_form(html).fields, "subject", "x"), ("action", "save")]),
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert file_hash(studio.path) == before
    assert "Changed by a forged request" not in studio.path.read_text(encoding="utf-8")


def test_the_pages_scripts_are_served_and_nothing_else_from_static(studio: Studio) -> None:
    for name in ("studio.js", "drafts.js"):
        answer = studio.client.get(f"/static/{name}")
        assert answer.status_code == 200 and answer.mimetype == "text/javascript"
        assert f'<script src="/static/{name}" defer></script>' in studio.page()
    for name in ("app.py", "..%2Fapp.py", "other.js"):
        assert studio.client.get(f"/static/{name}").status_code == 404


def test_reading_never_changes_anything(studio: Studio, engine) -> None:  # type: ignore[no-untyped-def]
    before = file_hash(studio.path)
    for url in ("/", PAGE, f"{PAGE}?action=save&subject=x", "/static/studio.js", "/login", "/import", "/new"):
        for method in ("GET", "HEAD", "OPTIONS"):
            answer = studio.client.open(url, method=method)
            assert answer.status_code in (200, 303, 405), (url, method, answer.status_code)
    assert file_hash(studio.path) == before
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.approvals)).scalar() == 0
    assert not list(studio.path.parent.glob(".issue.yaml.*"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_password(host: str) -> None:
    assert is_loopback(host)
    assert require_password(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "studio.example.org"])  # noqa: S104
def test_any_other_address_needs_a_long_enough_password(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="DIGEST_STUDIO_PASSWORD"):
        require_password(host, None)
    with pytest.raises(ConfigError, match="at least 12"):
        require_password(host, "short")
    assert require_password(host, "a long enough password") == "a long enough password"


def test_the_cli_refuses_to_listen_beyond_loopback_without_a_password(invoke, week) -> None:  # type: ignore[no-untyped-def]
    result = invoke("studio", "--host", "0.0.0.0", "--port", "0")  # noqa: S104
    assert result.exit_code == 1
    assert result.output.startswith("Error: `digest studio --host 0.0.0.0` can be reached from other machines")


def test_with_a_password_the_pages_wait_for_it(settings, engine, week) -> None:  # type: ignore[no-untyped-def]
    gate = Gate(password="correct horse battery")
    app = create_app(settings, engine, gate)
    client = app.test_client()
    assert client.get(f"{PAGE}?token={gate.token}").status_code == 303
    assert client.get(PAGE).headers["Location"] == "/login"
    login = client.get("/login")
    assert login.status_code == 200 and 'type="password"' in login.text
    csrf = read_form(login.text.replace("<form", '<form id="studio"', 1)).fields[0][1]
    assert client.post(PAGE, data={"csrf": csrf, "action": "save"}).status_code == 401
    for _ in range(5):
        assert client.post("/login", data={"csrf": csrf, "password": "wrong"}).status_code == 401
    # Too many tries: even the right password waits.
    assert client.post("/login", data={"csrf": csrf, "password": "correct horse battery"}).status_code == 429
    gate.throttle = LoginThrottle()  # five minutes later
    answer = client.post("/login", data={"csrf": csrf, "password": "correct horse battery"})
    assert answer.status_code == 303
    assert client.get(PAGE).status_code == 200


def test_digest_studio_serves_on_the_address_it_prints(project, week, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_", "SMTP_"))}
    # --open goes through Python's webbrowser, which runs $BROWSER: here, a script that notes the address.
    noted = tmp_path / "opened.txt"
    recorder = tmp_path / "browser.py"
    recorder.write_text(f"import sys\nopen({str(noted)!r}, 'w').write(sys.argv[1])\n", encoding="utf-8")
    env["BROWSER"] = f"{sys.executable} {recorder} %s"
    command = [sys.executable, "-m", "digest", "studio", ISSUE_ID, "--port", "0", "--open"]
    process = subprocess.Popen(command, cwd=project, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/issue/2026-11-23)\?token=(\S+)", line)
        assert found, line
        address = urlsplit(found.group(1))
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        connection.request("GET", address.path)
        refused = connection.getresponse()
        refused.read()
        assert refused.status == 403
        connection.request("GET", f"{address.path}?token={found.group(2)}")
        opened = connection.getresponse()
        opened.read()
        assert opened.status == 303
        cookie = opened.getheader("Set-Cookie", "").split(";")[0]
        connection.request("GET", address.path, headers={"Cookie": cookie})
        page = connection.getresponse()
        assert page.status == 200
        assert "Issue of 23 November 2026" in page.read().decode()
        connection.close()
        for _ in range(100):
            if noted.exists() and noted.read_text(encoding="utf-8"):
                break
            time.sleep(0.05)
        assert noted.read_text(encoding="utf-8") == f"{found.group(1)}?token={found.group(2)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- pages ------------------------------------------------------------------------------------


def test_the_first_page_lists_issues_and_drafts_a_new_one(studio: Studio, project: Path) -> None:
    index = studio.page("/")
    assert f'href="/issue/{ISSUE_ID}"' in index and "SAFE Newsfeed" in index
    csrf = read_form(index.replace('action="/new"', 'id="studio" action="/new"')).fields[0][1]
    answer = studio.client.post("/new", data={"csrf": csrf, "date": "2026-11-22"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/issue/2026-11-22"
    assert (project / "issues" / "2026-11-22" / "issue.yaml").is_file()
    again = studio.client.post("/new", data={"csrf": csrf, "date": "2026-11-22"})
    assert again.status_code == 200 and "already exists" in again.text
    empty = studio.client.post("/new", data={"csrf": csrf, "date": "2030-01-01"})
    assert "no articles published from 2029-12-25" in empty.text
    bad = studio.client.post("/new", data={"csrf": csrf, "date": "next week"})
    assert "'next week' is not a date" in html.unescape(bad.text)
    imported = studio.client.post(
        "/import", data={"csrf": csrf, "import_file": (io.BytesIO(NEWSFEED_EXPORT.encode()), "export.txt")}
    )
    assert imported.status_code == 200 and "Imported 1 new, 0 updated, 0 skipped." in imported.text
    assert "export.txt, line 3: says Tuesday 19 November 2026" in imported.text


@pytest.mark.parametrize("name", ["nope", "..", ".hidden", "2026-11-23%2F..", "a b", "%00"])
def test_an_unknown_issue_is_a_404_page(studio: Studio, name: str) -> None:
    answer = studio.client.get(f"/issue/{name}")
    assert answer.status_code == 404
    assert "No such issue" in answer.text or "Not found" in answer.text


def test_a_broken_issue_file_is_explained_not_a_crash(studio: Studio) -> None:
    studio.path.write_text(studio.path.read_text(encoding="utf-8") + "sections: [\n", encoding="utf-8")
    answer = studio.client.get(PAGE)
    assert answer.status_code == 200
    assert "This issue file cannot be opened" in answer.text
    assert "issue.yaml, line" in answer.text


def test_the_page_shows_the_draft_the_candidates_and_the_checks(studio: Studio) -> None:
    html = studio.page()
    assert stories(html) == [SEXTORTION, JAILED, COLD_WATER, REVIEW, DSL_DATES, YOUNG_CARERS, NURSES]
    assert f'name="lead" value="{RECRUITMENT}"' in html
    assert html.count('class="candidate chosen"') == 8
    assert "HTML " in html and 'class="level level-ok">ok<' in html
    assert "srcdoc=" in html and "New guidance on safer recruitment" in html
    assert "Saved: the file says what you see" in html


def test_buttons_arrange_the_draft_and_only_save_writes_the_file(studio: Studio) -> None:
    before = studio.path.read_text(encoding="utf-8")
    html = studio.page()
    html = studio.act(html, f"down:{SEXTORTION}")
    assert status(html) == "Moved down: now 2nd of 2 in Online safety."
    html = studio.act(html, f"down:{SEXTORTION}")
    assert "1st of 2 in Water safety" in status(html)
    html = studio.act(html, f"lead:{JAILED}")
    assert f'name="lead" value="{JAILED}"' in html
    # The old lead goes to the section of its first topic, made at the end.
    assert status(html) == "Now the lead; the previous lead is now 1st of 1 in Sport, clubs and community."
    assert stories(html)[:2] == [SEXTORTION, COLD_WATER] and stories(html)[-1] == RECRUITMENT
    html = studio.act(html, f"drop:{YOUNG_CARERS}")
    assert YOUNG_CARERS not in stories(html)
    assert f'value="add:{YOUNG_CARERS}"' in html
    html = studio.act(html, "section-up:s4")
    assert [e for e in order_of(html) if e.startswith("section:")] == [
        "section:s0",
        "section:s1",
        "section:s2",
        "section:s4",
        "section:s3",
        "section:n1",
    ]
    html = studio.act(html, "section-add", {"new_section": "Courts and justice"})
    assert 'value="Courts and justice"' in html
    html = studio.act(html, "move", {"move_id": NURSES, "move_before": "", "move_section": "n2"})
    assert order_of(html)[-2:] == ["section:n2", f"story:{NURSES}"]
    assert "Unsaved changes" in html
    assert studio.path.read_text(encoding="utf-8") == before
    html = studio.act(html, "save")
    assert status(html) == "Saved issue.yaml."
    saved = studio.path.read_text(encoding="utf-8")
    assert f"lead: {JAILED}   # court reporting restrictions checked; 2026-11-18 Northshire Police" in saved
    assert "  - title: Courts and justice\n    stories:\n      - " + NURSES in saved
    assert "# Water safety: ask Priya for a quote before sending\n" in saved
    assert saved.endswith("# End of the issue: nothing below here.\n")
    assert "Saved: the file says what you see" in html


def test_a_section_with_stories_cannot_be_removed_and_an_empty_one_can(studio: Studio) -> None:
    html = studio.page()
    html = studio.act(html, "section-remove:s0")
    assert "still has stories" in problems(html)
    html = studio.act(html, f"drop:{COLD_WATER}")
    html = studio.act(html, "section-remove:s1")
    assert "section:s1" not in order_of(html)
    assert "Water safety" not in re.findall(r'name="title\.s\d" value="([^"]+)"', html)


def test_adding_a_story_puts_it_in_its_topics_section(studio: Studio, engine, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_late_article(engine, settings, tmp_path)
    html = studio.page()
    assert f'value="add:{LATE}"' in html
    html = studio.act(html, f"add:{LATE}")
    assert "Added: 1st of 1 in Sport, clubs and community." in status(html)
    html = studio.act(html, "save")
    assert (
        f"  - title: Sport, clubs and community\n    stories:\n      - {LATE}   # 2026-11-22 SAFE CIC: Half-term"
        in (studio.path.read_text(encoding="utf-8"))
    )


def test_articles_outside_the_week_are_offered_on_request(studio: Studio, engine, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = tmp_path / "old.md"
    old.write_text("---\ntitle: An older story\nsource: SAFE CIC\npublished: 2026-10-01\n---\nText.\n")
    from digest.articles.store import import_articles

    import_articles(engine, settings, [str(old)])
    html = studio.page()
    assert "An older story" not in html
    html = studio.act(html, "filter", {"any_date": "1"})
    assert "An older story" in html and "Outside the week" in html
    html = studio.act(html, "filter", {"any_date": "1", "q": "older"})
    assert "1 article." in html
    html = studio.act(html, "filter", {"q": "", "source": "Northshire Police"})
    assert html.count('<li class="candidate') == 1


def test_undated_articles_are_offered_on_request_marked_undated(studio: Studio, engine, settings) -> None:  # type: ignore[no-untyped-def]
    from digest.articles.store import import_articles

    import_articles(engine, settings, [str(DATA / "feed-dates.rss")])
    assert "No date at all" not in studio.page()  # not this week's
    html = studio.act(studio.page(), "filter", {"any_date": "1", "q": "no date at all"})
    assert "No date at all" in html and "Dates From Everywhere · undated" in html


def test_story_overrides_are_saved_and_rendered(studio: Studio) -> None:
    html = studio.page()
    html = studio.act(
        html,
        "preview",
        {
            f"summary.{COLD_WATER}": "Our own words about the campaign.",
            f"full.{JAILED}": "1",
            f"note.{JAILED}": "Reporting restrictions apply.",
            f"url.{COLD_WATER}": "https://example.org/campaign",
        },
    )
    assert "Our own words about the campaign." in html
    assert "https://example.org/campaign" in html.split("srcdoc=", 1)[1]
    html = studio.act(html, "save")
    saved = studio.path.read_text(encoding="utf-8")
    assert f"      - id: {COLD_WATER}   # 2026-11-16" in saved
    assert "        summary: Our own words about the campaign.\n        url: https://example.org/campaign\n" in saved
    assert "        note: Reporting restrictions apply.\n        full: true\n" in saved


def test_topics_for_this_issue_are_written_only_when_they_differ(studio: Studio) -> None:
    html = studio.page()
    fields = [(k, v) for k, v in read_form(html).fields if k != f"topics.{DSL_DATES}"]
    fields.append((f"topics.{DSL_DATES}", "education"))
    fields.append((f"topics.{DSL_DATES}", "health"))
    data = MultiDict([*fields, ("action", "save")])
    answer = studio.client.post(PAGE, data=data, content_type="multipart/form-data")
    assert answer.status_code == 200
    assert f"      - id: {DSL_DATES}   # 2026-11-21" in studio.path.read_text(encoding="utf-8")
    assert "        topics: [education, health]\n" in studio.path.read_text(encoding="utf-8")
    # Saving the page untouched leaves the file alone.
    before = studio.path.read_text(encoding="utf-8")
    studio.act(studio.page(), "save")
    assert studio.path.read_text(encoding="utf-8") == before


def test_a_draft_that_would_not_load_is_not_saved(studio: Studio) -> None:
    before = file_hash(studio.path)
    html = studio.act(studio.page(), "save", {"subject": ""})
    # Said beside Save, and at the field at fault, which gets the focus.
    assert outcome(html) == "Not saved: Subject: subject is empty; every issue needs a subject line."
    assert '<p class="field-error" id="error-subject" data-for="subject">subject is empty' in html
    assert 'data-focus="subject"' in html and 'aria-invalid="true" aria-describedby="error-subject"' in html
    assert "The email will show again once the field marked with a message is fixed." in html
    html = studio.act(studio.page(), "save", {f"url.{JAILED}": "javascript:alert(1)"})
    assert "must be a web address" in outcome(html)
    assert f'data-focus="url-{JAILED}"' in html and f'id="error-url-{JAILED}"' in html
    html = studio.act(studio.page(), "save", {f"summary.{JAILED}": "x" * 20_001, "subject": "Kept as typed"})
    assert outcome(html).startswith(
        "Not saved: Summary of “Man jailed for grooming offences after online investigation”: "
        "this is 20,001 characters long"
    )
    assert 'value="Kept as typed"' in html and "x" * 20_001 in html  # nothing the editor typed is lost
    assert file_hash(studio.path) == before


def test_a_change_on_disk_is_shown_and_never_overwritten_silently(studio: Studio) -> None:
    page = studio.page()
    theirs = studio.path.read_text(encoding="utf-8").replace(
        "editor_note: ''", "editor_note: 'Office closed on Friday.'   # added by Sam"
    )
    studio.path.write_text(theirs, encoding="utf-8")
    answer = studio.act(page, "save", {"subject": "My new subject"})
    assert "changed by someone or something else" in problems(answer)
    shown = html.unescape(answer)
    theirs_diff, mine_diff = shown.split("What changed in the file", 1)[1].split("What saving your changes", 1)
    mine_diff = mine_diff.split("</pre>", 1)[0]
    assert "+editor_note: 'Office closed on Friday.'   # added by Sam" in theirs_diff
    # Saving would change only what the editor changed: the subject, not Sam's note.
    assert "-subject: New guidance" in mine_diff and "+subject: My new subject" in mine_diff
    assert "editor_note" not in mine_diff
    assert studio.path.read_text(encoding="utf-8") == theirs
    # The file changes again before the editor decides: still nothing is overwritten.
    studio.path.write_text(theirs.replace("Friday", "Thursday"), encoding="utf-8")
    stale = studio.act(answer, "overwrite", {"subject": "My new subject"})
    assert "changed by someone or something else" in problems(stale)
    assert studio.path.read_text(encoding="utf-8") == theirs.replace("Friday", "Thursday")
    done = studio.act(stale, "overwrite", {"subject": "My new subject"})
    assert status(done) == "Saved your changes into the changed file."
    assert studio.path.read_text(encoding="utf-8") == theirs.replace("Friday", "Thursday").replace(
        "subject: New guidance on safer recruitment for sports clubs", "subject: My new subject"
    )
    assert "Saved: the file says what you see" in done


def test_a_conflict_keeps_their_arrangement_unless_the_editor_rearranged(studio: Studio) -> None:
    page = studio.page()
    theirs = studio.path.read_text(encoding="utf-8").replace(f"      - {YOUNG_CARERS}", f"      # {YOUNG_CARERS}")
    studio.path.write_text(theirs, encoding="utf-8")
    answer = studio.act(page, "save", {f"summary.{NURSES}": "Our own summary."})
    done = studio.act(answer, "overwrite", {f"summary.{NURSES}": "Our own summary."})
    assert status(done) == "Saved your changes into the changed file."
    assert YOUNG_CARERS not in stories(done)
    saved = studio.path.read_text(encoding="utf-8")
    assert f"      - id: {NURSES}   # 2026-11-20" in saved and "        summary: Our own summary.\n" in saved


def test_a_deleted_file_is_a_conflict_too(studio: Studio) -> None:
    page = studio.page()
    studio.path.unlink()
    answer = studio.act(page, "save", {"subject": "Still here"})
    assert "The file is gone or cannot be read now." in answer
    assert not studio.path.exists()
    done = studio.act(answer, "overwrite", {"subject": "Still here"})
    assert status(done) == "Saved your changes into the changed file."
    assert "subject: Still here\n" in studio.path.read_text(encoding="utf-8")


def test_approval_acts_on_the_saved_issue(studio: Studio, engine, settings) -> None:  # type: ignore[no-untyped-def]
    html = studio.page()
    assert "Not approved yet." in html
    html = studio.act(html, "approve", {"approver": ""})
    assert "give your name" in problems(html)
    dirty = studio.act(html, "approve", {"approver": "Editor Ed", "subject": "Unsaved"})
    assert "save your changes before you approve" in problems(dirty)
    html = studio.act(html, "approve", {"approver": "Editor Ed"})
    assert "Approved by Editor Ed" in status(html)
    assert "it still matches the saved issue" in html
    # The approval is the library's own: sending accepts it.
    approval = require_approval(engine, dataclasses.replace(settings, require_approval=True), ISSUE_ID)
    assert approval is not None and approval.approved_by == "Editor Ed"
    html = studio.act(html, "save", {"subject": "Changed after approval"})
    assert "the saved issue has changed since; approve it again" in html


def test_a_test_copy_goes_through_the_configured_provider(studio: Studio, settings) -> None:  # type: ignore[no-untyped-def]
    html = studio.page()
    dirty = studio.act(html, "test", {"test_to": "editor@example.org", "subject": "Unsaved"})
    assert "save your changes before you send a test copy" in problems(dirty)
    bad = studio.act(html, "test", {"test_to": "not-an-address"})
    assert "@" in problems(bad) and "Sent" not in status(bad)
    html = studio.act(html, "test", {"test_to": "editor@example.org", "test_segment": "health"})
    assert "Sent 1 test copy through outbox" in status(html)
    sent = list((settings.outbox_dir / ISSUE_ID).glob("test-*.eml"))
    assert len(sent) == 1
    message = message_from_bytes(sent[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "editor@example.org"
    assert str(message["Subject"]).strip() == "[TEST] New guidance on safer recruitment for sports clubs"


NEWSFEED_EXPORT = """\
Schools asked to update their lockdown procedures

Source: Northshire Police published on this website Tuesday 19 November 2026 by Demo Editor

Northshire Police has asked every school to review its lockdown procedure this term.
"""


def test_imports_through_the_page_show_their_warnings_beside_the_story(studio: Studio) -> None:
    html = studio.page()
    upload = (io.BytesIO(NEWSFEED_EXPORT.encode("cp1252")), "export from the website.txt")
    html = studio.act(html, "import", import_file=upload)
    assert status(html).startswith("Imported 1 new, 0 updated, 0 skipped.")
    assert "which was a Thursday" in html  # 19 November 2026 was a Thursday, not a Tuesday
    assert "digest-studio-upload" not in html
    article_id = "2026-11-19-schools-asked-to-update-their-lockdown-procedures"
    html = studio.act(html, f"add:{article_id}")
    warnings = html.split('id="import-warnings"', 1)[1].split("</ul>", 1)[0]
    assert article_id in warnings and "which was a Thursday" in warnings


def test_front_matter_nested_thousands_deep_is_a_message_not_a_crash(studio: Studio) -> None:
    deep = "---\ntitle: Deep\nsource: SAFE CIC\npublished: 2026-11-20\ntopics: " + "[" * 5000 + "]" * 5000
    upload = (io.BytesIO((deep + "\n---\nBody.\n").encode("utf-8")), "deep.md")
    html = studio.act(studio.page(), "import", import_file=upload)
    assert "Not imported: deep.md, line 5: front matter is not valid YAML (nested more than 100" in problems(html)


def test_a_feed_address_is_imported_and_only_web_addresses_are_fetched(studio: Studio, settings, engine, week) -> None:  # type: ignore[no-untyped-def]
    feed = (DATA / "feed.rss").read_bytes()
    allowed = dataclasses.replace(settings, sources=SourceSettings(AllowList.parse(["127.0.0.1"])))
    intranet = create_app(allowed, engine, Gate())
    on_intranet = Studio(intranet, intranet.extensions["digest_studio"].gate, week)
    with httpserve.serve({"/secret": (200, "application/rss+xml", feed)}, "127.0.0.2") as inner:
        routes = {
            "/feed.rss": (200, "application/rss+xml", feed),
            "/moved": (302, "text/plain", b"", {"Location": f"{inner}/secret"}),
        }
        with httpserve.serve(routes) as base:
            refused = studio.act(studio.page(), "import", {"import_url": f"{base}/feed.rss"})
            redirected = on_intranet.act(on_intranet.page(), "import", {"import_url": f"{base}/moved"})
            html = on_intranet.act(on_intranet.page(), "import", {"import_url": f"{base}/feed.rss"})
    assert "127.0.0.1 is a loopback address" in problems(refused)
    assert f"redirected to {inner}/secret, but 127.0.0.2 is a loopback address" in problems(redirected)
    assert re.match(r"Imported [1-9]\d* new", status(html))
    for address in ("file:///etc/passwd", "/etc/passwd", "ftp://example.org/feed"):
        refused = studio.act(studio.page(), "import", {"import_url": address})
        assert "a feed address starts with https://" in problems(refused)
    nothing = studio.act(studio.page(), "import")
    assert "choose a file or give a feed address" in problems(nothing)
    garbage = studio.act(studio.page(), "import", import_file=(io.BytesIO(b"\x00\x01binary"), "x.txt"))
    assert "Not imported: x.txt" in problems(garbage)


def test_the_preview_follows_the_chosen_segment(studio: Studio) -> None:
    html = studio.page()
    whole = re.search(r"(\d+) stories · HTML", html)
    health = re.search(r"(\d+) stories for health · HTML", studio.act(html, "preview", {"segment": "health"}))
    assert whole and health and int(health.group(1)) < int(whole.group(1))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"base": "not base64!"}, "out of date or damaged"),
        ({"base_hash": "0" * 64}, "out of date or damaged"),
        ({"base": None}, "out of date or damaged"),
    ],
)
def test_a_damaged_form_is_a_message_and_changes_nothing(studio: Studio, changes, expected) -> None:  # type: ignore[no-untyped-def]
    before = file_hash(studio.path)
    answer = studio.press(studio.page(), "save", changes)
    assert answer.status_code == 400
    assert expected in answer.text
    assert file_hash(studio.path) == before


@pytest.mark.parametrize("order", ["story:x", "section:../../etc", "section:s0|story:<script>", "rubbish"])
def test_a_damaged_order_is_refused(studio: Studio, order: str) -> None:
    html = studio.page()
    fields = [(k, v) for k, v in read_form(html).fields if k != "order"] + [("order", o) for o in order.split("|")]
    answer = studio.client.post(PAGE, data=MultiDict([*fields, ("action", "save")]))
    assert answer.status_code == 400
    assert "reload the issue" in answer.text


@pytest.mark.parametrize("action", ["explode", "up:not-in-the-issue", "add:no-such-article", "section-up:s99", "move"])
def test_an_action_on_something_that_is_not_there_is_a_message(studio: Studio, action: str) -> None:
    html = studio.act(studio.page(), action)
    assert problems(html)


FIELD_NAMES = [
    "subject",
    "introduction",
    "order",
    "lead",
    "action",
    f"summary.{SEXTORTION}",
    "segment",
    "width",
    "q",
    "move_id",
    "move_before",
    "move_section",
    "overwrite_hash",
    "test_to",
    "topic",
    f"topics.{JAILED}",
]


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extra=st.lists(
        st.tuples(
            st.sampled_from(FIELD_NAMES),
            st.text(max_size=40)
            | st.sampled_from(["s0", "story:" + JAILED, "save", "preview", "up:" + JAILED, "move", "section:s1"]),
        ),
        max_size=8,
    ),
    drop=st.sets(st.sampled_from(FIELD_NAMES), max_size=4),
)
def test_whatever_the_form_holds_the_answer_is_a_page_not_a_crash(studio: Studio, extra, drop) -> None:  # type: ignore[no-untyped-def]
    html = studio.page()
    fields = [(k, v) for k, v in read_form(html).fields if k not in drop]
    answer = studio.client.post(PAGE, data=MultiDict([*fields, *extra]))
    assert answer.status_code in (200, 400), answer.text[:300]
    assert "Traceback" not in answer.text
    # Whatever was posted, the file on disk still loads.
    from digest.issues.issue import load_issue

    load_issue(load_settings(studio.path.parent.parent.parent / "digest.toml"), ISSUE_ID)


def test_an_article_of_the_issue_missing_from_the_store_is_shown_so(studio: Studio, engine) -> None:  # type: ignore[no-untyped-def]
    with db.write(engine) as conn:
        conn.execute(db.articles.delete().where(db.articles.c.id == NURSES))
    html = studio.page()
    assert "This article is not in the store" in html
    assert f"unknown article id {NURSES!r}" in html.replace("&#39;", "'")
    html = studio.act(html, f"drop:{NURSES}")
    assert "This article is not in the store" not in html
    get_article(engine, SEXTORTION)


def test_a_slow_second_save_of_the_same_page_is_a_conflict(studio: Studio) -> None:
    html = studio.page()
    first = studio.act(html, "save", {"subject": "First"})
    assert status(first) == "Saved issue.yaml."
    time.sleep(0.01)
    second = studio.act(html, "save", {"subject": "Second"})
    assert "changed by someone or something else" in problems(second)
    assert "First" in studio.path.read_text(encoding="utf-8")
