"""The reader's web pages: the sign-up form offers the organisation's own sectors; the archive invites
sign-ups and does not repeat the masthead's name under it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.people.segments import sector_choices
from digest.people.subscribers import get_subscriber
from tests.conftest import DATA


@pytest.fixture
def client(project: Path, engine):  # type: ignore[no-untyped-def]
    from digest.web import create_app

    app = create_app(load_settings(project / "digest.toml"), engine, background=False)
    app.testing = True
    return app.test_client()


@pytest.fixture
def segments_file(project: Path) -> Path:
    (project / "subscribers").mkdir(exist_ok=True)
    target = project / "subscribers" / "segments.yaml"
    target.write_text((DATA / "segments.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return target


def options(page: bytes) -> list[tuple[str, str]]:
    select = re.search(rb'<select id="sector" name="sector">(.*?)</select>', page, re.S)
    assert select, "no sector choices"
    return [
        (v.decode(), t.decode())
        for v, t in re.findall(rb'<option value="([^"]*)"[^>]*>([^<]+)</option>', select.group(1))
    ]


def test_sectors_come_from_the_segment_rules(project, segments_file) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(project / "digest.toml")
    found = sector_choices(settings)
    # Every value a sector rule names, once (a plural folded into its singular), labelled for people.
    assert found and len({value.casefold() for value, _ in found}) == len(found)
    rules = segments_file.read_text(encoding="utf-8")
    for value, label in found:
        assert value in rules
        assert label[0].isupper()
    assert not any(value.endswith("s") and value[:-1] in dict(found) for value, _ in found)


def sign_up(client, project: Path, address: str, sector: str) -> None:  # type: ignore[no-untyped-def]
    import email
    from email import policy

    page = client.get("/subscribe")
    token = re.search(rb'name="form_token" value="([^"]+)"', page.data).group(1).decode()
    answer = client.post("/subscribe", data={"form_token": token, "email": address, "consent": "yes", "sector": sector})
    assert answer.status_code == 200
    from digest.people.signups import send_queued
    from digest.project import open_engine

    settings = load_settings(project / "digest.toml")
    send_queued(open_engine(settings), settings)  # what the server's mail thread does
    newest = max((project / "outbox" / "subscribe").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    text = email.message_from_bytes(newest.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    link = re.search(r"https://news\.safe\.example\.org(/subscribe/confirm/\S+)", text).group(1)
    client.post(link)


def test_the_form_offers_the_sectors_and_keeps_only_those(project, segments_file, engine, client) -> None:  # type: ignore[no-untyped-def]
    offered = options(client.get("/subscribe").data)
    assert offered[0] == ("", "Another sector, or I would rather not say")
    assert offered[1:] == sector_choices(load_settings(project / "digest.toml"))
    chosen = offered[1][0]
    sign_up(client, project, "chosen@example.org", chosen)
    assert get_subscriber(engine, "chosen@example.org").sector == chosen
    # A value the form never offered (a forged post) is not kept.
    sign_up(client, project, "forged@example.org", "anything at all")
    assert get_subscriber(engine, "forged@example.org").sector == ""


def test_a_setting_names_the_sectors_instead(project, segments_file) -> None:  # type: ignore[no-untyped-def]
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text().replace("[web]\n", '[web]\nsectors = ["Schools", "NHS trusts", "Sport"]\n'), encoding="utf-8"
    )
    assert sector_choices(load_settings(toml)) == [
        ("Schools", "Schools"),
        ("NHS trusts", "NHS trusts"),
        ("Sport", "Sport"),
    ]


def test_without_segments_or_a_setting_the_sector_is_free_text(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/subscribe")
    assert b'<input type="text" id="sector" name="sector"' in page.data


def test_the_archive_invites_sign_ups_and_names_the_issue_once(engine, settings, audience, client) -> None:  # type: ignore[no-untyped-def]
    from digest.sending import start_send

    text = settings.issues_dir / "2025-04-10" / "issue.yaml"
    body = text.read_text(encoding="utf-8")
    subject = next(line for line in body.splitlines() if line.startswith("subject:"))
    text.write_text(body.replace(subject, "subject: 'SAFE Newsfeed: Protecting children, an update'"), encoding="utf-8")
    start_send(engine, settings, "2025-04-10", ["everyone"])
    issue = client.get("/archive/2025-04-10/").data.decode()
    assert "<h1>Protecting children, an update</h1>" in issue  # not "SAFE Newsfeed: …" under the masthead
    index = client.get("/archive/").data.decode()
    assert "<p>Protecting children, an update</p>" in index
    for page in (issue, index):
        assert '<a href="https://news.safe.example.org/subscribe">sign up</a>' in page
