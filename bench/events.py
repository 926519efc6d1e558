"""Ingest 100,000 events through the signed webhook over HTTP, alone and while a send runs.

`digest serve` (waitress) runs as its own process; this script posts signed
batches of 2,000 events (about 500 KB, as SendGrid batches them) from two
client threads, then does it again while `digest send` sends another issue to
the fake SendGrid against the same SQLite database.

With ``--stored N`` the events table holds N events of past issues before
the first post, as a database that has run for a while does.

Run: .venv/bin/python bench/events.py [EVENTS] [--stored N]
"""

from __future__ import annotations

import base64
import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import BIN, machine, remove
from bench.fake_servers import SendGridProcess
from bench.send import project_with_subscribers
from bench.snapshots import prefill_events

BATCH = 2000
KINDS = ["delivered"] * 6 + ["open"] * 2 + ["click", "processed"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_events(deliveries: list[tuple[int, str]], count: int, seed: int) -> list[dict]:  # type: ignore[type-arg]
    rng = random.Random(seed)
    events = []
    for number in range(count):
        delivery_id, email = deliveries[number % len(deliveries)]
        kind = "bounce" if number % 100 == 0 else rng.choice(KINDS)
        event = {
            "email": email,
            "timestamp": int(time.time()),
            "event": kind,
            "sg_event_id": f"{seed}-{number}",
            "sg_message_id": f"msg{delivery_id // 1000}.filter0.{number}",
            "delivery_id": str(delivery_id),
            "issue_id": "2025-04-10",
            "category": ["safe-digest", "2025-04-10"],
        }
        if kind == "click":
            event["url"] = "https://news.safe.example.org/archive/2025-04-10/"
        if kind == "bounce":
            event.update(type="bounce", status="5.1.1", reason="550 5.1.1 user unknown")
        events.append(event)
    return events


def post_all(
    url: str, key: ec.EllipticCurvePrivateKey, events: list[dict], clients: int = 2
) -> tuple[float, dict[int, int]]:  # type: ignore[type-arg]
    bodies = [json.dumps(events[i : i + BATCH]).encode() for i in range(0, len(events), BATCH)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                _, body = queue.pop(0)
            stamp = str(int(time.time()))
            signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
            request = urllib.request.Request(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Twilio-Email-Event-Webhook-Signature": signature,
                    "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, statuses


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("events", type=int, nargs="?", default=100_000)
    parser.add_argument("--stored", type=int, default=0, help="events stored before the first post")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    run(args.events, stored=args.stored)


def run(count: int, database_url: str | None = None, label: str = "SQLite", *, stored: int = 0) -> None:
    """Both measurements on one database (SQLite by default)."""
    import sqlalchemy as sa

    from digest.config import load_settings
    from digest.store import db

    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    sendgrid = SendGridProcess()
    folder = project_with_subscribers(100_000, "\n[sendgrid]\ntimeout = 60\n", database_url)
    with (folder / ".env").open("a") as handle:
        handle.write(
            f"SENDGRID_WEBHOOK_PUBLIC_KEY={public}\nSENDGRID_API_KEY=SG.test-key-not-real\n"
            f"SENDGRID_API_HOST={sendgrid.url}\n"
        )
    digest = str(BIN / "digest")
    subprocess.run(
        [digest, "send", "2025-04-10", "--segment", "everyone", "--provider", "sendgrid", "--yes"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    settings = load_settings(folder / "digest.toml")
    engine = db.open_database(settings.database_url)
    with engine.connect() as conn:
        deliveries = [(row.id, row.email) for row in conn.execute(sa.select(db.deliveries.c.id, db.deliveries.c.email))]
    if stored:
        prefill_events(settings.database_url, deliveries, stored, "2025-04-10")
        label = f"{label}, {stored:,} events stored before"
    port = free_port()
    server = subprocess.Popen(
        [digest, "serve", "--port", str(port), "--threads", "4"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/webhooks/sendgrid"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        alone, statuses = post_all(url, key, make_events(deliveries, count, seed=1))
        print(
            f"[{label}] webhook, {count:,} signed events in batches of {BATCH}, nothing else running: {alone:.2f} s, "
            f"{count / alone:,.0f} events/s, answers {statuses}"
        )
        # A second issue to send at the same time.
        subprocess.run(
            [digest, "issue", "new", "--date", "2025-04-11", "--days", "8"], cwd=folder, check=True, capture_output=True
        )
        sender = subprocess.Popen(
            [digest, "send", "2025-04-11", "--segment", "everyone", "--provider", "sendgrid", "--yes"],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        busy, statuses = post_all(url, key, make_events(deliveries, count, seed=2))
        out, err = sender.communicate(timeout=600)
        locked = err.count("database is locked")
        print(
            f"[{label}] webhook, {count:,} events while `digest send` sends 100,000 to the fake SendGrid: {busy:.2f} s, "
            f"{count / busy:,.0f} events/s, answers {statuses}; send: {out.strip().splitlines()[-1]}; "
            f"'database is locked' in the sender's output: {locked}"
        )
        with engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one()
        print(f"[{label}] events stored: {stored:,} of {2 * count:,} posted")
    finally:
        server.terminate()
        server.wait(timeout=10)
        sendgrid.stop()
        engine.dispose()
        remove(folder)


if __name__ == "__main__":
    main()
