"""Sign-up decisions in detail: what each request records, the limits' exact windows, the queue's states and
their reasons, what a confirmation says, and what pressing a link does to the person's other requests.

tests/people/test_signups.py drives the same code through the web pages; these tests call the library and read the
rows it leaves, so each recorded reason, time and state is checked exactly.
"""

from __future__ import annotations

import email
import hashlib
import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from digest.config import Settings, load_settings
from digest.events.rules import ingest
from digest.people import ratelimit, signups
from digest.people.emails import check_address
from digest.people.subscribers import add_subscriber, get_subscriber, history
from digest.providers.sendgrid.events import normalise_sendgrid
from digest.store import db
from tests.conftest import SECRET

R = db.subscribe_requests


def ask(engine: Any, settings: Settings, address: str, client: str = "198.51.100.7", **profile: Any) -> bool:
    return signups.request_signup(engine, settings, check_address(address), profile, client=client)


def rows(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(R).order_by(R.c.id)))


def hits(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(db.rate_limit_hits).order_by(db.rate_limit_hits.c.id)))


def mails(project: Path) -> list[Any]:
    """The confirmations in the outbox, oldest first."""
    paths = sorted((project / "outbox" / "subscribe").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in paths]


def token_in(message: Any) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"/subscribe/confirm/(\S+)", text).group(1)  # type: ignore[union-attr]


def tokens(project: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in mails(project):
        found.setdefault(str(message["To"]), []).append(token_in(message))
    return found


def reconfigure(project: Path, old: str, new: str) -> Settings:
    config = project / "digest.toml"
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new, 1), encoding="utf-8")
    return load_settings(config)


def bounce(engine: Any, settings: Settings, address: str, kind: str, event_id: str) -> None:
    """A SendGrid event for ``address`` (sign-up confirmations have no subscriber behind them)."""
    raw = {
        "hard": {"event": "bounce", "type": "bounce", "status": "5.1.1"},
        "blocked": {"event": "bounce", "type": "blocked", "status": "4.2.2", "reason": "mailbox full"},
        "delivered": {"event": "delivered", "response": "250 OK"},
    }[kind]
    ingest(engine, settings, [normalise_sendgrid({"email": address, "sg_event_id": event_id, **raw})])


# --- the request ------------------------------------------------------------------------------------


def test_a_request_records_the_notice_agreed_to_and_counts_client_and_address_at_its_own_time(
    engine, settings, project
) -> None:  # type: ignore[no-untyped-def]
    assert ask(engine, settings, "Nia@Example.org", first_name="Nia")
    (request,) = rows(engine)
    assert (request.email, request.email_key, request.state, request.outcome, request.token_hash) == (
        "Nia@Example.org",
        "nia@example.org",
        "queued",
        "",
        None,
    )
    assert request.consent_text == "Agreed on the web sign-up form to the privacy notice on the sign-up page"
    # One count for the client's network and one for the address, both at the request's moment, under the
    # bucket names every `digest serve` process uses; neither holds the address or the client in the clear.
    secret = SECRET.encode()
    assert [(hit.bucket, hit.at) for hit in hits(engine)] == [
        (ratelimit.bucket(secret, "client", "198.51.100.7"), request.created_at),
        (ratelimit.bucket(secret, "address", "nia@example.org"), request.created_at),
    ]
    assert [hit.bucket.split(":")[0] for hit in hits(engine)] == ["client", "address"]
    assert not any("nia" in hit.bucket or "198.51" in hit.bucket for hit in hits(engine))

    versioned = reconfigure(
        project,
        'base_url = "https://news.safe.example.org"',
        'base_url = "https://news.safe.example.org"\nprivacy_notice_version = "privacy notice v3 (March 2025)"',
    )
    assert ask(engine, versioned, "bo@example.org", client="198.51.100.8")
    assert rows(engine)[-1].consent_text == "Agreed on the web sign-up form to privacy notice v3 (March 2025)"


def test_over_the_address_limit_a_request_is_kept_as_limited_with_the_reason(engine, settings) -> None:  # type: ignore[no-untyped-def]
    for n in range(4):  # four visitors ask for the same address
        assert ask(engine, settings, "victim@example.org", client=f"198.51.100.{n}")
    assert [(row.state, row.outcome) for row in rows(engine)] == [
        ("queued", ""),
        ("queued", ""),
        ("queued", ""),
        ("limited", "over 3 requests for this address a day"),
    ]


