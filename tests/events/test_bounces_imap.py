"""`digest bounces scan imap://…` against a real dovecot on the loopback address."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator

import pytest

from digest.config import load_settings
from digest.errors import ConfigError, ProviderError
from digest.events.bounces import scan_mailbox
from tests.bouncemail import fill, make_ledger
from tests.conftest import require_tool
from tests.imapserver import DOVECOT, ImapServer, dovecot


@pytest.fixture
def imap(project) -> Iterator[ImapServer]:  # type: ignore[no-untyped-def]
    require_tool(
        DOVECOT is not None, "Debian's dovecot-imapd is not installed, so there is no IMAP server to test with"
    )
    with dovecot() as server:
        with (project / ".env").open("a", encoding="utf-8") as env:
            env.write(f"IMAP_PASSWORD={server.password}\n")
        yield server


def client(server: ImapServer) -> imaplib.IMAP4:
    connection = imaplib.IMAP4(server.host, server.port, timeout=10)
    connection.login(server.user, server.password)
    connection.select("INBOX")
    return connection


def deliver(server: ImapServer, *messages: bytes) -> None:
    connection = client(server)
    for raw in messages:
        status, _ = connection.append("INBOX", None, None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        assert status == "OK"
    connection.logout()


def flags(server: ImapServer) -> list[str]:
    connection = client(server)
    _, data = connection.uid("FETCH", "1:*", "(FLAGS)")
    connection.logout()
    return [item.decode() for item in data if isinstance(item, bytes)]


def test_scan_marks_what_it_processed_and_a_rerun_skips_it(invoke, engine, project, imap) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(project / "digest.toml")
    sent = make_ledger(engine, settings)
    bomb = b"From: x@example.net\nSubject: boom\nMIME-Version: 1.0\n" + b"".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n'.encode() for n in range(5000)
    )
    deliver(
        imap,
        fill(settings, "postfix-user-unknown.eml", sent["ana"]),
        fill(settings, "out-of-office-auto-submitted.eml", sent["ben"]),
        bomb,
        fill(settings, "qmail-mailbox-full.eml", sent["cat"]),
    )
    result = invoke("bounces", "scan", imap.url())
    assert result.exit_code == 0
    assert "\n4 messages: 1 hard bounce, 1 soft bounce, 0 complaints; 1 auto-reply" in result.output
    assert "Note: UID 3: unreadable, skipped (RecursionError" in result.output
    marks = flags(imap)
    assert [("$DigestProcessed" in m) for m in marks] == [True, True, False, True]
    assert not any("\\Seen" in m for m in marks)  # fetched with BODY.PEEK: people still see them as new
    from digest.people.subscribers import get_subscriber

    assert get_subscriber(engine, sent["ana"].email).status == "bounced"

    # A rerun reads only what is still unprocessed (the unreadable one, reported again) ...
    again = scan_mailbox(engine, settings, imap.url())
    assert (again.messages, len(again.unreadable), again.ingest.received) == (1, 1, 0)
    # ... and a new arrival.
    deliver(imap, fill(settings, "exim-user-unknown.eml", sent["dev"]))
    later = scan_mailbox(engine, settings, imap.url())
    assert (later.messages, later.hard) == (2, 1)
    assert get_subscriber(engine, sent["dev"].email).status == "bounced"


def test_a_wrong_password_is_a_clear_error(invoke, project, imap) -> None:  # type: ignore[no-untyped-def]
    env = project / ".env"
    env.write_text(env.read_text().replace(f"IMAP_PASSWORD={imap.password}", "IMAP_PASSWORD=wrong"))
    result = invoke("bounces", "scan", imap.url())
    assert result.exit_code == 1
    assert result.output == (
        f"Error: the IMAP server 127.0.0.1 refused the login for '{imap.user}'; check IMAP_PASSWORD in .env\n"
    )


def test_a_missing_folder_is_a_clear_error(engine, project, imap) -> None:  # type: ignore[no-untyped-def]
    from digest.errors import InputError

    settings = load_settings(project / "digest.toml")
    with pytest.raises(InputError) as caught:
        scan_mailbox(engine, settings, imap.url("Nowhere"))
    assert str(caught.value).endswith("/Nowhere: no such IMAP mailbox (or it cannot be opened)")


def test_imap_addresses_are_checked_before_connecting(engine, project) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(project / "digest.toml")
    with pytest.raises(ConfigError, match="IMAP_PASSWORD is not set"):
        scan_mailbox(engine, settings, "imaps://bounces%40safe.example.org@127.0.0.1:1/INBOX")
    with pytest.raises(ConfigError, match="not in the address"):
        scan_mailbox(engine, settings, "imaps://bounces:secret@127.0.0.1/INBOX")
    env = project / ".env"
    env.write_text(env.read_text() + "IMAP_PASSWORD=x\n")
    settings = load_settings(project / "digest.toml")
    with pytest.raises(ConfigError, match="unencrypted"):
        scan_mailbox(engine, settings, "imap://bounces@mail.example.net/INBOX")
    with pytest.raises(ProviderError, match=r"cannot connect to the IMAP server 127\.0\.0\.1:1 "):
        scan_mailbox(engine, settings, "imap://bounces@127.0.0.1:1/INBOX")
