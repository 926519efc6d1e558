"""Bounce mailboxes (RFC 3464 DSNs, non-standard bounces, VERP) and SendGrid's suppression lists."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from digest.bounces import message_failures, scan_mailbox
from digest.config import load_settings
from digest.errors import InputError
from digest.intake import sync_sendgrid
from digest.subscribers import add_subscriber, get_subscriber

DSN = """\
From: MAILER-DAEMON@mx.example.net
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{recipient}-{status}@mx.example.net>
Date: Mon, 14 Apr 2025 08:05:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net. Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Mon, 14 Apr 2025 08:04:58 +0000

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--BOUNDARY
Content-Type: text/rfc822-headers

From: SAFE Newsfeed <newsfeed@safe.example.org>
To: {recipient}
Subject: SAFE Newsfeed

--BOUNDARY--
"""


def dsn(recipient: str, action: str, status: str, diagnostic: str, to: str = "bounces@safe.example.org"):  # type: ignore[no-untyped-def]
    """A delivery status notification laid out as RFC 3464 says."""
    from email import message_from_string

    return message_from_string(
        DSN.format(recipient=recipient, action=action, status=status, diagnostic=diagnostic, to=to)
    )


QMAIL = """\
From: MAILER-DAEMON@old.example.net
To: bounces+7@safe.example.org
Subject: failure notice
Message-ID: <qmail-1@old.example.net>

Hi. This is the qmail-send program at old.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<gone@example.org>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.
"""


@pytest.fixture
def readers(engine, settings):  # type: ignore[no-untyped-def]
    for name in ("hard", "soft", "slow", "gone"):
        add_subscriber(engine, settings, f"{name}@example.org", {}, consent_source="test")


def test_dsn_permanent_temporary_and_delayed(readers) -> None:  # type: ignore[no-untyped-def]
    hard = message_failures(dsn("hard@example.org", "failed", "5.1.1", "550 5.1.1 user unknown"))
    assert [(f.address, f.permanent, f.status) for f in hard] == [("hard@example.org", True, "5.1.1")]
    soft = message_failures(dsn("soft@example.org", "failed", "4.2.2", "452 mailbox full"))
    assert [(f.address, f.permanent) for f in soft] == [("soft@example.org", False)]
    slow = message_failures(dsn("slow@example.org", "delayed", "4.4.7", "still trying"))
    assert [f.delivered for f in slow] == [True]


def test_scanning_an_mbox_and_a_maildir(engine, settings, readers, project: Path) -> None:  # type: ignore[no-untyped-def]
    from email import message_from_string

    box = mailbox.mbox(project / "bounces.mbox")
    for message in (
        dsn("hard@example.org", "failed", "5.1.1", "550 user unknown"),
        dsn("soft@example.org", "failed", "4.2.2", "452 full"),
        dsn("slow@example.org", "delayed", "4.4.7", "retrying"),
        message_from_string(QMAIL),
    ):
        box.add(message)
    box.flush()
    report = scan_mailbox(engine, settings, project / "bounces.mbox")
    assert (report.messages, report.bounces, report.not_understood) == (4, 3, 0)
    assert get_subscriber(engine, "hard@example.org").status == "bounced"
    assert get_subscriber(engine, "gone@example.org").status == "bounced"
    assert get_subscriber(engine, "soft@example.org").status == "active"  # one soft bounce is not enough
    assert get_subscriber(engine, "slow@example.org").status == "active"
    again = scan_mailbox(engine, settings, project / "bounces.mbox")
    assert again.ingest.stored == 0  # the same bounces twice change nothing

    maildir = mailbox.Maildir(project / "Maildir", create=True)
    maildir.add(dsn("soft@example.org", "failed", "5.2.1", "mailbox disabled"))
    scan_mailbox(engine, settings, project / "Maildir")
    assert get_subscriber(engine, "soft@example.org").status == "bounced"


def test_verp_address_names_the_delivery_when_the_body_cannot(engine, audience, project, settings) -> None:  # type: ignore[no-untyped-def]
    from email import message_from_string

    from digest.sending import start_send

    start_send(engine, settings, "2025-04-10", ["everyone"])
    unreadable = message_from_string(
        "From: postmaster@odd.example.net\nTo: bounces+3@safe.example.org\nSubject: returned\n\nIt did not work.\n"
    )
    box = mailbox.mbox(project / "odd.mbox")
    box.add(unreadable)
    box.flush()
    report = scan_mailbox(engine, settings, project / "odd.mbox")
    assert report.bounces == 1
    assert report.ingest.changes == [
        "person2@example.org: active → bounced (hard bounce: bounce without a readable report)"
    ]


def test_mailbox_errors(engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as caught:
        scan_mailbox(engine, settings, project / "nowhere")
    assert str(caught.value) == f"{project / 'nowhere'}: no such mailbox"
    (project / "plain").mkdir()
    with pytest.raises(InputError):
        scan_mailbox(engine, settings, project / "plain")


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
