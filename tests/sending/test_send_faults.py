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

from digest.people.subscribers import add_subscriber
from digest.store import db

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


class StderrWatch:
    """Reads a child's stderr as it comes, so a test can wait for a line instead of sleeping."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: any(text in line for line in self.lines), timeout), self.lines

    def text(self) -> str:
        self.thread.join(timeout=60)
        return "".join(self.lines)


FIRST_CTRL_C = "Ctrl-C: finishing the batch in flight"


def patient(project: Path) -> None:
    """A SendGrid timeout far longer than the test holds an answer back: the signals decide, not the clock."""
    toml = project / "digest.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("timeout = 1.0", "timeout = 120.0"), encoding="utf-8")


def test_a_first_ctrl_c_finishes_the_batch_in_flight_records_it_and_stops(  # type: ignore[no-untyped-def]
    project, engine, big_audience, fake_sendgrid
) -> None:
    holder: dict[str, object] = {}

    def interrupt(number: int, _body: dict) -> None:  # type: ignore[type-arg]
        if number == 2:  # batch 2 is with the provider: the sender waits for its answer
            os.kill(holder["process"].pid, signal.SIGINT)  # type: ignore[attr-defined]
            holder["watch"].wait_for(FIRST_CTRL_C)  # type: ignore[attr-defined]

    fake_sendgrid.on_request = interrupt
    patient(project)
    process = digest(project, "send", "2025-04-10", "--segment", "everyone", "--provider", "sendgrid", "--yes")
    holder.update(process=process, watch=StderrWatch(process))
    out = process.stdout.read()  # type: ignore[union-attr]
    process.wait(timeout=120)
    err = holder["watch"].text()  # type: ignore[attr-defined]
    assert process.returncode == 130, err
    assert "\nCtrl-C: finishing the batch in flight, recording it, then stopping (Ctrl-C again stops at once" in err
    assert out.endswith(
        "Send #1: paused. accepted 20, failed 0, skipped 0, pending 40, uncertain 0.\n"
        "  paused by the operator\n"
        "Stopped by Ctrl-C once the batch in flight was answered and recorded: nothing is uncertain.\n"
        "Continue with `digest send 2025-04-10 --resume`.\n"
    ), out
    assert states(engine) == {"accepted": 20, "pending": 40}
    fake_sendgrid.on_request = None
    run(project, "send", "2025-04-10", "--resume")
    assert states(engine) == {"accepted": PEOPLE}
    assert set(fake_sendgrid.recipient_counts().values()) == {1}


def test_a_second_ctrl_c_stops_at_once_and_says_exactly_what_is_uncertain(  # type: ignore[no-untyped-def]
    project, engine, big_audience, fake_sendgrid
) -> None:
    holder: dict[str, object] = {}

    def interrupt_twice(number: int, _body: dict) -> None:  # type: ignore[type-arg]
        if number == 2:
            process = holder["process"]
            os.kill(process.pid, signal.SIGINT)  # type: ignore[attr-defined]
            holder["watch"].wait_for(FIRST_CTRL_C)  # type: ignore[attr-defined]
            os.kill(process.pid, signal.SIGINT)  # type: ignore[attr-defined]
            process.wait(timeout=60)  # type: ignore[attr-defined]  # the sender is gone before the answer: batch 2 was taken

    fake_sendgrid.on_request = interrupt_twice
    patient(project)
    process = digest(project, "send", "2025-04-10", "--segment", "everyone", "--provider", "sendgrid", "--yes")
    holder.update(process=process, watch=StderrWatch(process))
    out = process.stdout.read()  # type: ignore[union-attr]
    process.wait(timeout=120)
    err = holder["watch"].text()  # type: ignore[attr-defined]
    assert process.returncode == 130, out + err
    assert out.endswith(
        "Send #1: paused. accepted 10, failed 0, skipped 0, pending 40, uncertain 10.\n"
        "  stopped at once by a second Ctrl-C\n"
        "Stopped at once by a second Ctrl-C: the 10 deliveries of batch 2 were handed to sendgrid and its answer "
        "never came, so they are uncertain (10 uncertain in all).\n"
        "`digest send 2025-04-10 --resume` sends the 40 still pending and leaves the uncertain ones until "
        "sendgrid's events settle them; `digest send 2025-04-10 --resume --resend-uncertain` also sends the 10 "
        "uncertain ones again, so whoever already got one gets a second copy.\n"
    ), out + err
    assert states(engine) == {"accepted": 10, "sending": 10, "pending": 40}
    fake_sendgrid.on_request = None
    run(project, "send", "2025-04-10", "--resume")
    assert states(engine) == {"accepted": 50, "sending": 10}
    events = project / "events.json"
    events.write_text(json.dumps(fake_sendgrid.processed_events()), encoding="utf-8")
    run(project, "events", "import", str(events))
    assert states(engine) == {"accepted": PEOPLE}
    assert set(fake_sendgrid.recipient_counts().values()) == {1}
