"""digest's webhook ingest in one process: what `digest serve` does for each signed POST, without HTTP.

Run: .venv/bin/python bench/digest_ingest.py PROJECT_FOLDER BODIES.jsonl
(one JSON line out: the seconds of the ingest loop and what it stored).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    from digest.config import load_settings
    from digest.events.intake import ingest_webhook_body
    from digest.providers.sendgrid.webhook import check_signature, load_public_key
    from digest.store.db import open_database

    folder, bodies = Path(sys.argv[1]), Path(sys.argv[2])
    settings = load_settings(folder / "digest.toml")
    engine = open_database(settings.database_url)
    key = load_public_key(settings.sendgrid.webhook_public_key or "")
    posts = [json.loads(line) for line in bodies.read_text(encoding="utf-8").splitlines()]
    stored = received = 0
    start = time.perf_counter()
    for post in posts:
        problem = check_signature(
            key, post["body"], post["signature"], post["stamp"], max_age=settings.events.webhook_max_age_seconds
        )
        if problem:
            raise SystemExit(problem)
        report = ingest_webhook_body(engine, settings, post["body"])
        stored += report.stored
        received += report.received
    seconds = time.perf_counter() - start
    engine.dispose()
    print(json.dumps({"seconds": seconds, "events": stored, "received": received, "posts": len(posts)}))


if __name__ == "__main__":
    main()
