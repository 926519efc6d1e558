"""The floors: the same durable work as digest's send, webhook ingest and CSV import, in the plainest code.

Each floor writes the same tables of the same database (SQLite or PostgreSQL)
with the driver alone: no SQLAlchemy, no digest code. A measure of digest is
reported as a ratio to its floor from the same run (see bench/ratios.py).

* send: a keyset SELECT of the next 1,000 ledger rows, an HMAC link token per
  recipient, a request body of 1,000 personalizations with the real rendered
  content (read from the send's frozen variant), per-recipient substitutions,
  custom_args and headers shaped like digest's, a POST on one keep-alive
  connection to the same fake server, then one executemany UPDATE and one
  COMMIT per batch; SQLite in WAL mode with ``synchronous=FULL``.
* ingest: the signature checked (ECDSA P-256 over timestamp + body),
  ``json.loads``, one executemany ``INSERT … ON CONFLICT DO NOTHING`` of the
  normalised rows into the events table, one COMMIT per body.
* import: the csv module, a regex address check, an HMAC per address, one
  executemany into the subscribers table, one COMMIT.

Run one as a process: .venv/bin/python bench/floors.py KIND CONFIG_JSON
(it prints one JSON line: the seconds of its timed part and what it did).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import html
import http.client
import json
import re
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

BATCH = 1000
TYPES = {"processed": "processed", "delivered": "delivered", "deferred": "deferred", "bounce": "bounced",
         "dropped": "dropped", "open": "opened", "click": "clicked", "spamreport": "complained",
         "unsubscribe": "unsubscribed"}  # fmt: skip


class Database:
    """A DB-API connection to SQLite or PostgreSQL, with the parameter style and time format of each."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            import sqlite3

            self.conn: Any = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=60000")
        else:
            import psycopg

            self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def time(self, moment: datetime) -> Any:
        # What SQLAlchemy's DateTime stores on SQLite (text); PostgreSQL takes the datetime itself.
        return f"{moment:%Y-%m-%d %H:%M:%S.%f}" if self.sqlite else moment.replace(tzinfo=None)

    def query(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        cursor = self.conn.cursor()
        cursor.execute(self.sql(text), params)
        return list(cursor.fetchall())

    def begin(self) -> Any:
        cursor = self.conn.cursor()
        cursor.execute("BEGIN")
        return cursor

    def commit(self, cursor: Any) -> None:
        cursor.execute("COMMIT")


def _token(keyed: Any, subscriber_id: int, delivery_id: int) -> str:
    mac = keyed.copy()
    mac.update(f"{subscriber_id}.{delivery_id}".encode())
    signature = base64.urlsafe_b64encode(mac.digest()[:16]).decode("ascii").rstrip("=")
    return f"{subscriber_id}.{delivery_id}.{signature}"


def send(config: dict[str, Any]) -> dict[str, Any]:
    """Send every pending delivery of ``send_id`` through the fake SendGrid; returns what was done."""
    start = time.perf_counter()
    db = Database(config["db"])
    send_id, issue_id, base = config["send_id"], config["issue_id"], config["base_url"]
    variant, subject, text, page = db.query(
        "SELECT variant, subject, text, html FROM send_variants WHERE send_id = ?", (send_id,)
    )[0]
    # The parts every recipient shares, written once: their links carry only the token to substitute.
    shared = {"%%view_url%%": f"{base}/archive/{issue_id}/", "%%unsubscribe_url%%": f"{base}/unsubscribe/%%token%%",
              "%%preferences_url%%": f"{base}/preferences/%%token%%"}  # fmt: skip
    page = page.replace("%%greeting_name%%", "%%greeting_name_html%%")
    for name, value in shared.items():
        text, page = text.replace(name, value), page.replace(name, html.escape(value))
    keyed = hmac.new(config["secret"].encode(), b"digest-link:", hashlib.sha256)
    server = urlsplit(config["server"])
    connection = http.client.HTTPConnection(server.hostname or "127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {config['api_key']}", "Content-Type": "application/json"}
    select = (
        "SELECT d.id, d.subscriber_id, s.email, s.first_name, s.last_name FROM deliveries d "
        "JOIN subscribers s ON s.id = d.subscriber_id "
        "WHERE d.send_id = ? AND d.state = 'pending' AND d.variant = ? AND d.id > ? ORDER BY d.id LIMIT 1000"
    )
    update = db.sql("UPDATE deliveries SET state = 'accepted', provider_message_id = ?, updated_at = ? WHERE id = ?")
    last, sent, requests, body_bytes = 0, 0, 0, 0
    while True:
        rows = db.query(select, (send_id, variant, last))
        if not rows:
            break
        last = rows[-1][0]
        personalizations = []
        for delivery_id, subscriber_id, email, first_name, last_name in rows:
            token = _token(keyed, subscriber_id, delivery_id)
            greeting = first_name.strip() or "colleague"
            to = {"email": email, "name": f"{first_name} {last_name}".strip()}
            personalizations.append({
                "to": [to],
                "substitutions": {"%%token%%": token, "%%greeting_name%%": greeting,
                                  "%%greeting_name_html%%": html.escape(greeting)},
                "custom_args": {"issue_id": issue_id, "digest": "safe-digest", "send_id": str(send_id),
                                "delivery_id": str(delivery_id)},
                "headers": {"List-Unsubscribe": f"<{base}/unsubscribe/{token}>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            })  # fmt: skip
        body = json.dumps({
            "from": {"email": config["from_address"], "name": config["from_name"]},
            "subject": subject,
            "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": page}],
            "personalizations": personalizations,
            "categories": ["safe-digest", issue_id],
            "tracking_settings": {"subscription_tracking": {"enable": False}},
        }).encode()  # fmt: skip
        connection.request("POST", "/v3/mail/send", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 202:
            raise SystemExit(f"the fake server answered {answer.status}")
        message_id = answer.getheader("X-Message-Id")
        now = db.time(datetime.now(UTC))
        cursor = db.begin()
        cursor.executemany(update, [(message_id, now, row[0]) for row in rows])
        db.commit(cursor)
        sent += len(rows)
        requests += 1
        body_bytes += len(body)
    return {"seconds": time.perf_counter() - start, "recipients": sent, "requests": requests, "body_bytes": body_bytes}


def _verifier(public_key_b64: str) -> Any:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key: Any = serialization.load_der_public_key(base64.b64decode(public_key_b64))

    def verify(signature: str, stamp: str, body: bytes) -> None:
        key.verify(base64.b64decode(signature), stamp.encode() + body, ec.ECDSA(hashes.SHA256()))

    return verify


def _text(value: Any, limit: int = 2000) -> str:
    return value[:limit] if isinstance(value, str) else "" if value is None else str(value)[:limit]


def ingest(config: dict[str, Any]) -> dict[str, Any]:
    """Check, read and store the signed bodies in ``config['bodies']`` (a JSON-lines file)."""
    db = Database(config["db"])
    verify = _verifier(config["public_key"])
    with open(config["bodies"], encoding="utf-8") as handle:
        posts = [json.loads(line) for line in handle]
    columns = ("provider, provider_event_id, type, raw_type, occurred_at, received_at, email, delivery_id, "
               "issue_id, message_id, bounce_class, status, reason, url, machine_open, placed, outcome, "
               "ingest_batch, bounce_reason, parser, matched_by, raw")  # fmt: skip
    insert = db.sql(
        f"INSERT INTO events ({columns}) VALUES ({', '.join('?' * 22)}) "  # noqa: S608 - our own column list
        "ON CONFLICT (provider, provider_event_id) DO NOTHING"
    )
    stored = 0
    start = time.perf_counter()
    for post in posts:
        body = post["body"].encode()
        verify(post["signature"], post["stamp"], body)
        received = db.time(datetime.now(UTC))
        batch = uuid.uuid4().hex
        rows = []
        for event in json.loads(body):
            raw_type = _text(event.get("event"), 64)
            kind = TYPES.get(raw_type, "unknown")
            bounce_class = None
            if kind == "bounced":
                if event.get("type") == "blocked":
                    kind, bounce_class = "blocked", "soft"
                else:
                    bounce_class = "hard"
            delivery = event.get("delivery_id")
            rows.append((
                "sendgrid", f"{_text(event.get('sg_event_id'), 160)}/{raw_type}", kind, raw_type,
                db.time(datetime.fromtimestamp(float(event["timestamp"]), UTC)), received,
                _text(event.get("email"), 320), int(delivery) if delivery else None, _text(event.get("issue_id"), 120),
                _text(event.get("sg_message_id"), 300).split(".", 1)[0] or None, bounce_class,
                _text(event.get("status"), 32), _text(event.get("reason")), _text(event.get("url")),
                event.get("sg_machine_open") is True, False, "", batch, "", "", "",
                json.dumps(event, ensure_ascii=False, separators=(",", ":")),
            ))  # fmt: skip
        cursor = db.begin()
        cursor.executemany(insert, rows)
        db.commit(cursor)
        stored += len(rows)
    return {"seconds": time.perf_counter() - start, "events": stored, "posts": len(posts)}


_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,63}$")


def _people(path: str, keyed: Any, now: str, source: str) -> Iterator[tuple[Any, ...]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for email, first, last, organisation, role, sector, region, phase in reader:
            email = email.strip()
            if not _ADDRESS.match(email):
                continue
            key = email.lower()
            mac = keyed.copy()
            mac.update(key.encode())
            attributes = json.dumps({"phase": phase}) if phase else "{}"
            yield (email, key, mac.hexdigest(), first.strip(), last.strip(), organisation.strip(), role.strip(),
                   sector.strip(), region.strip(), attributes, "[]", False, "active", "", now, source, now, "",
                   now, now, 0)  # fmt: skip


def import_csv(config: dict[str, Any]) -> dict[str, Any]:
    """Read ``config['csv']`` and insert its valid, distinct people into the subscribers table."""
    start = time.perf_counter()
    db = Database(config["db"])
    keyed = hmac.new(config["secret"].encode(), b"suppression:", hashlib.sha256)
    columns = ("email, email_key, email_hash, first_name, last_name, organisation, role, sector, region, "
               "attributes, topics, key_contact, status, status_reason, status_changed_at, consent_source, "
               "consent_at, consent_text, created_at, updated_at, soft_bounce_score")  # fmt: skip
    insert = db.sql(
        f"INSERT INTO subscribers ({columns}) VALUES ({', '.join('?' * 21)}) "  # noqa: S608 - our own column list
        "ON CONFLICT (email_key) DO NOTHING"
    )
    now = db.time(datetime.now(UTC))
    cursor = db.begin()
    cursor.executemany(insert, _people(config["csv"], keyed, now, "import: " + config["csv"].rsplit("/", 1)[-1]))
    db.commit(cursor)
    stored = db.query("SELECT count(*) FROM subscribers")[0][0]
    return {"seconds": time.perf_counter() - start, "stored": stored}


KINDS = {"send": send, "ingest": ingest, "import": import_csv}


if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](json.loads(sys.argv[2]))), flush=True)
