"""Only a POST changes anything: GET, HEAD, OPTIONS, PUT, DELETE and PATCH change nothing, on every route.

Link scanners send HEAD (Flask answers HEAD with the GET view) and some send
OPTIONS; each request here carries the very body and headers that make the
POST change state, and the whole store is compared before and after. The
same is done through Flask's client and through `digest serve` over HTTP.
"""

from __future__ import annotations

import base64
import email
import http.client
import json
import re
import time
from email import policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from digest.config import load_settings
from digest.people import signups
from digest.people.emails import check_address
from digest.people.links import make_token
from digest.people.subscribers import add_subscriber
from digest.store import db
from tests.conftest import SECRET
from tests.serving import digest_serve

METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH")
TABLES = (
    db.subscribers,
    db.subscriber_history,
    db.suppressions,
    db.suppression_log,
    db.subscribe_requests,
    db.events,
    db.rate_limit_hits,
)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def snapshot(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a web request could change."""
    with engine.connect() as conn:
        return {table.name: sorted(tuple(map(repr, row)) for row in conn.execute(sa.select(table))) for table in TABLES}


@pytest.fixture
def state(project: Path, engine, keypair):  # type: ignore[no-untyped-def]
    """An active reader with their link token, a mailed sign-up link, and a signed spam report."""
    with (project / ".env").open("a") as env:
        env.write(f"SENDGRID_WEBHOOK_PUBLIC_KEY={keypair[1]}\n")
    settings = load_settings(project / "digest.toml")
    reader = add_subscriber(engine, settings, "reader@example.org", {"first_name": "Rita"}, consent_source="test")
    assert signups.request_signup(
        engine, settings, check_address("newcomer@example.org"), {"first_name": "Nell"}, client="192.0.2.1"
    )
    assert signups.send_queued(engine, settings) == 1
    (mail,) = (project / "outbox" / "subscribe").glob("*.eml")
    text = email.message_from_bytes(mail.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    confirm = re.search(r"/subscribe/confirm/(\S+)", text).group(1)  # type: ignore[union-attr]
    body = json.dumps(
        [{"email": "reader@example.org", "event": "spamreport", "sg_event_id": "m1", "timestamp": int(time.time())}]
    ).encode()
    stamp = str(int(time.time()))
    signature = keypair[0].sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    webhook_headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }
    token = make_token(SECRET.encode(), reader.id, 0)
    return settings, token, confirm, body, webhook_headers


def requests_that_would_change_state(state, form_token: str, cookie: str) -> list[tuple[str, bytes, dict[str, str]]]:  # type: ignore[no-untyped-def]
    _settings, token, confirm, body, webhook_headers = state
    signup = f"form_token={form_token}&email=someone%40example.org&consent=yes".encode()
    return [
        (f"/preferences/{token}", b"action=save&topics=health", FORM),
        (f"/unsubscribe/{token}", b"List-Unsubscribe=One-Click", FORM),
        (f"/subscribe/confirm/{confirm}", b"", FORM),
        ("/subscribe", signup, {**FORM, "Cookie": f"digest_form={cookie}"}),
        ("/webhooks/sendgrid", body, webhook_headers),
    ]


def test_no_method_but_post_changes_anything_through_flask(state, engine) -> None:  # type: ignore[no-untyped-def]
    from digest.web import create_app

    # No cookie jar: each request carries exactly the headers given (a GET would set a new form cookie).
    client = create_app(state[0], engine, background=False).test_client(use_cookies=False)
    page = client.get("/subscribe")
    form_token = re.search(rb'name="form_token" value="([^"]+)"', page.data).group(1).decode()  # type: ignore[union-attr]
    cookie = page.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    before = snapshot(engine)
    problems = []
    for path, body, headers in requests_that_would_change_state(state, form_token, cookie):
        for method in METHODS:
            answer = client.open(path, method=method, data=body, headers=headers)
            if answer.status_code >= 500 or snapshot(engine) != before:
                problems.append(f"{method} {path.split('/')[1]} → {answer.status_code}, store changed")
    assert problems == []
    # The same requests as POSTs do change things: the bodies above are the real thing.
    for path, body, headers in requests_that_would_change_state(state, form_token, cookie):
        changed_before = snapshot(engine)
        answer = client.open(path, method="POST", data=body, headers=headers)
        assert answer.status_code < 400 and snapshot(engine) != changed_before, path


@pytest.mark.slow  # starts `digest serve`
def test_no_method_but_post_changes_anything_over_http(state, engine, project: Path) -> None:  # type: ignore[no-untyped-def]
    with digest_serve(project) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/subscribe")
        page = conn.getresponse()
        form_token = re.search(r'name="form_token" value="([^"]+)"', page.read().decode()).group(1)  # type: ignore[union-attr]
        cookie = (page.getheader("Set-Cookie") or "").split(";", 1)[0].split("=", 1)[1]
        before = snapshot(engine)
        problems = []
        for path, body, headers in requests_that_would_change_state(state, form_token, cookie):
            for method in METHODS:
                conn.request(method, path, body=body, headers=headers)
                answer = conn.getresponse()
                answer.read()
                if answer.will_close:
                    conn.close()
                if answer.status >= 500 or snapshot(engine) != before:
                    problems.append(f"{method} {path.split('/')[1]} → {answer.status}, store changed")
        assert problems == []
        conn.request("POST", *requests_that_would_change_state(state, form_token, cookie)[1][:2], headers=FORM)
        assert conn.getresponse().status == 200
        assert snapshot(engine) != before  # the one-click POST did unsubscribe, over the same connection
