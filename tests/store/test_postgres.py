"""PostgreSQL as the shared database: copying a SQLite database in, and races only a server shows.

These need a PostgreSQL server (DIGEST_TEST_DATABASE_URL; .ci/run starts one).
Races use several processes, not threads pretending.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.store import db
from tests.conftest import require_tool

PG = os.environ.get("DIGEST_TEST_DATABASE_URL", "")


@pytest.fixture
def pg_url():  # type: ignore[no-untyped-def]
    require_tool(bool(PG), "no PostgreSQL server for the PostgreSQL half", tool="postgresql")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = db.create_db_engine(PG)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_sqlite_database_is_copied_into_postgresql_and_used(
    engine, settings, audience, project, pg_url, invoke
) -> None:  # type: ignore[no-untyped-def]
    from digest.events.rules import ingest
    from digest.providers.sendgrid.events import normalise_sendgrid
    from digest.sending import start_send

    start_send(engine, settings, "2025-04-10", ["health", "schools", "everyone"])
    ingest(
        engine,
        settings,
        [
            normalise_sendgrid(
                {"email": "person0@example.org", "event": "bounce", "type": "bounce", "sg_event_id": "b1"}
            )
        ],
    )
    result = invoke("db", "copy", "--to", pg_url)
    assert result.exit_code == 0, result.output
    assert result.output.endswith("every table matches.\n")
    assert "  deliveries                  12 rows  checksum same\n" in result.output
    # Use the copy: PostgreSQL now answers, and new rows get new ids.
    (project / ".env").write_text((project / ".env").read_text() + f"DIGEST_DATABASE_URL={pg_url}\n")
    listing = invoke("subscribers", "list", "--status", "bounced")
    assert listing.output == "person0@example.org\tbounced\tPerson0\n1 subscriber.\n"
    added = invoke("subscribers", "add", "new@example.org", "--consent-source", "after the move")
    assert added.exit_code == 0, added.output
    report = invoke("report", "2025-04-10", "--format", "json")
    assert json.loads(report.output)[0]["total"]["accepted"] == 12
    again = invoke("db", "copy", "--to", pg_url)
    assert again.exit_code == 1 and "already holds data" in again.output


def _send_in_child(project: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    result = subprocess.run(
        [sys.executable, "-m", "digest", "send", "2025-04-10", "--segment", "everyone", "--yes"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    queue.put((result.returncode, result.stdout, result.stderr))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_senders_race_for_one_issue(engine, settings, audience, project) -> None:  # type: ignore[no-untyped-def]
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    racers = [context.Process(target=_send_in_child, args=(str(project), queue)) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=300)
    # Both may exit 0 (the loser then finds nobody left): the winner is the one that sent.
    outcomes = sorted([queue.get(timeout=5) for _ in racers], key=lambda item: (item[0], "accepted 12" not in item[1]))
    (won_code, won_out, _), (lost_code, lost_out, lost_err) = outcomes
    assert won_code == 0 and "accepted 12" in won_out
    if lost_code == 1:
        # It planned while the winner's send was unfinished: it names that send and stops.
        assert (
            "already has an unfinished send (#1, " in lost_err
            or "is being sent by another process: lock held by" in lost_err
        ), lost_err
    else:
        # It planned after the winner had finished: nobody is left to mail.
        assert "12 already sent this issue" in lost_out
        assert lost_out.endswith("Nobody to send to: nothing was written or sent.\n")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.sends)).scalar_one() == 1
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.deliveries.c.subscriber_id)).scalars().all()
    assert len(rows) == len(set(rows)) == 12
    assert len(list((project / "outbox" / "2025-04-10").glob("*.eml"))) == 12


def _post_events(project: str, public_key_file: str, count: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """A webhook worker: the Flask app in this process, fed signed event batches."""
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from digest.config import load_settings
    from digest.web import create_app

    key = serialization.load_pem_private_key(Path(public_key_file).read_bytes(), password=None)
    os.chdir(project)
    client = create_app(load_settings(Path(project) / "digest.toml")).test_client()
    statuses = []
    for batch in range(count):
        body = json.dumps(
            [
                {
                    "email": f"person{n % 12}@example.org",
                    "event": "open",
                    "sg_event_id": f"w{batch}-{n}",
                    "timestamp": int(time.time()),
                }
                for n in range(50)
            ]
        ).encode()
        stamp = str(int(time.time()))
        signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        answer = client.post(
            "/webhooks/sendgrid",
            data=body,
            headers={
                "X-Twilio-Email-Event-Webhook-Signature": signature,
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            },
        )
        statuses.append(answer.status_code)
    queue.put(statuses)


def _import_in_child(project: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    result = subprocess.run(
        [sys.executable, "-m", "digest", "subscribers", "import", "more.csv"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    queue.put((result.returncode, result.stdout + result.stderr))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_webhook_send_and_import_at_once(engine, settings, audience, project) -> None:  # type: ignore[no-untyped-def]
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    (project / "webhook.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    (project / ".env").write_text((project / ".env").read_text() + f"SENDGRID_WEBHOOK_PUBLIC_KEY={public}\n")
    (project / "more.csv").write_text("email,sector\n" + "".join(f"extra{n}@example.org,health\n" for n in range(3000)))
    context = multiprocessing.get_context("spawn")
    hooks: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    others: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [
        context.Process(target=_post_events, args=(str(project), str(project / "webhook.pem"), 20, hooks)),
        context.Process(target=_send_in_child, args=(str(project), others)),
        context.Process(target=_import_in_child, args=(str(project), others)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert hooks.get(timeout=5) == [200] * 20
    results = [others.get(timeout=5) for _ in range(2)]
    assert all(code == 0 for code, *_ in results), results
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one() == 1000
        assert conn.execute(sa.select(sa.func.count()).select_from(db.subscribers)).scalar_one() == 3012
        delivered = conn.execute(sa.select(sa.func.count()).select_from(db.deliveries)).scalar_one()
    assert 12 <= delivered <= 3012  # the send planned before or after some of the import, never twice


def test_a_wrong_password_is_never_shown(pg_url) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import urlsplit

    from digest.errors import DigestError

    parts = urlsplit(PG)
    wrong = f"postgresql://{parts.username or 'digest'}:s3cret-Pa55@{parts.hostname}:{parts.port or 5432}/no_such_db"
    with pytest.raises(DigestError) as caught:
        db.open_database(wrong)
    assert "s3cret-Pa55" not in str(caught.value)
    assert str(caught.value).startswith(f"cannot open the database postgresql://{parts.username or 'digest'}:***@")