# --- the limits' windows ----------------------------------------------------------------------------

T = datetime(2025, 4, 10, 9, 0, tzinfo=UTC)


def test_a_counted_request_stops_counting_exactly_one_window_later(engine) -> None:  # type: ignore[no-untyped-def]
    window = timedelta(hours=1)
    with db.write(engine) as conn:
        assert ratelimit.hit(conn, "client:x", limit=1, window=window, now=T)
        assert not ratelimit.hit(conn, "client:x", limit=1, window=window, now=T + timedelta(minutes=59))
        assert ratelimit.hit(conn, "client:y", limit=1, window=window, now=T)  # another bucket counts apart
        assert ratelimit.hit(conn, "client:x", limit=1, window=window, now=T + window)
    # A refused request is not counted; each allowed one is, at its own time.
    assert [(hit.bucket, hit.at) for hit in hits(engine)] == [
        ("client:x", T),
        ("client:y", T),
        ("client:x", T + window),
    ]


def test_purging_counts_keeps_those_exactly_at_the_cutoff(engine) -> None:  # type: ignore[no-untyped-def]
    day = timedelta(days=1)
    with db.write(engine) as conn:
        for at in (T - 2 * day, T - day, T - timedelta(hours=1)):
            conn.execute(db.rate_limit_hits.insert().values(bucket="address:x", at=at))
        assert ratelimit.purge(conn, day, now=T) == 1
    assert [hit.at for hit in hits(engine)] == [T - day, T - timedelta(hours=1)]
    with db.write(engine) as conn:
        assert ratelimit.purge(conn, day, now=T) == 0


def test_purging_requests_keeps_those_exactly_seven_days_old(engine, settings) -> None:  # type: ignore[no-untyped-def]
    assert ask(engine, settings, "first@example.org", client="198.51.100.1")
    assert ask(engine, settings, "second@example.org", client="198.51.100.2")
    first, second = rows(engine)
    # A week after the first request to the microsecond: it stays; the counts (a day's window) go.
    assert signups.purge(engine, now=first.created_at + signups.CONFIRM_TTL) == (0, 4)
    assert [row.email for row in rows(engine)] == ["first@example.org", "second@example.org"]
    assert signups.purge(engine, now=first.created_at + signups.CONFIRM_TTL + timedelta(microseconds=1)) == (1, 0)
    assert [row.email for row in rows(engine)] == ["second@example.org"]
    assert signups.purge(engine, now=second.created_at + signups.CONFIRM_TTL) == (0, 0)


# --- the queue --------------------------------------------------------------------------------------


def test_the_queue_mails_requests_in_order_up_to_the_limit_with_a_fresh_192_bit_link_each(
    engine, settings, project
) -> None:  # type: ignore[no-untyped-def]
    for n, name in enumerate(("ann", "bo", "cy")):
        assert ask(engine, settings, f"{name}@example.org", client=f"198.51.100.{n}")
    before = db.utcnow()
    assert signups.send_queued(engine, settings, limit=2) == 2
    after = db.utcnow()
    assert [(row.email, row.state) for row in rows(engine)] == [
        ("ann@example.org", "sent"),
        ("bo@example.org", "sent"),
        ("cy@example.org", "queued"),
    ]
    links = tokens(project)
    assert sorted(links) == ["ann@example.org", "bo@example.org"]
    for row in rows(engine)[:2]:
        (token,) = links[row.email]
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token), token  # 24 random bytes
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert before <= row.sent_at <= after
    assert links["ann@example.org"] != links["bo@example.org"]
    assert signups.send_queued(engine, settings) == 1
    assert rows(engine)[-1].state == "sent"


