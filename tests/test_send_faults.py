"""Fault tests: kill the sending process (SIGKILL) at several points, reconcile, resume.

Every person in the audience must end with exactly one message accepted by
the (fake) SendGrid: none twice, none missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest import db
from digest.subscribers import add_subscriber

PEOPLE = 60


@pytest.fixture
def big_audience(project, engine, settings, sample_issue, fake_sendgrid):  # type: ignore[no-untyped-def]
    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(
        "segments:\n  - name: everyone\n    description: Everyone\n", encoding="utf-8"
    )
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("[sendgrid]\n", "[sendgrid]\nbatch_size = 10\n"), encoding="utf-8"
    )
    for number in range(PEOPLE):
        add_subscriber(
            engine, settings, f"reader{number}@example.org", {"first_name": f"R{number}"}, consent_source="test"
        )
    return [f"reader{number}@example.org" for number in range(PEOPLE)]


def digest(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("SENDGRID_", "DIGEST_"))},
    )


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "digest", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("SENDGRID_", "DIGEST_"))},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def arm_killer(fake, request_number: int, when: str) -> tuple[dict[str, subprocess.Popen[str]], threading.Event]:  # type: ignore[no-untyped-def]
    """SIGKILL the process put in the returned holder (as ``holder["process"]``) when the fake SendGrid
    gets request ``request_number``: "before-answer" (it still takes the batch, the sender never hears
    of it) or "after-answer" (right after the answer, mid-bookkeeping). The event is set once killed."""
    holder: dict[str, subprocess.Popen[str]] = {}
    killed = threading.Event()

    def kill() -> None:
        os.kill(holder["process"].pid, signal.SIGKILL)
        killed.set()

    def on_request(number: int, _body: dict) -> None:  # type: ignore[type-arg]
        if number != request_number or killed.is_set():
            return
        if when == "before-answer":
            kill()
        else:
            threading.Timer(0.002, kill).start()

    fake.on_request = on_request
    return holder, killed


def states(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.deliveries.c.state, sa.func.count()).group_by(db.deliveries.c.state))
        return dict(rows.all())


@pytest.mark.parametrize(
    ("request_number", "when"),
    [(1, "before-answer"), (3, "before-answer"), (2, "after-answer"), (5, "after-answer"), (6, "before-answer")],
)
def test_killed_send_resumes_with_nobody_twice_and_nobody_missing(
    project,
    engine,
    big_audience,
    fake_sendgrid,
    request_number,
    when,  # type: ignore[no-untyped-def]
) -> None:
    holder, killed = arm_killer(fake_sendgrid, request_number, when)
    holder["process"] = digest(
        project, "send", "2025-04-10", "--segment", "everyone", "--provider", "sendgrid", "--yes"
    )
    holder["process"].wait(timeout=120)
    assert killed.is_set() and holder["process"].returncode == -signal.SIGKILL
    fake_sendgrid.on_request = None
    before = states(engine)
    assert before.get("accepted", 0) < PEOPLE

    # The provider's events arrive (as SendGrid's webhook would post them) and settle what they can.
    events = project / "events.json"
    events.write_text(json.dumps(fake_sendgrid.processed_events()), encoding="utf-8")
    run(project, "events", "import", str(events))
    assert states(engine).get("sending", 0) == 0 or when == "after-answer"

    resumed = run(project, "send", "2025-04-10", "--resume", "--resend-uncertain")
    assert "Taking over the stale send lock" in resumed.stderr
    assert states(engine) == {"accepted": PEOPLE}
    counts = fake_sendgrid.recipient_counts()
    assert sorted(counts) == sorted(big_audience)
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    assert fake_sendgrid.rejected == []


def test_ten_percent_rate_limits_and_errors(project, engine, big_audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    fake_sendgrid.failure_rate = 0.1
    fake_sendgrid.seed = 7
    fake_sendgrid.random.seed(7)
    run(project, "send", "2025-04-10", "--segment", "everyone", "--provider", "sendgrid", "--yes")
    assert states(engine) == {"accepted": PEOPLE}
    assert set(fake_sendgrid.recipient_counts().values()) == {1}
    assert fake_sendgrid.requests > PEOPLE // 10  # some answers were 429 or 500 and retried


def test_timeouts_leave_rows_uncertain_and_reported_never_doubled(project, engine, big_audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    fake_sendgrid.script("ok", "hang", "ok", "hang")
    result = run(project, "send", "2025-04-10", "--segment", "everyone", "--provider", "sendgrid", "--yes")
    assert "deliveries are uncertain" in result.stderr
    assert states(engine) == {"accepted": PEOPLE - 20, "sending": 20}
    assert "uncertain 20" in result.stdout
    assert set(fake_sendgrid.recipient_counts().values()) == {1}
    # Their events settle them; nothing is sent again.
    events = project / "events.json"
    events.write_text(json.dumps(fake_sendgrid.processed_events()), encoding="utf-8")
    run(project, "events", "import", str(events))
    assert states(engine) == {"accepted": PEOPLE}
    assert sum(fake_sendgrid.recipient_counts().values()) == PEOPLE


def test_ctrl_c_pauses_a_real_send_between_batches(project, engine, big_audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    holder: dict[str, subprocess.Popen[str]] = {}

    def interrupt(number: int, _body: dict) -> None:  # type: ignore[type-arg]
        if number == 2:
            os.kill(holder["process"].pid, signal.SIGINT)

    fake_sendgrid.on_request = interrupt
    holder["process"] = digest(
        project, "send", "2025-04-10", "--segment", "everyone", "--provider", "sendgrid", "--yes"
    )
    out, err = holder["process"].communicate(timeout=120)
    assert holder["process"].returncode == 0, err
    assert "Pausing after this batch" in err
    assert "Send #1: paused. accepted 20, failed 0, skipped 0, pending 40, uncertain 0." in out
    fake_sendgrid.on_request = None
    run(project, "send", "2025-04-10", "--resume")
    assert states(engine) == {"accepted": PEOPLE}
    assert set(fake_sendgrid.recipient_counts().values()) == {1}
