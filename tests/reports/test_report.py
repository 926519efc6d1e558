"""`digest report`: the outcome of an issue per segment, with charts."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from digest.events.rules import ingest
from digest.providers.sendgrid.events import normalise_sendgrid
from digest.reports.report import issue_outcome
from digest.sending import start_send
from digest.store import db

STORY = "https://news.safe.example.org/archive/2025-04-10/2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son.html"


@pytest.fixture
def sent(engine, settings, audience):  # type: ignore[no-untyped-def]
    start_send(engine, settings, "2025-04-10", ["health", "schools", "everyone"])
    with engine.connect() as conn:
        rows = {r.email: r for r in conn.execute(sa.select(db.deliveries))}

    def ev(email: str, kind: str, n: int, **extra) -> dict:  # type: ignore[no-untyped-def, type-arg]
        return {
            "email": email,
            "event": kind,
            "sg_event_id": f"{kind}{n}{email}",
            "timestamp": 1744600000,
            "delivery_id": str(rows[email].id),
            "issue_id": "2025-04-10",
            **extra,
        }

    objects = [
        ev(email, "delivered", 0) for email in rows if email not in ("person0@example.org", "person1@example.org")
    ]
    objects += [
        ev("person0@example.org", "bounce", 1, type="bounce", status="5.1.1"),
        ev("person1@example.org", "bounce", 1, type="blocked", status="4.2.2"),
        ev("person2@example.org", "spamreport", 1),
        ev("person3@example.org", "open", 1, sg_machine_open=False),
        ev("person3@example.org", "open", 2, sg_machine_open=False),
        ev("person4@example.org", "open", 1, sg_machine_open=True),
        ev("person3@example.org", "click", 1, url=STORY),
        ev("person3@example.org", "click", 2, url=STORY),
        ev("person6@example.org", "click", 1, url=STORY),
        ev("person7@example.org", "unsubscribe", 1),
    ]
    ingest(engine, settings, [normalise_sendgrid(o) for o in objects])
    return rows


def test_totals_and_segments(engine, settings, sent) -> None:  # type: ignore[no-untyped-def]
    outcome = issue_outcome(engine, settings, "2025-04-10")
    assert outcome.total == {
        "planned": 12,
        "accepted": 12,
        "delivered": 10,
        "deferred": 0,
        "bounced": 1,
        "blocked": 1,
        "dropped": 0,
        "complained": 1,
        "unsubscribed": 1,
        "opened_human": 1,
        "opened_machine": 1,
        "clicked": 2,
    }
    assert {name: values["planned"] for name, values in outcome.segments.items()} == {
        "schools": 6,
        "health": 3,
        "everyone": 3,
    }
    assert outcome.segments["schools"]["bounced"] == 1  # person0 is in education: schools
    assert outcome.clicks_by_story == [("Father found guilty of causing the death of his baby son", 2, 3)]


def test_cli_formats_and_html(invoke, engine, settings, sent, project) -> None:  # type: ignore[no-untyped-def]
    table = invoke("report", "2025-04-10")
    lines = table.output.splitlines()
    assert lines[0].split() == ["everyone", "health", "schools", "total"]
    assert "Spam complaints" in table.output and "Clicks per story:" in table.output
    as_json = json.loads(invoke("report", "2025-04-10", "--format", "json").output)
    assert as_json[0]["total"]["clicked"] == 2
    as_csv = invoke("report", "2025-04-10", "--format", "csv").output.splitlines()
    assert as_csv[0] == ",everyone,health,schools,total" and as_csv[1] == "Planned,3,3,6,12"
    html = invoke("report", "2025-04-10", "--html", "report.html")
    assert html.exit_code == 0
    page = (project / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 3
    assert "Delivery funnel" in page and "Clicks per story" in page and "Bounces and complaints by class" in page
    # Dates as everything else writes them; chart labels are text, not outlines.
    assert "<title>Report for the issue of 10 April 2025 · SAFE CIC</title>" in page
    assert "<h1>What happened to the issue of 10 April 2025</h1>" in page
    assert "Father found guilty of causing the death" in page.split("<svg", 2)[2]


def test_an_issue_without_clicks_says_so_instead_of_drawing_an_empty_axis(  # type: ignore[no-untyped-def]
    invoke, engine, settings, audience, project
) -> None:
    start_send(engine, settings, "2025-04-10", ["everyone"])
    assert invoke("report", "2025-04-10", "--html", "report.html").exit_code == 0
    page = (project / "report.html").read_text(encoding="utf-8")
    clicks = page.split('id="chart-2">Clicks per story</figcaption>', 1)[1].split("</figure>", 1)[0]
    assert "<p>No clicks yet.</p>" in clicks and "<svg" not in clicks
    assert page.count("<svg") == 2
    # An axis of zeros runs from 0, never to a negative number.
    assert "−0.0" not in page and "-0.0" not in page


def test_comparing_the_last_issues(invoke, engine, settings, sent) -> None:  # type: ignore[no-untyped-def]
    result = invoke("report")
    assert result.output.splitlines()[0].split() == ["2025-04-10"]
    unsent = invoke("report", "2025-04-10", "--format", "json")
    assert unsent.exit_code == 0


def test_an_unsent_issue_is_an_error(invoke, engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    result = invoke("report", "2025-04-10")
    assert (result.exit_code, result.output) == (
        1,
        "Error: issue 2025-04-10 has not been sent; `digest sends` lists what has\n",
    )


@pytest.mark.parametrize(
    "title",
    [
        # Read as mathtext between the two "$", each made `digest report --html` crash.
        "Teens paid $5 for #tags, $10 for {likes}",
        "Fees of $5 % then $10 a month",
    ],
)
def test_story_titles_with_dollar_signs_are_drawn_as_written(title: str) -> None:
    from digest.reports.report import bar_chart

    svg = bar_chart([(title, 3), ("Another story", 1)], "clicks")
    assert title in svg
