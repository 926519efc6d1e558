"""Bounce mailboxes: what each kind of message does to whom, and SendGrid's suppression lists.

The messages in tests/data/bounces/ are hand-written in the shapes real mail
servers produce; each test fills in the placeholders with a delivery from a
real ledger, as if the issue had gone out over SMTP.
"""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.config import load_settings
from digest.errors import ConfigError, InputError
from digest.events.bounces import scan_mailbox
from digest.events.intake import sync_sendgrid
from digest.people.subscribers import add_subscriber, get_subscriber
from digest.providers.smtp.verp import return_path
from digest.secret import Secret
from digest.store import db
from tests.bouncemail import Sent, fill, make_ledger


@pytest.fixture
def ledger(engine, settings):  # type: ignore[no-untyped-def]
    return make_ledger(engine, settings)


def scan_one(engine, settings, project: Path, raw: bytes):  # type: ignore[no-untyped-def]
    path = project / "one.eml"
    path.write_bytes(raw)
    return scan_mailbox(engine, settings, path)


def stored(engine) -> list[sa.Row]:  # type: ignore[no-untyped-def,type-arg]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(db.events).order_by(db.events.c.id)))


def person(engine, email: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(db.subscribers).where(db.subscribers.c.email == email)).one()


# (sample, event type, reason, status of the person afterwards, soft score afterwards)
CASES = [
    ("postfix-user-unknown.eml", "bounced", "user-unknown", "bounced", 0),
    ("postfix-delay-warning.eml", "deferred", "delayed", "active", 0),
    ("postfix-delayed-dsn.eml", "deferred", "delayed", "active", 0),
    ("exim-user-unknown.eml", "bounced", "user-unknown", "bounced", 0),
    ("exim-retry-timeout.eml", "blocked", "expired", "active", 1),
    ("qmail-mailbox-full.eml", "blocked", "mailbox-full", "active", 1),
    ("sendmail-host-unknown.eml", "bounced", "host-unknown", "bounced", 0),
    ("o365-recipient-not-found.eml", "bounced", "user-unknown", "bounced", 0),
    ("o365-blocked-by-blocklist.eml", "blocked", "blocked", "active", 1),
    ("gmail-over-quota.eml", "blocked", "mailbox-full", "active", 1),
    ("gmail-delay.eml", "deferred", "delayed", "active", 0),
    ("yahoo-no-account.eml", "bounced", "user-unknown", "bounced", 0),
    ("ses-bounce-notification.eml", "bounced", "user-unknown", "bounced", 0),
    ("ses-broken-json.eml", "not-understood", "not-understood", "active", 0),
    ("out-of-office-auto-submitted.eml", "autoreply", "autoreply", "active", 0),
    ("out-of-office-subject-only.eml", "autoreply", "autoreply", "active", 0),
    ("arf-complaint.eml", "complained", "complaint", "complained", 0),
    ("forwarded-original-recipient.eml", "bounced", "user-unknown", "bounced", 0),
    ("mislabelled-us-ascii.eml", "bounced", "user-unknown", "bounced", 0),
    ("iso-2022-jp.eml", "blocked", "mailbox-full", "active", 1),
    ("spam-at-verp.eml", "not-understood", "not-understood", "active", 0),
    ("broken-mime.eml", "not-understood", "not-understood", "active", 0),
    ("forged-unsigned-verp.eml", "unmatched", "user-unknown", "active", 0),
    # The server's words decide where they are clear (issue 23): Domino's DSN folds its X-Notes
    # diagnostic inside a word, but its notice says it whole; Hotmail's 550 behind Exim's 5.0.0;
    # a size refusal under a 5.1.1 status is about the message, not the reader.
    ("domino-not-listed.eml", "bounced", "user-unknown", "bounced", 0),
    ("exim-hotmail-mailbox-unavailable.eml", "bounced", "user-unknown", "bounced", 0),
    ("sendmail-size-exceeded-5.1.1.eml", "blocked", "exceeds-limit", "active", 1),
    # A 4xx answer in the middle of the words is never hard, though qmail calls it permanent.
    ("qmail-450-user-unknown.eml", "blocked", "user-unknown", "active", 1),
    # A recipient block without Action: and with a 4.x.x status is a delay.
    ("dsn-no-action-4xx.eml", "deferred", "delayed", "active", 0),
    # Only the RFC 3834 header says it is automatic; the subject is an ordinary reply's.
    ("auto-replied-header-only.eml", "autoreply", "autoreply", "active", 0),
]


