"""One recipient the provider cannot take never holds up the rest of the batch.

An address with non-ASCII characters before the @ (``ömil@…``, which the import
accepts) is sent with SMTPUTF8 where the SMTP server offers it (aiosmtpd can), written
as UTF-8 in the outbox, and refused for that recipient alone, with the reason, by an
SMTP server without SMTPUTF8 and by SendGrid (ASCII addresses only). A value no message
can carry, and a recipient SendGrid's 400 names, fail that row; everyone else is sent.
"""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.config import load_settings
from digest.people.subscribers import add_subscriber
from digest.sending import resume_send, start_send
from digest.store import db

SEGMENTS = ["health", "schools", "everyone"]
OMIL = "ömil@example.org"


@pytest.fixture
def with_omil(engine, settings, audience) -> list[str]:  # type: ignore[no-untyped-def]
    """The twelve of the audience and an address with a non-ASCII local part, last."""
    add_subscriber(engine, settings, OMIL, {"first_name": "Ömil", "last_name": "Şahin"}, consent_source="test")
    return [*audience, OMIL]


@pytest.fixture
def smtputf8_server(project):  # type: ignore[no-untyped-def]
    """An aiosmtpd server that offers SMTPUTF8; the project's settings send to it."""
    from tests.fakes import smtp as fake_smtp

    handler = fake_smtp.RecordingHandler()
    controller = fake_smtp.start(handler, smtputf8=True)
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + f'\n[smtp]\nhost = "127.0.0.1"\nport = {controller.port}\ntimeout = 5.0\n',
        encoding="utf-8",
    )
    yield handler
    controller.stop()


def rows(engine) -> dict[str, db.Row]:  # type: ignore[name-defined,no-untyped-def]
    with engine.connect() as conn:
        return {row.email: row for row in conn.execute(sa.select(db.deliveries))}


def parsed(raw: bytes) -> email.message.EmailMessage:
    """A message with UTF-8 headers (RFC 6532), as a reader that knows them sees it."""
    return email.message_from_string(raw.decode("utf-8"), policy=policy.SMTPUTF8)  # type: ignore[return-value]


def send_state(engine) -> str:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return str(conn.execute(sa.select(db.sends.c.state)).scalar_one())


def test_the_outbox_writes_the_address_in_utf8_and_sends_everyone(engine, settings, with_omil, project) -> None:  # type: ignore[no-untyped-def]
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS)
    assert outcome is not None and outcome.counts["accepted"] == 13
    delivery = rows(engine)[OMIL]
    raw = next((project / "outbox" / "2025-04-10").glob(f"{delivery.id:08d}.eml")).read_bytes()
    message = parsed(raw)
    assert message["To"].addresses[0].addr_spec == OMIL
    assert b'To: "\xc3\x96mil \xc5\x9eahin" <\xc3\xb6mil@example.org>' in raw  # UTF-8, not RFC 2047 words
    assert message["Message-ID"] == delivery.provider_message_id


def test_an_smtp_server_offering_smtputf8_gets_the_address(engine, with_omil, smtputf8_server, project) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(project / "digest.toml")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS, provider_name="smtp")
    assert outcome is not None and outcome.counts["accepted"] == 13
    (received,) = [m for m in smtputf8_server.messages if m.rcpt_tos == [OMIL]]
    assert "SMTPUTF8" in received.mail_options
    others = [m for m in smtputf8_server.messages if m.rcpt_tos != [OMIL]]
    assert len(others) == 12 and all("SMTPUTF8" not in m.mail_options for m in others)
    assert parsed(received.data)["To"].addresses[0].addr_spec == OMIL


def test_an_smtp_server_without_smtputf8_refuses_that_recipient_only(engine, with_omil, smtp_server, project) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(project / "digest.toml")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS, provider_name="smtp")
    assert outcome is not None and (outcome.counts["accepted"], outcome.counts["failed"]) == (12, 1)
    assert outcome.counts["sending"] == 0 and send_state(engine) == "done"
    assert rows(engine)[OMIL].error == (
        "the SMTP server 127.0.0.1 does not offer SMTPUTF8, which an address with non-ASCII characters before the @ "
        "needs"
    )
    assert sorted(to for m in smtp_server.messages for to in m.rcpt_tos) == sorted(with_omil[:-1])