def test_two_processes_working_the_queue_at_once_mail_each_request_once(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    """Two threads stand for two `digest serve` processes: both read the same queue before either claims."""
    for n in range(3):
        assert ask(engine, settings, f"p{n}@example.org", client=f"198.51.100.{n}")
    both_read = threading.Barrier(2, timeout=20)

    def after_execute(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "subscribe_requests.state" in statement:
            if threading.current_thread().name.startswith("queue-worker"):
                both_read.wait()

    mailed: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            mailed.append(signups.send_queued(engine, settings))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)

    sa.event.listen(engine, "after_cursor_execute", after_execute)
    try:
        workers = [threading.Thread(target=work, name=f"queue-worker-{n}") for n in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
    finally:
        sa.event.remove(engine, "after_cursor_execute", after_execute)
    assert failures == []
    assert sum(mailed) == 3
    assert sorted(tokens(project)) == ["p0@example.org", "p1@example.org", "p2@example.org"]
    assert all(len(links) == 1 for links in tokens(project).values())
    assert [row.state for row in rows(engine)] == ["sent", "sent", "sent"]


def test_a_refused_confirmation_is_failed_with_the_providers_words_and_the_queue_goes_on(
    project, engine, fake_sendgrid, caplog
) -> None:  # type: ignore[no-untyped-def]
    settings = reconfigure(project, "require_approval = false", 'require_approval = false\nprovider = "sendgrid"')
    # SendGrid lists every problem it finds in a 400; together they run past what the row keeps.
    fake_sendgrid.bad_request_messages = [
        f"personalizations.{n}.to.0.email: the address is not one SendGrid will send to (problem {n} of 12)"
        for n in range(12)
    ]
    fake_sendgrid.script("400", "ok")
    assert ask(engine, settings, "refused@example.org", client="198.51.100.1")
    assert ask(engine, settings, "fine@example.org", client="198.51.100.2")
    with caplog.at_level(logging.WARNING, logger="digest.signups"):
        assert signups.send_queued(engine, settings) == 1
    said = "SendGrid API response 400 (Bad Request): " + "; ".join(fake_sendgrid.bad_request_messages)
    assert len(said) > 500
    refused, fine = rows(engine)
    assert (refused.state, refused.token_hash, refused.outcome) == ("failed", None, said[:500])
    assert (fine.state, fine.outcome) == ("sent", "")
    assert [p["to"] for item in fake_sendgrid.accepted for p in item.body["personalizations"]] == [
        [{"email": "fine@example.org"}]
    ]
    warnings = [record.getMessage() for record in caplog.records if record.name == "digest.signups"]
    assert warnings == [f"sign-up confirmation {refused.id} not sent: {said}"]


def test_a_hard_bounce_on_record_stops_a_confirmation_but_a_delivery_or_a_full_mailbox_does_not(
    engine, settings, project
) -> None:  # type: ignore[no-untyped-def]
    # Earlier confirmations: one bounced hard, one was delivered (and ignored), one met a full mailbox.
    bounce(engine, settings, "gone@example.org", "hard", "e1")
    bounce(engine, settings, "ignored@example.org", "delivered", "e2")
    bounce(engine, settings, "full@example.org", "blocked", "e3")
    for n, name in enumerate(("gone", "ignored", "full")):
        assert ask(engine, settings, f"{name}@example.org", client=f"198.51.100.{n}")
    assert signups.send_queued(engine, settings) == 2
    assert [(row.email, row.state, row.outcome) for row in rows(engine)] == [
        ("gone@example.org", "skipped", "a hard bounce is on record for this address"),
        ("ignored@example.org", "sent", ""),
        ("full@example.org", "sent", ""),
    ]
    assert sorted(tokens(project)) == ["full@example.org", "ignored@example.org"]


# --- what the confirmation says ---------------------------------------------------------------------


def test_the_confirmation_names_the_organisation_as_written_in_each_part(engine, project) -> None:  # type: ignore[no-untyped-def]
    settings = reconfigure(project, 'name = "SAFE CIC"', 'name = "Smith & Jones\'s <Safeguarding> Team"')
    assert ask(engine, settings, "nia@example.org")
    assert signups.send_queued(engine, settings) == 1
    (message,) = mails(project)
    assert message["Subject"] == "Please confirm your SAFE Newsfeed subscription"
    assert str(message["To"]) == "nia@example.org"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "from Smith & Jones's <Safeguarding> Team." in text.splitlines()  # plain text is not HTML: no escapes
    assert "&amp;" not in text and "&#39;" not in text
    assert "from Smith &amp; Jones&#39;s &lt;Safeguarding&gt; Team.</p>" in html
    assert f"https://news.safe.example.org/subscribe/confirm/{token_in(message)}" in text


def test_a_confirmation_through_sendgrid_substitutes_nothing_personal(project, engine, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    settings = reconfigure(project, "require_approval = false", 'require_approval = false\nprovider = "sendgrid"')
    assert ask(engine, settings, "nia@example.org")
    assert signups.send_queued(engine, settings) == 1
    (request,) = fake_sendgrid.accepted
    (personalization,) = request.body["personalizations"]
    # No preferences link, no page, no greeting: the person is on no list yet and has given no name to use.
    assert personalization["substitutions"] and set(personalization["substitutions"].values()) == {""}
    assert "%%preferences_url%%" in personalization["substitutions"]
    assert "%%greeting_name%%" in personalization["substitutions"]
    assert request.body["subject"] == "Please confirm your SAFE Newsfeed subscription"


# --- pressing the link ------------------------------------------------------------------------------


def test_a_link_works_for_exactly_seven_days(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    assert ask(engine, settings, "nia@example.org")
    signups.send_queued(engine, settings)
    (token,) = tokens(project)["nia@example.org"]
    (request,) = rows(engine)
    edge = request.created_at + signups.CONFIRM_TTL
    late = edge + timedelta(microseconds=1)
    assert signups.link_state(engine, token, now=edge) == signups.SENT
    assert signups.link_state(engine, token, now=late) == signups.INVALID
    assert signups.confirm_signup(engine, settings, token, now=late) == signups.INVALID
    assert rows(engine)[0].state == "sent"  # an expired press changes nothing
    assert signups.confirm_signup(engine, settings, token, now=edge) == signups.SUBSCRIBED
    assert signups.link_state(engine, token, now=edge) == signups.USED


def test_confirming_subscribes_with_the_moment_and_spends_only_this_addresses_other_requests(
    engine, settings, project
) -> None:  # type: ignore[no-untyped-def]
    add_subscriber(engine, settings, "already@example.org", {}, consent_source="phoned in")  # someone else, active
    for n in range(4):  # three links for Nia, and a fourth request over her address's limit
        assert ask(engine, settings, "nia@example.org", client=f"198.51.100.{n}", first_name="Nia")
    assert ask(engine, settings, "bo@example.org", client="198.51.100.9")
    assert signups.send_queued(engine, settings) == 4
    first, second, third = tokens(project)["nia@example.org"]
    (bo_link,) = tokens(project)["bo@example.org"]
    before = db.utcnow()
    assert signups.confirm_signup(engine, settings, first) == signups.SUBSCRIBED
    after = db.utcnow()
    found = rows(engine)
    assert [(row.email, row.state, row.outcome) for row in found] == [
        ("nia@example.org", "confirmed", "subscribed"),
        ("nia@example.org", "skipped", "another request for this address was confirmed"),
        ("nia@example.org", "skipped", "another request for this address was confirmed"),
        ("nia@example.org", "limited", "over 3 requests for this address a day"),
        ("bo@example.org", "sent", ""),
    ]
    confirmed_at = found[0].confirmed_at
    assert before <= confirmed_at <= after
    assert [row.confirmed_at for row in found[1:]] == [None] * 4
    nia = get_subscriber(engine, "nia@example.org")
    assert (nia.status, nia.first_name, nia.consent_source) == ("active", "Nia", "web sign-up, confirmed by email")
    assert (nia.consent_at, nia.consent_text) == (confirmed_at, found[0].consent_text)
    assert [(e.old_status, e.new_status, e.cause, e.detail) for e in history(engine, nia.id)] == [
        (None, "active", "subscribe", "web sign-up, confirmed by email")
    ]
    # Her other links are spent, not "used": they were never pressed.
    for link in (second, third):
        assert signups.link_state(engine, link) == signups.INVALID
        assert signups.confirm_signup(engine, settings, link) == signups.INVALID
    assert signups.confirm_signup(engine, settings, first) == signups.USED
    # Bo's request is his own: still usable, and it subscribes him.
    assert signups.link_state(engine, bo_link) == signups.SENT
    assert signups.confirm_signup(engine, settings, bo_link) == signups.SUBSCRIBED
    assert get_subscriber(engine, "bo@example.org").status == "active"


def test_a_link_for_an_address_made_active_meanwhile_says_already_and_changes_nothing(
    engine, settings, project
) -> None:  # type: ignore[no-untyped-def]
    assert ask(engine, settings, "nia@example.org")
    signups.send_queued(engine, settings)
    (token,) = tokens(project)["nia@example.org"]
    person = add_subscriber(engine, settings, "nia@example.org", {"first_name": "Nia"}, consent_source="phoned in")
    assert signups.confirm_signup(engine, settings, token) == signups.ALREADY
    assert [(row.state, row.outcome) for row in rows(engine)] == [("confirmed", "already")]
    again = get_subscriber(engine, "nia@example.org")
    assert (again.consent_source, again.first_name) == ("phoned in", "Nia")
    assert [(e.new_status, e.cause) for e in history(engine, person.id)] == [("active", "admin")]
