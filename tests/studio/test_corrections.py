"""The studio's corrections of a sent issue: "Correct this story" beside each story that went out,
the correction email's preview with the readers it will reach, recording and sending, all by POST."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from digest import corrections as errata
from digest.studio.app import create_app
from digest.studio.auth import Gate
from tests.corrections_support import COURT, ISSUE, WATER, send_issue

CORRECT = f"/issue/{ISSUE}/corrections/{COURT}"


@pytest.fixture
def client(settings: Any, engine: Any, audience: Any) -> Any:
    gate = Gate()
    app = create_app(settings, engine, gate)
    app.testing = True
    client = app.test_client()
    assert client.get(f"/?token={gate.token}").status_code == 303
    return client


def get(client: Any, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200, answer.text[:400]
    return str(answer.text)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def frame(page: str) -> str:
    found = re.search(r'srcdoc="([^"]*)"', page)
    assert found is not None
    return html.unescape(found.group(1))


def test_each_story_that_went_out_can_be_corrected_from_the_issue_page(client, engine, settings) -> None:  # type: ignore[no-untyped-def]
    assert "Correct this story" not in get(client, f"/issue/{ISSUE}")  # a draft: nothing went out yet
    assert client.get(f"/issue/{ISSUE}/corrections").status_code == 404
    send_issue(engine, settings)
    page = get(client, f"/issue/{ISSUE}")
    assert page.count("Correct this story") == 5
    assert f'href="{CORRECT}"' in page and f'href="/issue/{ISSUE}/corrections"' in page


def test_the_preview_and_the_count_then_record_and_send(client, engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    send_issue(engine, settings)
    page = get(client, CORRECT)
    assert (
        "5 readers get it: those whose copy held the story and who are still subscribed (health 3, everyone 2)." in page
    )
    assert "12 readers were sent the issue; the copies of 7 left this story out" in page
    assert "Your corrected wording appears here." in frame(page)
    assert "<strong>SAFE Newsfeed</strong></p><p>Correction: Father found guilty" in page
    shown = client.post(
        CORRECT, data={"csrf": csrf(page), "text": "The court sat in <Northshire>.", "action": "preview"}
    )
    assert shown.status_code == 200 and "The court sat in &lt;Northshire&gt;." in frame(shown.text)
    assert errata.list_corrections(engine) == []  # a preview records nothing
    empty = client.post(CORRECT, data={"csrf": csrf(page), "text": " ", "action": "record"})
    assert empty.status_code == 200 and "say what the correction is" in empty.text
    recorded = client.post(
        CORRECT, data={"csrf": csrf(page), "text": "The court sat in Northshire.", "by": "Ed", "action": "record"}
    )
    assert recorded.status_code == 303 and recorded.headers["Location"].endswith("/corrections?recorded=1")
    listing = get(client, f"/issue/{ISSUE}/corrections?recorded=1")
    assert "Correction #1 recorded; the archive shows it now." in listing
    assert "Send to 5 readers" in listing
    (item,) = errata.list_corrections(engine)
    assert (item.article_id, item.text, item.created_by) == (COURT, "The court sat in Northshire.", "Ed")
    sent = client.post("/corrections/1/send", data={"csrf": csrf(listing)})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/corrections?sent=1")
    after = get(client, f"/issue/{ISSUE}/corrections?sent=1")
    assert "Correction #1 sent: 5 readers have it." in after and "Send to" not in after
    assert len(list((project / "outbox" / item.ledger_key).glob("*.eml"))) == 5
    again = client.post("/corrections/1/send", data={"csrf": csrf(listing)})
    assert again.status_code == 303 and len(list((project / "outbox" / item.ledger_key).glob("*.eml"))) == 5


def test_a_withdrawal_from_the_studio(client, engine, settings) -> None:  # type: ignore[no-untyped-def]
    send_issue(engine, settings)
    page = get(client, f"/issue/{ISSUE}/corrections/{WATER}")
    done = client.post(
        f"/issue/{ISSUE}/corrections/{WATER}", data={"csrf": csrf(page), "withdrawn": "1", "action": "record"}
    )
    assert done.status_code == 303
    listing = get(client, f"/issue/{ISSUE}/corrections")
    assert "Withdrawn: Cold water safety advice as the weather warms up" in listing
    assert f'href="/issue/{ISSUE}/corrections/{WATER}"' not in listing  # nothing more to correct
    refused = client.get(f"/issue/{ISSUE}/corrections/{WATER}")
    assert refused.status_code == 400 and "there is nothing more to correct" in refused.text


def test_only_a_post_with_the_pages_token_changes_anything(client, engine, settings) -> None:  # type: ignore[no-untyped-def]
    send_issue(engine, settings)
    forged = client.post(CORRECT, data={"csrf": "forged", "text": "x", "action": "record"})
    assert forged.status_code == 403
    assert client.get("/corrections/1/send").status_code == 405
    assert client.post("/corrections/1/send", data={"csrf": "forged"}).status_code == 403
    assert errata.list_corrections(engine) == []
    page = get(client, CORRECT)
    missing = client.post("/corrections/9/send", data={"csrf": csrf(page)})
    assert missing.status_code == 400 and "no correction #9" in missing.text
    stranger = client.get(f"/issue/{ISSUE}/corrections/no-such-story")
    assert stranger.status_code == 400 and "no copy of issue 2025-04-10 that went out held the story" in stranger.text
    assert client.get("/issue/..%2F..%2Fetc/corrections").status_code == 404
