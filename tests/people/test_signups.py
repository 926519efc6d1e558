"""Sign-up: a link that works once and never lifts a suppression, no mail to anyone who left or bounced,
the same work and answer for every address, limits shared through the database, trusted proxies."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from digest.config import load_settings
from digest.errors import NotFoundError
from digest.events.rules import ingest
from digest.people import signups
from digest.people.subscribers import (
    add_subscriber,
    email_hash,
    get_subscriber,
    history,
    list_suppressions,
    remove_subscriber,
    suppress_address,
)
from digest.providers.sendgrid.events import normalise_sendgrid
from digest.store import db

UNKNOWN = "stranger@example.org"


def make_client(project: Path, engine: Any, toml: str = "") -> Any:
    from digest.web import create_app

    if toml:
        config = project / "digest.toml"
        config.write_text(config.read_text(encoding="utf-8") + toml, encoding="utf-8")
    app = create_app(load_settings(project / "digest.toml"), engine, background=False)
    return app.test_client()


@pytest.fixture
def client(project, engine):  # type: ignore[no-untyped-def]
    """A client whose hourly limit leaves room for a test's sign-ups (the limits have their own tests)."""
    return make_client(project, engine, "\n[events]\nsubscribe_rate_limit = 50\n")


def sign_up(client: Any, address: str, headers: dict[str, str] | None = None, **fields: str) -> Any:
    page = client.get("/subscribe")
    token = re.search(rb'name="form_token" value="([^"]+)"', page.data).group(1).decode()  # type: ignore[union-attr]
    return client.post(
        "/subscribe", data={"form_token": token, "email": address, "consent": "yes", **fields}, headers=headers or {}
    )


def mailed(project: Path) -> dict[str, list[str]]:
    """Confirmation tokens in the outbox, by recipient."""
    found: dict[str, list[str]] = {}
    for path in sorted((project / "outbox" / "subscribe").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        token = re.search(r"/subscribe/confirm/(\S+)", text).group(1)  # type: ignore[union-attr]
        found.setdefault(str(message["To"]), []).append(token)
    return found


def link_for(project: Path, address: str, engine: Any, settings: Any) -> str:
    signups.send_queued(engine, settings)
    return mailed(project)[address][-1]


def bounce(engine: Any, settings: Any, address: str, kind: str, event_id: str) -> None:
    fields = {"bounce": {"type": "bounce", "status": "5.1.1"}, "spamreport": {}}[kind]
    raw = {"email": address, "event": kind, "sg_event_id": event_id, **fields}
    ingest(engine, settings, [normalise_sendgrid(raw)])


def suppression(engine: Any, settings: Any, address: str) -> str | None:
    """The reason an address is suppressed for, or None."""
    hashed = email_hash(settings, address)
    return next((item.reason for item in list_suppressions(engine) if item.email_hash == hashed), None)


def trust_one_proxy(project: Path) -> None:
    config = project / "digest.toml"
    base = 'base_url = "https://news.safe.example.org"'
    config.write_text(
        config.read_text(encoding="utf-8").replace(base, base + "\ntrusted_proxies = 1"), encoding="utf-8"
    )


def requests(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(db.subscribe_requests).order_by(db.subscribe_requests.c.id)))


# --- the confirmation link ------------------------------------------------------------------------


