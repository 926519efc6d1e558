"""Send an issue to N subscribers through the SendGrid provider to a fake server in another process.

Measures digest's send as a process (its own peak RSS, the fake server's
count of copies per address), planning and sending apart in one process, and
the naive way (one API call per recipient, on a sample). Also sends 5,000
messages through SMTP to aiosmtpd. The ratio to the send floor (the same
durable work in plain code) is bench/ratios.py's.

Run: .venv/bin/python bench/send.py [RECIPIENTS ...]   (default 100000)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, machine, measure_python, remove
from bench.fake_servers import SendGridProcess, SmtpProcess
from bench.render import build_project

SEGMENTS = "segments:\n  - name: everyone\n    description: Everyone\n"


def project_with_subscribers(count: int, extra_toml: str = "", database_url: str | None = None) -> Path:
    """An issue of 12 stories and ``count`` active subscribers (inserted in bulk)."""
    from digest.config import load_settings
    from digest.people.emails import keyed_hash
    from digest.store import db
    from digest.store.bulk import bulk_insert

    folder = build_project()
    if database_url:
        with (folder / ".env").open("a", encoding="utf-8") as handle:
            handle.write(f"DIGEST_DATABASE_URL={database_url}\n")
    with (folder / "digest.toml").open("a", encoding="utf-8") as handle:
        handle.write(extra_toml)
    (folder / "subscribers").mkdir(exist_ok=True)
    (folder / "subscribers" / "segments.yaml").write_text(SEGMENTS, encoding="utf-8")
    subprocess.run(
        [str(BIN / "digest"), "articles", "import", "articles.txt"], cwd=folder, check=True, capture_output=True
    )
    subprocess.run(
        [str(BIN / "digest"), "issue", "new", "--date", "2025-04-10"], cwd=folder, check=True, capture_output=True
    )
    settings = load_settings(folder / "digest.toml")
    engine = db.open_database(settings.database_url)
    secret = settings.require_secret_key()
    now = db.utcnow()
    with db.write(engine) as conn:
        for start in range(0, count, 10_000):
            rows = []
            for number in range(start, min(count, start + 10_000)):
                key = f"reader{number}@school{number % 997}.example.org"
                rows.append(
                    {
                        "email": key,
                        "email_key": key,
                        "email_hash": keyed_hash(secret, key),
                        "first_name": f"R{number}",
                        "last_name": "",
                        "organisation": "",
                        "role": "",
                        "sector": "education",
                        "region": "",
                        "attributes": {},
                        "topics": [],
                        "key_contact": False,
                        "status": "active",
                        "status_reason": "",
                        "status_changed_at": now,
                        "consent_source": "bench",
                        "consent_at": now,
                        "consent_text": "",
                        "created_at": now,
                        "updated_at": now,
                        "soft_bounce_score": 0,
                        "last_soft_bounce_at": None,
                    }
                )
            bulk_insert(conn, db.subscribers, rows)
    engine.dispose()
    return folder


def timed_send(folder: Path, provider: str) -> tuple[float, float, str]:
    """Run `digest send` as a process; (seconds, its own peak RSS in MB, summary line)."""
    run = measure_python(
        ["-m", "digest", "send", "2025-04-10", "--segment", "everyone", "--provider", provider, "--yes"], folder
    )
    return run.seconds, run.peak_mb or 0.0, run.stdout.strip().splitlines()[-1]


def in_process_phases(folder: Path, server_url: str) -> dict[str, float]:
    """Planning and sending timed separately, inside one process."""
    from digest.config import load_settings
    from digest.sending import plan_send, run_send
    from digest.store.db import open_database

    settings = load_settings(folder / "digest.toml")
    engine = open_database(settings.database_url)
    start = time.perf_counter()
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid")
    planned = time.perf_counter() - start
    start = time.perf_counter()
    outcome = run_send(engine, settings, plan.send_id or 0)
    sent = time.perf_counter() - start
    engine.dispose()
    return {"plan": planned, "send": sent, "accepted": outcome.counts["accepted"], "requests": outcome.requests}


def naive(folder: Path, server_url: str, sample: int) -> float:
    """One API call per recipient, through the same provider code."""
    from dataclasses import replace

    from digest.config import load_settings
    from digest.sending import plan_send, run_send
    from digest.store.db import open_database

    settings = load_settings(folder / "digest.toml")
    settings = replace(settings, sendgrid=replace(settings.sendgrid, batch_size=1))
    engine = open_database(settings.database_url)
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid")
    start = time.perf_counter()
    run_send(engine, settings, plan.send_id or 0)
    return time.perf_counter() - start


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [100_000]
    server = SendGridProcess()
    toml = "\n[sendgrid]\ntimeout = 60\n"
    env_line = f"SENDGRID_API_KEY=SG.test-key-not-real\nSENDGRID_API_HOST={server.url}\n"
    print(f"machine: {machine()}")
    try:
        for size in sizes:
            folder = project_with_subscribers(size, toml)
            with (folder / ".env").open("a") as handle:
                handle.write(env_line)
            server.reset()  # addresses repeat between sizes: count each run on its own
            seconds, peak, summary = timed_send(folder, "sendgrid")
            after = server.stats()
            before = {"requests": 0, "recipients": 0}
            print(
                f"digest send, {size:,} recipients, SendGrid provider, as a process: {seconds:.2f} s "
                f"({size / seconds:,.0f} recipients/s), peak RSS {peak:.0f} MB, "
                f"{after['requests'] - before['requests']} requests; {summary}"
            )
            print(
                f"  fake server: {after['recipients'] - before['recipients']:,} recipients accepted, "
                f"at most {after['max_per_address']} per address"
            )
            remove(folder)
        size = 100_000 if 100_000 in sizes else sizes[0]
        folder = project_with_subscribers(size, toml)
        with (folder / ".env").open("a") as handle:
            handle.write(env_line)
        phases = in_process_phases(folder, server.url)
        print(
            f"in one process, {size:,} recipients: plan {phases['plan']:.2f} s, send {phases['send']:.2f} s "
            f"({size / phases['send']:,.0f} recipients/s), {phases['requests']} requests"
        )
        remove(folder)
        sample = 2_000
        folder = project_with_subscribers(sample, toml)
        with (folder / ".env").open("a") as handle:
            handle.write(env_line)
        naive_seconds = naive(folder, server.url, sample)
        print(
            f"naive (one API call per recipient), {sample:,} recipients: {naive_seconds:.2f} s "
            f"({sample / naive_seconds:,.0f} recipients/s)"
        )
        print(f"  digest is {(size / phases['send']) / (sample / naive_seconds):,.0f}x the naive rate")
        remove(folder)
    finally:
        server.stop()
    smtp = SmtpProcess()
    try:
        count = 5_000
        folder = project_with_subscribers(count, f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n')
        seconds, peak, summary = timed_send(folder, "smtp")
        print(
            f"digest send, {count:,} messages through SMTP to aiosmtpd: {seconds:.2f} s "
            f"({count / seconds:,.0f} messages/s), server received {smtp.received():,}; {summary}"
        )
        remove(folder)
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
