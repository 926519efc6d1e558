"""The message itself, parsed back with the standard library, and DKIM for SMTP."""

from __future__ import annotations

import email
import re
from datetime import date
from email import policy
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.issues.checks import GMAIL_CLIP_BYTES
from digest.issues.preview import write_preview


def twenty_story_issue(engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    """The shared sample's five stories and fifteen more, in one issue."""
    from digest.articles.store import import_articles
    from digest.issues.drafting import new_issue
    from tests.conftest import SAMPLE

    body = (
        "Partners across the county have agreed a new protocol for sharing information when a child goes missing "
        "from education. Schools, health visitors and the police will use a single referral form. "
        "The protocol follows a review of three cases in which early warning signs were recorded but not shared."
    )
    extra = ["SAFE Newsfeed", ""]
    for number in range(15):
        extra += [
            f"Regional safeguarding update number {number + 1} on children missing from education",
            "",
            f"Source: Example Partnership published on this website Tuesday {number % 6 + 3} April 2025",
            "",
            body,
            "",
        ]
    (project / "extra.txt").write_text("\n".join(extra), encoding="utf-8")
    import_articles(engine, settings, [str(SAMPLE), str(project / "extra.txt")])
    new_issue(engine, settings, issue_date=date(2025, 4, 10))


def test_the_eml_is_a_well_formed_bulk_message(engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    twenty_story_issue(engine, settings, project)
    result = write_preview(engine, settings, "2025-04-10", screenshots=False)
    assert len(result.rendered.story_ids) == 20
    html_size = len(result.rendered.html.encode("utf-8"))
    print(
        f"\nHTML of the 20-story issue: {html_size / 1024:.1f} KB (Gmail clips above {GMAIL_CLIP_BYTES / 1024:.0f} KB)"
    )
    assert html_size < GMAIL_CLIP_BYTES
    raw = (result.folder / "email.eml").read_bytes()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    for header in ("Message-ID", "Date", "MIME-Version", "From", "To", "Subject"):
        assert message[header], header
    assert message["From"].addresses[0].domain == settings.email.domain
    assert re.fullmatch(r"<https://[^>]+>(, <mailto:[^>]+>)?", message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = parts[0].get_content()
    html = parts[1].get_content()
    assert "Unsubscribe: https://news.safe.example.org/unsubscribe/" in text
    assert re.search(r'<a href="https://news\.safe\.example\.org/unsubscribe/[^"]+"[^>]*>Unsubscribe</a>', html)
    assert "Also: Online forum shut down and details of 40 users passed to police" in html  # the preheader


def test_dkim_signature_covers_the_unsubscribe_headers(engine, audience, smtp_server, project: Path) -> None:  # type: ignore[no-untyped-def]
    import base64

    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from digest.sending import start_send

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (project / "dkim.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text().replace("[smtp]\n", '[smtp]\ndkim_selector = "digest"\ndkim_private_key_file = "dkim.pem"\n')
    )
    settings = load_settings(toml)
    start_send(engine, settings, "2025-04-10", ["everyone"], provider_name="smtp")
    data = smtp_server.messages[0].data

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"digest._domainkey.safe.example.org."
        return f"v=DKIM1; k=rsa; p={public}".encode()

    assert dkim.verify(data, dnsfunc=dns)
    signature = email.message_from_bytes(data)["DKIM-Signature"]
    signed = re.search(r"h=([^;]+)", signature.replace("\r\n", "").replace(" ", "")).group(1).lower().split(":")
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= set(signed)
    tampered = data.replace(b"Dear Person", b"Dear Persin", 1)
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)


def test_dkim_settings_are_checked(project: Path) -> None:
    from digest.errors import ConfigError
    from digest.providers.smtp.dkim import signer_from_settings

    toml = project / "digest.toml"
    toml.write_text(toml.read_text() + '\n[smtp]\ndkim_selector = "digest"\ndkim_private_key_file = "missing.pem"\n')
    with pytest.raises(ConfigError) as caught:
        signer_from_settings(load_settings(toml))
    assert "dkim_private_key_file" in str(caught.value) and "cannot be read" in str(caught.value)


def test_encoded_lines_keep_to_76_characters(settings) -> None:  # type: ignore[no-untyped-def]
    from digest.issues.mime import Envelope, build_message, message_bytes
    from tests.mimelines import line_problems

    # Long lines of accented text and of one unbroken word: both need soft line breaks.
    text = ("Sécurité des enfants — " * 40 + "\n") + "x" * 300 + "\n"
    message = build_message(
        settings, subject="Line lengths", html=f"<p>{text}</p>", text=text, envelope=Envelope("reader@example.org")
    )
    raw = message_bytes(message)
    assert line_problems(raw) == []
    body_lines = [line for line in raw.split(b"\r\n") if line.endswith(b"=")]
    assert body_lines and max(len(line) for line in body_lines) == 76  # filled to the limit, not short of it


def test_the_line_check_finds_a_78_character_quoted_printable_line() -> None:
    from tests.mimelines import line_problems

    head = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
    assert line_problems(head + b"quoted-printable\r\n\r\n" + b"a" * 76 + b"\r\n") == []
    long_qp = line_problems(head + b"quoted-printable\r\n\r\n" + b"a" * 77 + b"=\r\nb\r\n")
    assert long_qp and "quoted-printable line of text/plain is 78 characters" in long_qp[0]
    assert line_problems(head + b"base64\r\n\r\n" + b"QUFB" * 20 + b"\r\n")  # 80 characters
    assert line_problems(head + b"8bit\r\n\r\n" + b"a" * 999 + b"\r\n")


def test_the_suite_checks_the_messages_digest_writes_not_mail_fed_in(tmp_path: Path) -> None:
    from tests.mimelines import folder_problems

    bad = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + b"a" * 77 + b"=\r\n"
    for where in ("outbox/2025-04-10", "preview/2025-04-10", "bounces"):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "one.eml").write_bytes(bad)
    found = folder_problems(tmp_path)
    assert [problem.split(":")[0] for problem in found] == ["outbox/2025-04-10/one.eml", "preview/2025-04-10/one.eml"]
    for where in ("outbox/2025-04-10", "preview/2025-04-10"):
        (tmp_path / where / "one.eml").unlink()  # the suite's own check runs on this folder after the test