@pytest.mark.parametrize("leave", ["one-click", "admin remove", "admin suppression"])
def test_a_confirm_link_works_once_and_a_replay_after_leaving_changes_nothing(
    client, project, engine, settings, leave
) -> None:  # type: ignore[no-untyped-def]
    from digest.people.links import make_token
    from tests.conftest import SECRET

    assert sign_up(client, "nia@example.org").status_code == 200
    assert sign_up(client, "nia@example.org").status_code == 200  # a second request: a second link
    signups.send_queued(engine, settings)
    first, second = mailed(project)["nia@example.org"]
    assert client.post(f"/subscribe/confirm/{first}").status_code == 200
    person = get_subscriber(engine, "nia@example.org")
    assert person.status == "active"
    again = client.post(f"/subscribe/confirm/{first}")
    assert again.status_code == 400 and b"already been used" in again.data
    if leave == "one-click":
        token = make_token(SECRET.encode(), person.id, 0)
        client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click", content_type="text/plain")
    elif leave == "admin remove":
        remove_subscriber(engine, settings, "nia@example.org", reason="asked by letter")
    else:
        suppress_address(engine, settings, "nia@example.org", reason="asked by letter: never contact again")
    lines = len(history(engine, person.id))
    for link in (first, second):
        replay = client.post(f"/subscribe/confirm/{link}")
        assert replay.status_code == 400
        assert client.get(f"/subscribe/confirm/{link}").status_code == 400  # no button to press either
    assert get_subscriber(engine, "nia@example.org").status == "unsubscribed"
    assert len(history(engine, person.id)) == lines
    assert suppression(engine, settings, "nia@example.org") in ("unsubscribed", "manual")


def test_a_link_never_lifts_a_suppression_made_after_it(client, project, engine, settings) -> None:  # type: ignore[no-untyped-def]
    assert sign_up(client, "late@example.org").status_code == 200
    link = link_for(project, "late@example.org", engine, settings)
    # Before the link is pressed, the address is suppressed (a letter arrived; no subscriber record exists).
    suppress_address(engine, settings, "late@example.org", reason="asked by letter: never contact again")
    answer = client.post(f"/subscribe/confirm/{link}")
    assert answer.status_code == 409 and b"Nothing has changed" in answer.data
    with pytest.raises(NotFoundError):
        get_subscriber(engine, "late@example.org")
    assert suppression(engine, settings, "late@example.org") == "manual"
    assert requests(engine)[-1].outcome == "refused"
    assert client.post(f"/subscribe/confirm/{link}").status_code == 400  # and it is spent


@pytest.mark.parametrize("kind", ["bounce", "spamreport"])
def test_a_confirm_for_a_bounced_or_complained_address_creates_nobody(client, project, engine, settings, kind) -> None:  # type: ignore[no-untyped-def]
    # Unknown when the link was mailed; then added by an admin, and bounced or complained.
    assert sign_up(client, "gone@example.org").status_code == 200
    link = link_for(project, "gone@example.org", engine, settings)
    person = add_subscriber(engine, settings, "gone@example.org", {}, consent_source="phoned in")
    bounce(engine, settings, "gone@example.org", kind, "b1")
    status = {"bounce": "bounced", "spamreport": "complained"}[kind]
    assert get_subscriber(engine, "gone@example.org").status == status
    lines = len(history(engine, person.id))
    assert client.post(f"/subscribe/confirm/{link}").status_code == 409
    assert get_subscriber(engine, "gone@example.org").status == status
    assert len(history(engine, person.id)) == lines
    assert suppression(engine, settings, "gone@example.org") == status


def test_a_confirmation_that_bounced_hard_blocks_its_own_link(client, project, engine, settings) -> None:  # type: ignore[no-untyped-def]
    assert sign_up(client, "nobody-there@example.org").status_code == 200
    link = link_for(project, "nobody-there@example.org", engine, settings)
    bounce(engine, settings, "nobody-there@example.org", "bounce", "cb1")  # the confirmation itself bounced
    assert client.post(f"/subscribe/confirm/{link}").status_code == 409
    with pytest.raises(NotFoundError):
        get_subscriber(engine, "nobody-there@example.org")
    assert sign_up(client, "nobody-there@example.org").status_code == 200
    assert signups.send_queued(engine, settings) == 0  # and no second mail to a dead address


# --- who gets a confirmation, and what the visitor learns -------------------------------------------