@pytest.mark.parametrize(("sample", "kind", "reason", "status", "score"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_message_does_the_right_thing(
    engine, settings, project, ledger, sample, kind, reason, status, score
) -> None:  # type: ignore[no-untyped-def]
    ana = ledger["ana"]
    report = scan_one(engine, settings, project, fill(settings, sample, ana))
    assert report.unreadable == []
    (event,) = stored(engine)
    assert (event.type, event.bounce_reason) == (kind, reason)
    assert event.parser  # which reader decided is always kept
    assert "@" in event.email or event.email == ""
    assert "{" not in event.email  # never JSON text as an address
    after = person(engine, ana.email)
    assert (after.status, after.soft_bounce_score) == (status, score)
    if status != "active":
        assert event.delivery_id == ana.delivery_id and event.outcome.startswith("active → ")
    for name in ("ben", "cat", "dev", "eve"):  # nobody else is touched
        assert person(engine, ledger[name].email).status == "active"


def test_the_evidence_is_kept_with_the_event_and_in_the_history(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    from digest.people.subscribers import history

    ana = ledger["ana"]
    scan_one(engine, settings, project, fill(settings, "exim-user-unknown.eml", ana))
    (event,) = stored(engine)
    assert (event.status, event.bounce_class, event.parser) == ("5.1.1", "hard", "dsn")
    assert event.reason == f"550 5.1.1 <{ana.email}>: No such user here"
    assert event.matched_by == f"signed VERP {return_path(settings, ana.delivery_id)}"
    assert "This message was created automatically" in event.raw
    (change,) = [h for h in history(engine, person(engine, ana.email).id) if h.new_status == "bounced"]
    assert change.detail == f"hard bounce: user-unknown, 5.1.1: 550 5.1.1 <{ana.email}>: No such user here [dsn]"


def test_a_bounce_about_someone_else_changes_nobody(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    ana, ben = ledger["ana"], ledger["ben"]
    scan_one(engine, settings, project, fill(settings, "dsn-about-someone-else.eml", ana, other=ben))
    (event,) = stored(engine)
    assert (event.type, event.email, event.delivery_id) == ("unmatched", ben.email, None)
    assert "not the person that message went to" in event.matched_by
    assert person(engine, ana.email).status == "active"
    assert person(engine, ben.email).status == "active"


def test_each_recipient_is_judged_by_its_own_line_of_the_notice(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    # OpenSMTPD's report gives every recipient Status 5.0.0 and no Diagnostic-Code; the reasons
    # are in its notice, one line each. Ben's full mailbox must not be read as Ana's reason.
    ana, ben = ledger["ana"], ledger["ben"]
    scan_one(engine, settings, project, fill(settings, "opensmtpd-two-recipients.eml", ana, other=ben))
    found = {event.email: (event.type, event.bounce_reason) for event in stored(engine)}
    assert found == {ana.email: ("bounced", "user-unknown"), ben.email: ("unmatched", "mailbox-full")}
    assert person(engine, ana.email).status == "bounced"
    assert person(engine, ben.email).status == "active"


def test_a_forged_or_altered_verp_tag_changes_nobody(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    ana = ledger["ana"]
    raw = fill(settings, "postfix-user-unknown.eml", ana)
    good = return_path(settings, ana.delivery_id).encode()
    forged = good.replace(good.split(b"-")[1][:4], b"0000")  # the tag altered
    # Without our Message-ID in the returned headers, only the tag could tie it to us.
    raw = raw.replace(good, forged).replace(ana.message_id.encode(), b"<someone-elses@example.net>")
    scan_one(engine, settings, project, raw)
    (event,) = stored(engine)
    assert event.type == "unmatched" and "without a valid signature" in event.matched_by
    assert person(engine, ana.email).status == "active"


def test_a_key_from_another_installation_does_not_sign(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    ana = ledger["ana"]
    stranger = replace(settings, secret_key=Secret("another-secret-key-that-is-long-enough-0123"))
    raw = fill(settings, "forged-unsigned-verp.eml", ana).replace(
        f"bounces+{ana.delivery_id}@".encode(), return_path(stranger, ana.delivery_id).split("@")[0].encode() + b"@"
    )
    scan_one(engine, settings, project, raw)
    (event,) = stored(engine)
    assert event.type == "unmatched"
    assert person(engine, ana.email).status == "active"


def test_our_message_id_alone_ties_a_bounce_to_us(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    ana = ledger["ana"]
    # Forwarded by hand to the plain bounce address: no VERP at all, but the returned headers are ours.
    raw = fill(settings, "sendmail-host-unknown.eml", ana).replace(
        return_path(settings, ana.delivery_id).encode(), b"bounces@safe.example.org"
    )
    scan_one(engine, settings, project, raw)
    (event,) = stored(engine)
    assert (event.type, event.matched_by) == ("bounced", f"our Message-ID {ana.message_id}")
    assert person(engine, ana.email).status == "bounced"


def test_a_message_id_shared_by_a_whole_batch_proves_nothing(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    ana, ben = ledger["ana"], ledger["ben"]
    with engine.begin() as conn:  # a provider that gives one id to a batch (SendGrid's X-Message-Id)
        conn.execute(
            sa.update(db.deliveries)
            .where(db.deliveries.c.id == ben.delivery_id)
            .values(provider_message_id=ana.message_id)
        )
    raw = fill(settings, "ses-bounce-notification.eml", ana)
    scan_one(engine, settings, project, raw)
    (event,) = stored(engine)
    assert event.type == "unmatched"
    assert person(engine, ana.email).status == "active"


def test_one_unreadable_message_is_reported_and_the_rest_applied(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    box = mailbox.mbox(project / "bounces.mbox")
    box.add(fill(settings, "mislabelled-us-ascii.eml", ledger["ana"]))
    # Nested a few thousand multiparts deep: the email package gives up (RecursionError) on it.
    bomb = b"".join(f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n'.encode() for n in range(5000))
    box.add(b"From: spammer@example.net\nTo: bounces@safe.example.org\nSubject: boom\nMIME-Version: 1.0\n" + bomb)
    box.add(fill(settings, "iso-2022-jp.eml", ledger["ben"]))
    box.add(fill(settings, "broken-mime.eml", ledger["cat"]))
    box.add(fill(settings, "exim-user-unknown.eml", ledger["dev"]))
    box.flush()
    report = scan_mailbox(engine, settings, project / "bounces.mbox")
    assert report.messages == 5
    assert len(report.unreadable) == 1 and report.unreadable[0].startswith("message 2 ")
    assert (report.hard, report.soft, report.not_understood) == (2, 1, 1)
    assert person(engine, ledger["ana"].email).status == "bounced"
    assert person(engine, ledger["dev"].email).status == "bounced"
    assert person(engine, ledger["ben"].email).soft_bounce_score == 1
    again = scan_mailbox(engine, settings, project / "bounces.mbox")
    assert again.ingest.stored == 0  # the same mailbox twice changes nothing


def test_a_maildir_and_the_old_unsigned_return_path(engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    maildir = mailbox.Maildir(project / "Maildir", create=True)
    # Mail sent before signed return paths, bounced to bounces+<id>@ with nothing else of ours in it.
    maildir.add(fill(settings, "forged-unsigned-verp.eml", ledger["ana"]))
    maildir.add(fill(settings, "gmail-over-quota.eml", ledger["ben"]))
    report = scan_mailbox(engine, settings, project / "Maildir")
    assert (report.messages, report.unmatched, report.soft) == (2, 1, 1)
    (unmatched,) = [e for e in stored(engine) if e.type == "unmatched"]
    assert unmatched.matched_by.startswith(f"VERP address bounces+{ledger['ana'].delivery_id}@safe.example.org without")
    assert person(engine, ledger["ana"].email).status == "active"


def test_soft_bounces_count_by_reason_and_day(engine, project, ledger) -> None:  # type: ignore[no-untyped-def]
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text() + "\n[events]\nsoft_bounce_threshold = 3\n\n"
        "[events.soft_bounce_scores]\nmailbox-full = 0\nblocked = 3\n",
        encoding="utf-8",
    )
    settings = load_settings(toml)
    assert settings.events.soft_bounce_scores == {"mailbox-full": 0, "blocked": 3}
    scan_one(engine, settings, project, fill(settings, "gmail-over-quota.eml", ledger["ana"]))
    assert (person(engine, ledger["ana"].email).status, person(engine, ledger["ana"].email).soft_bounce_score) == (
        "active",
        0,
    )
    scan_one(engine, settings, project, fill(settings, "o365-blocked-by-blocklist.eml", ledger["ben"]))
    assert person(engine, ledger["ben"].email).status == "bounced"


def test_soft_bounce_scores_are_checked(project) -> None:  # type: ignore[no-untyped-def]
    toml = project / "digest.toml"
    toml.write_text(toml.read_text() + "\n[events.soft_bounce_scores]\nuser-unknown = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(toml)
    assert "[events.soft_bounce_scores] user-unknown is not a soft bounce reason" in str(caught.value)


def test_cli_scan_review_and_show(invoke, engine, settings, project, ledger) -> None:  # type: ignore[no-untyped-def]
    box = mailbox.mbox(project / "bounces.mbox")
    box.add(fill(settings, "postfix-user-unknown.eml", ledger["ana"]))
    box.add(fill(settings, "out-of-office-auto-submitted.eml", ledger["ben"]))
    box.add(fill(settings, "dsn-about-someone-else.eml", ledger["cat"], other=ledger["dev"]))
    box.add(fill(settings, "spam-at-verp.eml", ledger["eve"]))
    box.flush()
    result = invoke("bounces", "scan", "bounces.mbox")
    assert result.exit_code == 0
    assert result.output.startswith(
        "4 messages: 1 hard bounce, 0 soft bounces, 0 complaints; 1 auto-reply and 0 delay notices "
        "(never counted); 1 not tied to a message we sent and 1 not understood (kept for `digest bounces review`); "
        "0 unreadable (skipped).\n"
    )
    review = invoke("bounces", "review").output
    assert f"unmatched      {ledger['dev'].email}  user-unknown 5.1.1" in review
    assert "not acted on: signed VERP" in review and "not the person that message went to" in review
    assert "not-understood" in review and "2 mailbox messages kept for review (nobody changed)." in review
    shown = invoke("subscribers", "show", ledger["ana"].email).output
    assert "bounce mail:" in shown
    assert "hard bounce    user-unknown 5.1.1" in shown
    assert "Recipient address rejected: User unknown in virtual mailbox table [dsn]" in shown
    assert "active → bounced" in shown
    shown = invoke("subscribers", "show", ledger["ben"].email).output
    assert "autoreply      autoreply" in shown and "no change" in shown


def test_mailbox_errors(engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as caught:
        scan_mailbox(engine, settings, project / "nowhere")
    assert str(caught.value) == f"{project / 'nowhere'}: no such mailbox"
    (project / "plain").mkdir()
    with pytest.raises(InputError):
        scan_mailbox(engine, settings, project / "plain")


def test_the_smtp_provider_signs_the_return_path_that_scan_trusts(engine, audience, smtp_server, project) -> None:  # type: ignore[no-untyped-def]
    from digest.sending import start_send

    settings = load_settings(project / "digest.toml")
    start_send(engine, settings, "2025-04-10", ["everyone"], provider_name="smtp")
    received = smtp_server.messages[0]
    (to,) = received.rcpt_tos
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.deliveries).where(db.deliveries.c.email == to)).one()
    sent = Sent(row.id, to, "<not-quoted@example.net>")  # only the envelope ties this bounce to us
    raw = fill(settings, "postfix-user-unknown.eml", sent).replace(
        return_path(settings, row.id).encode(), received.mail_from.encode()
    )
    scan_one(engine, settings, project, raw)
    assert get_subscriber(engine, to).status == "bounced"


# --- SendGrid's lists ----------------------------------------------------------------------------


@pytest.fixture
def readers(engine, settings):  # type: ignore[no-untyped-def]
    for name in ("hard", "soft", "slow", "gone"):
        add_subscriber(engine, settings, f"{name}@example.org", {}, consent_source="test")


def test_sync_reads_every_list_page_by_page(engine, readers, fake_sendgrid, project) -> None:  # type: ignore[no-untyped-def]
    from digest.providers.sendgrid import lists as bounces

    settings = load_settings(project / "digest.toml")
    fake_sendgrid.suppressions = {
        "bounces": [{"created": 1700000000, "email": "hard@example.org", "reason": "550 unknown", "status": "5.1.1"}],
        "blocks": [{"created": 1700000000, "email": "soft@example.org", "reason": "blocked", "status": "4.0.0"}],
        "spam_reports": [{"created": 1700000000, "email": "slow@example.org", "ip": "10.0.0.1"}],
        "unsubscribes": [{"created": 1700000000 + n, "email": f"other{n}@example.org"} for n in range(3)]
        + [{"created": 1700000000, "email": "gone@example.org"}],
    }
    old_page, bounces.PAGE = bounces.PAGE, 2
    try:
        report = sync_sendgrid(engine, settings)
    finally:
        bounces.PAGE = old_page
    assert report.stored == 7 and report.unplaced == 3
    statuses = {name: get_subscriber(engine, f"{name}@example.org").status for name in ("hard", "soft", "slow", "gone")}
    assert statuses == {"hard": "bounced", "soft": "active", "slow": "complained", "gone": "unsubscribed"}
    assert sync_sendgrid(engine, settings).stored == 0
