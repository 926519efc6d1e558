"""A correction's send killed (SIGKILL) mid-way resumes with nobody twice and nobody missing.

The issue went to segments whose copies differ (schools' copy left the court
story out); the correction of that story is sent through the fake SendGrid by
a real `digest` process, killed while a batch is in flight, then resumed.
"""

from __future__ import annotations

import json
import signal

import pytest
import sqlalchemy as sa

from digest import corrections as errata
from digest.people.subscribers import add_subscriber
from digest.sending import start_send
from digest.store import db
from tests.conftest import SEGMENTS_YAML
from tests.sending.test_send_faults import arm_killer, digest, run

ISSUE = "2025-04-10"
COURT = "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son"
SECTORS = {"education": 20, "health": 25, "sport": 15}  # schools' copy lacks the story; health's and everyone's hold it


@pytest.fixture
def corrected(project, engine, settings, sample_issue, fake_sendgrid):  # type: ignore[no-untyped-def]
    """The issue sent (to the outbox) to 60 readers in three segments, and a correction of the court story."""
    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("[sendgrid]\n", "[sendgrid]\nbatch_size = 5\n"), encoding="utf-8"
    )
    for sector, count in SECTORS.items():
        for number in range(count):
            add_subscriber(engine, settings, f"{sector}{number}@example.org", {"sector": sector}, consent_source="test")
    _plan, outcome = start_send(engine, settings, ISSUE, ["schools", "health", "everyone"], provider_name="outbox")
    assert outcome is not None and outcome.counts["accepted"] == 60
    return errata.record_correction(engine, settings, ISSUE, COURT, text="The court sat in Northshire.")


def correction_states(engine, correction) -> dict[str, int]:  # type: ignore[no-untyped-def]
    d = db.deliveries
    with engine.connect() as conn:
        query = sa.select(d.c.state, sa.func.count()).where(d.c.issue_id == correction.ledger_key).group_by(d.c.state)
        return dict(conn.execute(query).all())


@pytest.mark.parametrize(("request_number", "when"), [(2, "before-answer"), (4, "after-answer")])
def test_a_killed_correction_send_resumes_with_nobody_twice(  # type: ignore[no-untyped-def]
    project, engine, corrected, fake_sendgrid, request_number, when
) -> None:
    holder, killed = arm_killer(fake_sendgrid, request_number, when)
    holder["process"] = digest(project, "corrections", "send", str(corrected.id), "--provider", "sendgrid", "--yes")
    holder["process"].wait(timeout=120)
    assert killed.is_set() and holder["process"].returncode == -signal.SIGKILL
    fake_sendgrid.on_request = None
    assert correction_states(engine, corrected).get("accepted", 0) < 40

    events = project / "events.json"
    events.write_text(json.dumps(fake_sendgrid.processed_events()), encoding="utf-8")
    run(project, "events", "import", str(events))
    resumed = run(project, "corrections", "send", str(corrected.id), "--resume", "--resend-uncertain")
    assert "Taking over the stale send lock" in resumed.stderr
    assert correction_states(engine, corrected) == {"accepted": 40}

    mailed = [
        address.lower()
        for item in fake_sendgrid.accepted
        if corrected.ledger_key in item.body["categories"]
        for address in item.recipients()
    ]
    expected = [f"{sector}{n}@example.org" for sector in ("health", "sport") for n in range(SECTORS[sector])]
    assert sorted(mailed) == sorted(expected)  # each once: no duplicates, nobody missing, no school reader
    assert fake_sendgrid.rejected == []