@pytest.fixture
def known(engine, settings, client):  # type: ignore[no-untyped-def]
    """An address in each state a sign-up must not mail (and must not reveal)."""
    from digest.people.links import make_token
    from tests.conftest import SECRET

    for name in ("active", "left", "bounced", "complained", "erased"):
        add_subscriber(engine, settings, f"{name}@example.org", {}, consent_source="test")
    left = get_subscriber(engine, "left@example.org")
    client.post(f"/unsubscribe/{make_token(SECRET.encode(), left.id, 0)}", data={})
    bounce(engine, settings, "bounced@example.org", "bounce", "k1")
    bounce(engine, settings, "complained@example.org", "spamreport", "k2")
    from digest.people.erasure import erase_person

    erase_person(engine, settings, "erased@example.org")
    suppress_address(engine, settings, "letter@example.org", reason="asked by letter")
    return ["active", "left", "bounced", "complained", "erased", "letter"]


def test_nobody_suppressed_bounced_or_active_is_mailed_and_the_answer_never_tells(
    client, project, engine, settings, known
) -> None:  # type: ignore[no-untyped-def]
    unknown = sign_up(client, UNKNOWN)
    for name in known:
        answer = sign_up(client, f"{name}@example.org")
        assert (answer.status_code, answer.data) == (unknown.status_code, unknown.data), name
    assert signups.send_queued(engine, settings) == 1
    assert list(mailed(project)) == [UNKNOWN]
    outcomes = {row.email: (row.state, row.outcome) for row in requests(engine)}
    assert outcomes[UNKNOWN] == ("sent", "")
    assert outcomes["active@example.org"] == ("skipped", "already subscribed")
    assert outcomes["letter@example.org"] == ("skipped", "suppressed")
    assert outcomes["erased@example.org"] == ("skipped", "suppressed")
    for name in ("left", "bounced", "complained"):
        assert outcomes[f"{name}@example.org"][0] == "skipped"
        assert outcomes[f"{name}@example.org"][1].startswith("already known ("), name


