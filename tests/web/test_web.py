"""The web endpoint: signed webhook, unsubscribe (link and one-click), preferences, sign-up, archive."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from digest.config import load_settings
from digest.errors import NotFoundError
from digest.people import signups
from digest.people.links import make_token
from digest.people.subscribers import add_subscriber, get_subscriber, history
from digest.store import db
from tests.conftest import SECRET, SHARED, need_corpus


@pytest.fixture
def web(project: Path, keypair, engine):  # type: ignore[no-untyped-def]
    from digest.web import create_app

    with (project / ".env").open("a") as env:
        env.write(f"SENDGRID_WEBHOOK_PUBLIC_KEY={keypair[1]}\n")
    settings = load_settings(project / "digest.toml")
    app = create_app(settings, engine, background=False)  # the tests send queued confirmations themselves
    app.testing = True
    return app.test_client(), settings


def sign(private, body: bytes, stamp: str | None = None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    stamp = stamp or str(int(time.time()))
    signature = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


@pytest.fixture
def reader(engine, settings):  # type: ignore[no-untyped-def]
    return add_subscriber(engine, settings, "reader@example.org", {"first_name": "Rita"}, consent_source="test")


def count_events(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one()


@pytest.mark.corpus
def test_the_official_signature_vector_passes_and_its_negatives_fail() -> None:
    from sendgrid.helpers.eventwebhook import EventWebhook

    path = need_corpus(SHARED / "sendgrid" / "signature-vector.json", "SendGrid's signature test vector")
    vector = json.loads(path.read_text())
    payload = base64.b64decode(vector["payload_b64"]).decode()
    hook = EventWebhook()
    key = hook.convert_public_key_to_ecdsa(vector["public_key"])
    assert hook.verify_signature(payload, vector["signature"], vector["timestamp"], key) is True
    assert hook.verify_signature(payload.rstrip("\r\n"), vector["signature"], vector["timestamp"], key) is False


def test_signed_bounce_is_stored_once_and_applied(web, keypair, engine, reader) -> None:  # type: ignore[no-untyped-def]
    client, _settings = web
    body = json.dumps(
        [
            {
                "email": "reader@example.org",
                "event": "bounce",
                "type": "bounce",
                "status": "5.1.1",
                "reason": "550 no such user",
                "sg_event_id": "e1",
                "timestamp": int(time.time()),
            }
        ]
    ).encode()
    answer = client.post("/webhooks/sendgrid", data=body, headers=sign(keypair[0], body))
    assert answer.status_code == 200
    assert get_subscriber(engine, "reader@example.org").status == "bounced"
    again = client.post("/webhooks/sendgrid", data=body, headers=sign(keypair[0], body))
    assert again.status_code == 200 and count_events(engine) == 1
    entry = history(engine, reader.id)[-1]
    assert (entry.cause, entry.new_status, entry.event_id) == ("bounce", "bounced", 1)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),
        (
            {"X-Twilio-Email-Event-Webhook-Signature": "not base64!!", "X-Twilio-Email-Event-Webhook-Timestamp": "1"},
            403,
        ),
        (
            {
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(b"junk").decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": "x",
            },
            403,
        ),
    ],
)
def test_unsigned_or_malformed_signatures_store_nothing(web, engine, reader, headers, status) -> None:  # type: ignore[no-untyped-def]
    client, _settings = web
    body = json.dumps([{"email": "reader@example.org", "event": "spamreport", "sg_event_id": "x"}]).encode()
    answer = client.post("/webhooks/sendgrid", data=body, headers=headers)
    assert answer.status_code == status
    assert count_events(engine) == 0
    assert get_subscriber(engine, "reader@example.org").status == "active"


def test_altered_body_stale_timestamp_bad_json_and_huge_body(web, keypair, engine, reader) -> None:  # type: ignore[no-untyped-def]
    client, settings = web
    body = json.dumps([{"email": "reader@example.org", "event": "spamreport", "sg_event_id": "x"}]).encode()
    headers = sign(keypair[0], body)
    assert client.post("/webhooks/sendgrid", data=body.replace(b"x", b"y"), headers=headers).status_code == 403
    old = sign(keypair[0], body, stamp=str(int(time.time()) - 3600))
    assert client.post("/webhooks/sendgrid", data=body, headers=old).status_code == 403
    bad = b"[{not json"
    assert client.post("/webhooks/sendgrid", data=bad, headers=sign(keypair[0], bad)).status_code == 400
    huge = b"[" + b" " * settings.events.webhook_max_bytes + b"]"
    assert client.post("/webhooks/sendgrid", data=huge, headers=sign(keypair[0], huge)).status_code == 413
    assert count_events(engine) == 0


def test_without_a_public_key_the_webhook_refuses_everything(project, engine, reader) -> None:  # type: ignore[no-untyped-def]
    from digest.web import create_app

    client = create_app(load_settings(project / "digest.toml"), engine).test_client()
    answer = client.post("/webhooks/sendgrid", data=b"[]", headers={"Content-Type": "application/json"})
    assert answer.status_code == 503


def test_link_scanner_get_never_unsubscribes(web, engine, reader) -> None:  # type: ignore[no-untyped-def]
    client, _settings = web
    token = make_token(SECRET.encode(), reader.id, 0)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and b'<button type="submit">Unsubscribe</button>' in page.data
    assert get_subscriber(engine, "reader@example.org").status == "active"
    confirmed = client.post(f"/unsubscribe/{token}", data={})
    assert b"You are unsubscribed" in confirmed.data
    person = get_subscriber(engine, "reader@example.org")
    assert (person.status, history(engine, reader.id)[-1].cause) == ("unsubscribed", "unsubscribe-link")


def test_one_click_post_unsubscribes_at_once(web, engine, reader) -> None:  # type: ignore[no-untyped-def]
    client, _settings = web
    token = make_token(SECRET.encode(), reader.id, 0)
    answer = client.post(
        f"/unsubscribe/{token}",
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert get_subscriber(engine, "reader@example.org").status == "unsubscribed"
    assert history(engine, reader.id)[-1].cause == "one-click"


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "9" + t, lambda t: "x"]
)
def test_forged_tokens_change_nothing(web, engine, reader, mangle) -> None:  # type: ignore[no-untyped-def]
    client, _settings = web
    token = mangle(make_token(SECRET.encode(), reader.id, 0))
    for method in (client.get, client.post):
        answer = method(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click")
        assert answer.status_code == 400 and b"This link is not valid" in answer.data
    assert client.post(f"/preferences/{token}", data={"action": "unsubscribe"}).status_code == 400
    assert get_subscriber(engine, "reader@example.org").status == "active"


def test_preferences_save_topics_and_resubscribe(web, engine, reader) -> None:  # type: ignore[no-untyped-def]
    client, _settings = web
    token = make_token(SECRET.encode(), reader.id, 0)
    page = client.get(f"/preferences/{token}")
    assert b'value="water-safety" checked' in page.data
    client.post(f"/preferences/{token}", data={"action": "save", "topics": ["water-safety", "health"]})
    assert get_subscriber(engine, "reader@example.org").topics == ["water-safety", "health"]
    client.post(f"/preferences/{token}", data={"action": "unsubscribe"})
    assert get_subscriber(engine, "reader@example.org").status == "unsubscribed"
    back = client.post(f"/preferences/{token}", data={"action": "resubscribe"})
    assert b"Welcome back" in back.data
    assert get_subscriber(engine, "reader@example.org").status == "active"


def form(client):  # type: ignore[no-untyped-def]
    import re

    page = client.get("/subscribe")
    return re.search(rb'name="form_token" value="([^"]+)"', page.data).group(1).decode()


def test_double_opt_in_sign_up(web, engine, project) -> None:  # type: ignore[no-untyped-def]
    import email
    from email import policy

    client, _settings = web
    token = form(client)
    answer = client.post(
        "/subscribe",
        data={
            "form_token": token,
            "email": "New.Lead@School.example.org",
            "first_name": "Nia",
            "consent": "yes",
            "topics": ["education"],
        },
    )
    assert answer.status_code == 200 and b"Check your email" in answer.data
    with pytest.raises(NotFoundError):
        get_subscriber(engine, "new.lead@school.example.org")
    assert signups.send_queued(engine, _settings) == 1
    (path,) = (project / "outbox" / "subscribe").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    link = next(
        line
        for line in message.get_body(preferencelist=("plain",)).get_content().splitlines()
        if "/subscribe/confirm/" in line
    ).split(": ", 1)[1]
    confirm_path = link.replace("https://news.safe.example.org", "")
    assert b"Yes, send me the SAFE Newsfeed" in client.get(confirm_path).data  # a GET confirms nothing
    with pytest.raises(NotFoundError):
        get_subscriber(engine, "new.lead@school.example.org")
    client.post(confirm_path)
    person = get_subscriber(engine, "new.lead@school.example.org")
    assert (person.status, person.first_name, person.topics) == ("active", "Nia", ["education"])
    assert person.consent_source == "web sign-up, confirmed by email"


def test_sign_up_never_reveals_a_known_address(web, engine, reader, project) -> None:  # type: ignore[no-untyped-def]
    client, _settings = web
    known = client.post(
        "/subscribe", data={"form_token": form(client), "email": "reader@example.org", "consent": "yes"}
    )
    unknown = client.post(
        "/subscribe", data={"form_token": form(client), "email": "nobody@example.org", "consent": "yes"}
    )
    assert known.status_code == unknown.status_code == 200
    assert known.data == unknown.data


def test_cross_site_posts_and_floods_are_refused(web, engine) -> None:  # type: ignore[no-untyped-def]
    client, settings = web
    no_token = client.post("/subscribe", data={"email": "a@example.org", "consent": "yes"})
    assert no_token.status_code == 403
    other_site = client.post(
        "/subscribe",
        data={"form_token": form(client), "email": "a@example.org", "consent": "yes"},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    answers = [
        client.post(
            "/subscribe", data={"form_token": form(client), "email": f"p{n}@example.org", "consent": "yes"}
        ).status_code
        for n in range(settings.events.subscribe_rate_limit + 1)
    ]
    assert answers[-1] == 429 and set(answers[:-1]) == {200}


def test_archive_shows_only_sent_issues(web, engine, audience) -> None:  # type: ignore[no-untyped-def]
    from digest.sending import start_send

    client, settings = web
    assert client.get("/archive/2025-04-10/").status_code == 404
    start_send(engine, settings, "2025-04-10", ["everyone"])
    index = client.get("/archive/")
    assert b'<a href="2025-04-10/">10 April 2025</a>' in index.data
    issue = client.get("/archive/2025-04-10/")
    assert issue.status_code == 200 and b"Father found guilty of causing the death of his baby son" in issue.data
    article = client.get("/archive/2025-04-10/2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son.html")
    assert b"<h1>Father found guilty of causing the death of his baby son</h1>" in article.data
    feed = client.get("/archive/feed.atom")
    assert feed.mimetype == "application/atom+xml"
    assert b"<id>https://news.safe.example.org/archive/2025-04-10/</id>" in feed.data
    assert client.get("/archive/2025-04-10/../../digest.toml").status_code == 404


def test_through_a_real_http_server(project, engine, keypair, reader) -> None:  # type: ignore[no-untyped-def]
    """`digest serve` as a process (waitress, as in production), reached over 127.0.0.1."""
    import os
    import socket
    import subprocess
    import sys
    import urllib.request

    with (project / ".env").open("a") as env:
        env.write(f"SENDGRID_WEBHOOK_PUBLIC_KEY={keypair[1]}\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
                    assert answer.read() == b"ok\n"
                break
            except OSError:
                time.sleep(0.1)
        body = json.dumps(
            [{"email": "reader@example.org", "event": "spamreport", "sg_event_id": "s1", "timestamp": int(time.time())}]
        ).encode()
        request = urllib.request.Request(f"{base}/webhooks/sendgrid", data=body, headers=sign(keypair[0], body))
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        assert get_subscriber(engine, "reader@example.org").status == "complained"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize("key", ["not-base64!", "bm90IGEga2V5", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"])
def test_a_malformed_webhook_key_is_a_clear_error_at_start(invoke, project, key: str) -> None:  # type: ignore[no-untyped-def]
    from digest.errors import ConfigError
    from digest.web import create_app

    with (project / ".env").open("a", encoding="utf-8") as env:
        env.write(f"SENDGRID_WEBHOOK_PUBLIC_KEY={key}\n")
    with pytest.raises(ConfigError) as caught:
        create_app(load_settings(project / "digest.toml"))
    assert str(caught.value).startswith("SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid verification key")
