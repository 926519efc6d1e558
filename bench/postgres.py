"""The 100,000-recipient send and the 100,000-event webhook ingest on PostgreSQL beside SQLite.

Run: DIGEST_TEST_DATABASE_URL=postgresql://… .venv/bin/python bench/postgres.py
(each run uses a fresh schema in that database and drops it afterwards).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import events
from bench.common import machine, postgres_schema_url, remove
from bench.fake_servers import SendGridProcess
from bench.send import in_process_phases, project_with_subscribers

RECIPIENTS = 100_000


def main() -> None:
    base = os.environ.get("DIGEST_TEST_DATABASE_URL")
    if not base:
        sys.exit("set DIGEST_TEST_DATABASE_URL to a PostgreSQL database this script may create schemas in")
    print(f"machine: {machine()}")
    server = SendGridProcess()
    try:
        for label in ("SQLite", "PostgreSQL"):
            url, drop = postgres_schema_url(base) if label == "PostgreSQL" else (None, lambda: None)
            folder = project_with_subscribers(RECIPIENTS, "\n[sendgrid]\ntimeout = 60\n", url)
            with (folder / ".env").open("a") as handle:
                handle.write(f"SENDGRID_API_KEY=SG.test-key-not-real\nSENDGRID_API_HOST={server.url}\n")
            phases = in_process_phases(folder, server.url)
            print(
                f"[{label}] send to {RECIPIENTS:,}: plan {phases['plan']:.2f} s, send {phases['send']:.2f} s "
                f"({RECIPIENTS / phases['send']:,.0f} recipients/s), {phases['accepted']:,} accepted"
            )
            remove(folder)
            drop()
    finally:
        server.stop()
    for label in ("SQLite", "PostgreSQL"):
        url, drop = postgres_schema_url(base) if label == "PostgreSQL" else (None, lambda: None)
        events.run(RECIPIENTS, url, label)
        drop()


if __name__ == "__main__":
    main()
