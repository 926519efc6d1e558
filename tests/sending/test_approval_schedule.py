"""Approval of the exact rendering, frozen sent issues, scheduled sends and run-due."""

from __future__ import annotations

import json
import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.config import load_settings
from digest.errors import NotFoundError, StateError
from digest.issues.approval import approve, require_approval
from digest.sending import cancel_send, list_sends, run_due, start_send
from digest.store import db


@pytest.fixture
def strict(project: Path):  # type: ignore[no-untyped-def]
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("require_approval = false", "require_approval = true"),
        encoding="utf-8",
    )
    return load_settings(toml)


def test_sending_needs_approval_of_what_renders_now(engine, strict, audience, sample_issue: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StateError) as caught:
        start_send(engine, strict, "2025-04-10", ["everyone"])
    assert str(caught.value).startswith("issue 2025-04-10 is not approved; review the preview, then run")
    approval = approve(engine, strict, "2025-04-10", approved_by="Editor Ed")
    assert set(approval.variants) == {"all", "segment:schools", "segment:health", "segment:everyone"}
    # An edit after approval: the approval no longer covers what would be sent.
    sample_issue.write_text(
        sample_issue.read_text(encoding="utf-8").replace("Here is this week", "Here is the week"), encoding="utf-8"
    )
    with pytest.raises(StateError) as caught:
        require_approval(engine, strict, "2025-04-10")
    assert "has changed since Editor Ed approved it on" in str(caught.value)
    assert "changed: all, segment:everyone, segment:health, segment:schools" in str(caught.value)
    approve(engine, strict, "2025-04-10", approved_by="Editor Ed")
    _plan, outcome = start_send(engine, strict, "2025-04-10", ["everyone"])
    assert outcome is not None and outcome.state == "done"


def test_sent_variants_are_frozen_into_the_issue_folder(engine, settings, audience, project: Path) -> None:  # type: ignore[no-untyped-def]
    start_send(engine, settings, "2025-04-10", ["health", "schools", "everyone"])
    sent = project / "issues" / "2025-04-10" / "sent"
    manifest = json.loads((sent / "manifest.json").read_text())
    assert sorted(manifest["variants"]) == [
        "all",
        "topics:child-sexual-abuse,courts-justice,health",
        "topics:education,online-safety,social-care,water-safety",
    ]
    first = next(iter(manifest["variants"].values()))
    html = (sent / "variants" / f"{first['file']}.html").read_text()
    assert html.startswith("<!doctype html>") and "%%unsubscribe_url%%" in html
    assert (sent / "archive" / "index.html").is_file()
    # The archive serves the frozen pages even after the article changes.
    from digest.issues.archive import frozen_pages

    with db.write(engine) as conn:
        conn.execute(db.articles.update().values(title="Rewritten later"))
    pages = frozen_pages(settings, "2025-04-10")
    assert pages is not None and "Rewritten later" not in pages["index.html"]


def test_schedule_run_due_and_cancel(engine, settings, audience, invoke) -> None:  # type: ignore[no-untyped-def]
    scheduled = invoke("send", "2025-04-10", "--segment", "everyone", "--at", "2099-04-14 08:00", "--yes")
    assert scheduled.stdout.endswith(
        "Scheduled send #1 for 2099-04-14 08:00 (Europe/London); `digest run-due` sends it when it is due.\n"
    )
    (send,) = list_sends(engine)
    assert send.state == "scheduled" and send.scheduled_at.isoformat() == "2099-04-14T07:00:00+00:00"
    assert invoke("run-due").stdout == "Nothing is due.\n"
    assert run_due(engine, settings, now=send.scheduled_at + timedelta(hours=1))[0].outcome.counts["accepted"] == 12
    assert run_due(engine, settings, now=send.scheduled_at + timedelta(hours=2)) == []  # a second run does nothing
    again = invoke("send", "2025-04-10", "--segment", "everyone", "--at", "2099-04-21 08:00", "--yes")
    assert again.exit_code == 0
    assert invoke("send", "2025-04-10", "--cancel").stdout == "Cancelled scheduled send #2.\n"
    assert [s.state for s in list_sends(engine)] == ["done", "cancelled"]
    with pytest.raises(NotFoundError):
        cancel_send(engine, settings, "2025-04-10")


def _run_due_in_child(config: str, when: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from datetime import datetime

    from digest.config import load_settings as load
    from digest.sending import run_due as due
    from digest.store.db import open_database

    settings = load(Path(config))
    results = due(open_database(settings.database_url), settings, now=datetime.fromisoformat(when))
    queue.put([r.send_id for r in results])


def test_two_run_due_at_once_send_each_scheduled_send_once(engine, settings, audience, invoke, project) -> None:  # type: ignore[no-untyped-def]
    invoke("send", "2025-04-10", "--segment", "everyone", "--at", "2099-04-14 08:00", "--yes")
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    runners = [
        context.Process(
            target=_run_due_in_child, args=(str(project / "digest.toml"), "2099-04-14T12:00:00+00:00", queue)
        )
        for _ in range(2)
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=120)
    claimed = sorted(queue.get(timeout=5) + queue.get(timeout=5))
    assert claimed == [1]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.deliveries)).scalar_one() == 12
    assert len(list((project / "outbox" / "2025-04-10").glob("*.eml"))) == 12


def test_bad_at_value(invoke, audience) -> None:  # type: ignore[no-untyped-def]
    result = invoke("send", "2025-04-10", "--segment", "everyone", "--at", "next monday", "--yes")
    assert result.exit_code == 1
    assert result.output == (
        "Error: --at 'next monday' is not a time written 'YYYY-MM-DD HH:MM', or a weekday and a time, 'Monday 08:00'\n"
    )


def test_approve_cli(invoke, audience) -> None:  # type: ignore[no-untyped-def]
    result = invoke("issue", "approve", "2025-04-10", "--by", "Editor Ed")
    assert result.stdout.startswith("Issue 2025-04-10 approved by Editor Ed (4 variants, ")