def test_sendgrid_refuses_that_recipient_and_sends_the_rest(engine, sg_settings, with_omil, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    _plan, outcome = start_send(engine, sg_settings, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert outcome is not None and (outcome.counts["accepted"], outcome.counts["failed"]) == (12, 1)
    assert send_state(engine) == "done"
    assert "SendGrid takes only ASCII addresses" in rows(engine)[OMIL].error
    assert sorted(fake_sendgrid.recipient_counts()) == sorted(with_omil[:-1])
    assert fake_sendgrid.rejected == []  # refused before any request: no 400 for the whole batch


def test_a_recipient_sendgrids_400_names_fails_alone(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    """SendGrid refuses a whole request for one bad address; it names it, and the rest go again without it."""
    fake_sendgrid.invalid_addresses.add("person5@example.org")
    _plan, outcome = start_send(engine, sg_settings, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert outcome is not None and (outcome.counts["accepted"], outcome.counts["failed"]) == (11, 1)
    assert (
        rows(engine)["person5@example.org"].error
        == "SendGrid refused this recipient: Does not contain a valid address."
    )
    assert len(fake_sendgrid.rejected) == 1 and len(fake_sendgrid.accepted) >= 1
    assert "person5@example.org" not in fake_sendgrid.recipient_counts()


def test_a_400_about_the_request_itself_still_fails_the_batch(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    fake_sendgrid.script("400")  # the first request: its problem is the sender, not a recipient
    _plan, outcome = start_send(engine, sg_settings, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert outcome is not None and outcome.counts["failed"] > 1
    assert outcome.counts["accepted"] + outcome.counts["failed"] == 12
    failed = [row.error for row in rows(engine).values() if row.state == "failed"]
    assert set(failed) == {
        "SendGrid API response 400 (Bad Request): The from address does not match a verified Sender Identity"
    }


@pytest.mark.parametrize("provider", ["outbox", "smtp"])
def test_a_value_no_message_can_carry_fails_that_row_only(
    engine, audience, smtp_server, project, provider: str
) -> None:  # type: ignore[no-untyped-def]
    # A line break in a stored name (left by an older import): no header can carry it.
    with engine.begin() as conn:
        conn.execute(
            db.subscribers.update().where(db.subscribers.c.email == "person3@example.org").values(first_name="Per\nson")
        )
    settings = load_settings(project / "digest.toml")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS, provider_name=provider)
    assert outcome is not None and (outcome.counts["accepted"], outcome.counts["failed"]) == (11, 1)
    assert send_state(engine) == "done"
    assert rows(engine)["person3@example.org"].error.startswith("no message can be made for this address (ValueError")


def test_resume_with_resend_uncertain_sends_the_address_again(engine, with_omil, smtputf8_server, project) -> None:  # type: ignore[no-untyped-def]
    """The connection drops after the server took ömil's message: that row is uncertain, and
    --resume --resend-uncertain sends it again without a crash."""
    smtputf8_server.drop_after_data_to = OMIL
    settings = load_settings(project / "digest.toml")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS, provider_name="smtp")
    assert outcome is not None and outcome.counts["sending"] == 1 and rows(engine)[OMIL].state == "sending"
    resumed = resume_send(engine, settings, "2025-04-10", resend_uncertain=True)
    assert resumed.counts["accepted"] == 13 and send_state(engine) == "done"
    assert [m.rcpt_tos for m in smtputf8_server.messages].count([OMIL]) == 2


def test_the_import_warns_about_addresses_only_smtputf8_can_send(engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    from digest.people.csvimport import import_csv

    (project / "list.csv").write_text(f"email\nann@example.org\n{OMIL}\n", encoding="utf-8")
    summary = import_csv(engine, settings, project / "list.csv")
    assert summary.new == 2
    assert any(
        "line 3" in warning and "SMTPUTF8" in warning and "SendGrid" in warning for warning in summary.warnings
    ), summary.warnings


def test_a_non_ascii_domain_is_sent_in_its_ascii_form_and_erased_from_the_outbox(
    engine, settings, audience, project
) -> None:  # type: ignore[no-untyped-def]
    from digest.people.erasure import erase_person

    add_subscriber(engine, settings, "lena@bücherei.example.org", {"first_name": "Lena"}, consent_source="test")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS)
    assert outcome is not None and outcome.counts["accepted"] == 13
    delivery = rows(engine)["lena@bücherei.example.org"]
    path = project / "outbox" / "2025-04-10" / f"{delivery.id:08d}.eml"
    raw = path.read_bytes()
    label = "bücherei".encode("idna")  # b"xn--bcherei-n2a"
    assert b"To: Lena <lena@" + label + b".example.org>" in raw  # not =?utf-8?q?…?= inside the address
    assert raw.isascii()
    erase_person(engine, settings, "lena@bücherei.example.org")
    assert not path.exists()


@pytest.mark.corpus
def test_sendgrids_schema_takes_ascii_addresses_only() -> None:
    """Why SendGrid's recipients must be ASCII: its official schema types every address as JSON Schema's
    "email" (RFC 5321, ASCII), never "idn-email" (RFC 6531). Should that change, so must our refusal."""
    import json

    from tests.conftest import need_corpus
    from tests.fakes.sendgrid import SCHEMA_PATH

    schema = json.loads(need_corpus(SCHEMA_PATH, "SendGrid's mail/send schema").read_text(encoding="utf-8"))
    to = schema["properties"]["personalizations"]["items"]["properties"]["to"]["items"]["properties"]["email"]
    assert to["format"] == "email"
    assert "idn-email" not in json.dumps(schema)