def test_the_request_runs_the_same_statements_for_every_address(client, project, engine, settings, known) -> None:  # type: ignore[no-untyped-def]
    """The visitor waits only for the same queries, whoever the address belongs to; nothing is mailed meanwhile."""

    def statements(address: str) -> list[str]:
        seen: list[str] = []

        def record(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
            seen.append(statement)

        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            assert sign_up(client, address).status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        return seen

    baseline = statements(UNKNOWN)
    assert any("subscribe_requests" in s for s in baseline)
    for name in known:
        assert statements(f"{name}@example.org") == baseline, name
    assert not (project / "outbox" / "subscribe").exists()


# --- limits and proxies --------------------------------------------------------------------------


def test_the_client_limit_is_shared_by_every_process(project, engine) -> None:  # type: ignore[no-untyped-def]
    """Two applications on one database stand for two `digest serve` processes: they share one count."""
    first, second = make_client(project, engine), make_client(project, engine)
    limit = load_settings(project / "digest.toml").events.subscribe_rate_limit
    answers = [sign_up(first if n % 2 else second, f"p{n}@example.org").status_code for n in range(limit + 1)]
    assert answers == [200] * limit + [429]


def test_without_trusted_proxies_a_forwarded_for_header_is_not_believed(project, engine) -> None:  # type: ignore[no-untyped-def]
    client = make_client(project, engine)
    answers = [
        sign_up(client, f"p{n}@example.org", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
        for n in range(7)
    ]
    assert answers == [200] * 5 + [429] * 2


def test_behind_one_trusted_proxy_each_client_counts_apart_and_cannot_spoof(project, engine) -> None:  # type: ignore[no-untyped-def]
    trust_one_proxy(project)
    client = make_client(project, engine)
    client.environ_base["REMOTE_ADDR"] = "10.0.0.2"  # the proxy's own address
    # Seven visitors behind the proxy: the proxy appends each one's address.
    seven = [
        sign_up(client, f"v{n}@example.org", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
        for n in range(7)
    ]
    assert seven == [200] * 7
    # One visitor writing their own X-Forwarded-For: the proxy appends the real address after it.
    spoofing = [
        sign_up(client, f"s{n}@example.org", headers={"X-Forwarded-For": f"203.0.113.{n}, 192.0.2.66"}).status_code
        for n in range(7)
    ]
    assert spoofing == [200] * 5 + [429] * 2


def test_ipv6_clients_count_by_their_64(project, engine) -> None:  # type: ignore[no-untyped-def]
    from digest.people.ratelimit import client_network

    assert client_network("2001:db8:1:2:aaaa::1") == client_network("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_network("not an address") == client_network(None) == "unknown"


def test_one_address_gets_at_most_three_confirmations_a_day(project, engine, settings) -> None:  # type: ignore[no-untyped-def]
    trust_one_proxy(project)
    client = make_client(project, engine)
    answers = {
        (r.status_code, r.data)
        for r in (
            sign_up(client, "victim@example.org", headers={"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(8)
        )
    }
    assert len(answers) == 1 and next(iter(answers))[0] == 200  # every visitor got the same answer
    assert signups.send_queued(engine, load_settings(project / "digest.toml")) == 3
    assert len(mailed(project)["victim@example.org"]) == 3
    assert [row.state for row in requests(engine)].count("limited") == 5


# --- housekeeping ------------------------------------------------------------------------------


def test_unconfirmed_requests_and_spent_counts_are_purged_after_their_ttl(client, project, engine, settings) -> None:  # type: ignore[no-untyped-def]
    assert sign_up(client, "old@example.org").status_code == 200
    old_link = link_for(project, "old@example.org", engine, settings)
    assert sign_up(client, "new@example.org").status_code == 200
    eight_days_ago = db.utcnow() - timedelta(days=8)
    with db.write(engine) as conn:
        conn.execute(
            db.subscribe_requests.update()
            .where(db.subscribe_requests.c.email == "old@example.org")
            .values(created_at=eight_days_ago)
        )
        conn.execute(db.rate_limit_hits.update().values(at=eight_days_ago))
    assert client.get(f"/subscribe/confirm/{old_link}").status_code == 400  # expired already
    assert signups.purge(engine) == (1, 4)  # two requests' client and address counts
    assert [row.email for row in requests(engine)] == ["new@example.org"]
    assert client.post(f"/subscribe/confirm/{old_link}").status_code == 400


def test_sixty_two_confirmations_make_sixty_two_files(project, engine) -> None:  # type: ignore[no-untyped-def]
    client = make_client(project, engine, "\n[events]\nsubscribe_rate_limit = 100\n")
    for n in range(62):
        assert sign_up(client, f"reader{n}@example.org").status_code == 200
    assert signups.send_queued(engine, load_settings(project / "digest.toml")) == 62
    assert len(list((project / "outbox" / "subscribe").glob("*.eml"))) == 62
    assert len(mailed(project)) == 62


def test_the_confirmation_has_no_list_unsubscribe(client, project, engine, settings) -> None:  # type: ignore[no-untyped-def]
    sign_up(client, UNKNOWN)
    signups.send_queued(engine, settings)
    (path,) = (project / "outbox" / "subscribe").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert "/subscribe/confirm/" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_the_confirmation_through_sendgrid_has_no_list_unsubscribe(project, engine, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    config = project / "digest.toml"
    config.write_text(
        config.read_text().replace("require_approval = false", 'require_approval = false\nprovider = "sendgrid"')
    )
    client = make_client(project, engine)
    sign_up(client, UNKNOWN)
    assert signups.send_queued(engine, load_settings(project / "digest.toml")) == 1
    assert fake_sendgrid.rejected == []
    (request,) = fake_sendgrid.accepted
    (personalization,) = request.body["personalizations"]
    assert personalization["to"] == [{"email": UNKNOWN}]
    assert "headers" not in personalization
    assert "/subscribe/confirm/" in request.body["content"][0]["value"]


# --- names from the form --------------------------------------------------------------------------


def test_control_characters_in_a_name_never_reach_the_admins_terminal(
    client, project, engine, settings, invoke
) -> None:  # type: ignore[no-untyped-def]
    hostile = "\x1b[2J\x1b]8;;https://evil.example/\x07Amy\x1b]8;;\x07\u202eevil\x9b31m"
    sign_up(client, "amy@example.org", first_name=hostile, organisation="School\x00\x07 of\tRock")
    client.post(f"/subscribe/confirm/{link_for(project, 'amy@example.org', engine, settings)}")
    person = get_subscriber(engine, "amy@example.org")
    assert person.first_name == "[2J]8;;https://evil.example/Amy]8;;evil31m"
    assert person.organisation == "School of Rock"
    shown = invoke("subscribers", "show", "amy@example.org")
    assert "\x1b" not in shown.output and "\x07" not in shown.output and "\u202e" not in shown.output
    # Stored before this check existed: shown as visible escapes, never sent to the terminal.
    with db.write(engine) as conn:
        conn.execute(db.subscribers.update().values(last_name="\x1b[31mRed\x1b[0m"))
    shown = invoke("subscribers", "show", "amy@example.org")
    assert "last_name:    \\x1b[31mRed\\x1b[0m\n" in shown.output
    listed = invoke("subscribers", "list")
    assert "\x1b" not in listed.output and "\\x1b[31mRed" in listed.output


# --- where a form may come from --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://news.safe.example.org.evil.example"}, 403),
        ({"Origin": "https://news.safe.example.org@evil.example"}, 403),
        ({"Origin": "http://news.safe.example.org"}, 403),
        ({"Origin": "https://news.safe.example.org:8443"}, 403),
        ({"Origin": "null"}, 403),
        ({"Referer": "https://news.safe.example.org.evil.example/subscribe"}, 403),
        ({"Origin": "https://news.safe.example.org"}, 200),
        ({"Origin": "https://NEWS.safe.example.org:443"}, 200),
        ({"Referer": "https://news.safe.example.org/subscribe"}, 200),
        ({}, 200),
    ],
)
def test_only_our_own_origin_may_post_the_form(client, engine, headers, status) -> None:  # type: ignore[no-untyped-def]
    assert sign_up(client, UNKNOWN, headers=headers).status_code == status
    assert len(requests(engine)) == (1 if status == 200 else 0)


def test_requests_from_before_the_queue_keep_their_links(settings) -> None:  # type: ignore[no-untyped-def]
    """Migration 0008 on a database that holds sign-ups mailed the old way: pending ones stay usable, once."""
    import hashlib

    engine = db.create_db_engine(settings.database_url)
    try:
        db.upgrade(engine, "0007")
        created = db.utcnow() - timedelta(days=1)
        insert = sa.text(
            "INSERT INTO subscribe_requests (email, email_key, profile, consent_text, token_hash, created_at, "
            "confirmed_at) VALUES (:email, :email, '{}', 'Agreed', :hash, :created, :confirmed)"
        )
        with engine.begin() as conn:
            for address, token, confirmed in (("a@example.org", "old-a", None), ("b@example.org", "old-b", created)):
                conn.execute(
                    insert,
                    {
                        "email": address,
                        "hash": hashlib.sha256(token.encode()).hexdigest(),
                        "created": created.replace(tzinfo=None),
                        "confirmed": confirmed.replace(tzinfo=None) if confirmed else None,
                    },
                )
        db.upgrade(engine)
        assert db.current_revision(engine) == db.SCHEMA_HEAD
        assert [(row.email, row.state) for row in requests(engine)] == [
            ("a@example.org", "sent"),
            ("b@example.org", "confirmed"),
        ]
        assert signups.link_state(engine, "old-a") == signups.SENT
        assert signups.link_state(engine, "old-b") == signups.USED
        assert signups.confirm_signup(engine, settings, "old-a") == signups.SUBSCRIBED
        assert signups.confirm_signup(engine, settings, "old-a") == signups.USED
    finally:
        engine.dispose()
