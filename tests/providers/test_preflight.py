"""A provider that cannot work is found before anything is written (issue 21, item 4).

`digest send --provider sendgrid` without an API key wrote its plan and then
failed; the issue was then stuck: a new send was refused, `--cancel` said the
send could only be paused, and `--resume --provider outbox` ignored the
provider given.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from digest.sending import plan_send
from digest.store import db
from tests.fakes.smtp import free_port

SEND = ("send", "2025-04-10", "--segment", "everyone")


def table(engine, name: str) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(db.metadata.tables[name]))]


def sends(engine) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(db.sends.c.state, db.sends.c.provider))]


def test_sendgrid_without_a_key_writes_nothing_and_the_dry_run_says_so(  # type: ignore[no-untyped-def]
    invoke, engine, audience, project: Path
) -> None:
    result = invoke(*SEND, "--provider", "sendgrid", "--yes")
    assert result.exit_code == 1
    assert result.output.endswith(
        "Error: SENDGRID_API_KEY is not set; add an API key with the Mail Send scope to .env (or choose another "
        "provider with --provider)\n"
    )
    assert sends(engine) == [] and table(engine, "deliveries") == []
    assert not (project / "issues" / "2025-04-10" / "sent").exists()

    dry = invoke(*SEND, "--provider", "sendgrid", "--dry-run")
    assert dry.exit_code == 0
    assert (
        "Provider not ready: a real send would stop here: SENDGRID_API_KEY is not set; add an API key with the "
        "Mail Send scope to .env (or choose another provider with --provider).\n"
    ) in dry.output
    assert "Provider not ready" not in invoke(*SEND, "--dry-run").output  # the outbox needs nothing


def test_smtp_on_a_closed_port_writes_nothing_and_the_dry_run_says_so(  # type: ignore[no-untyped-def]
    invoke, engine, audience, project: Path
) -> None:
    port = free_port()  # bound and let go: nothing listens there
    toml = project / "digest.toml"
    toml.write_text(toml.read_text() + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 2.0\n')
    result = invoke(*SEND, "--provider", "smtp", "--yes")
    assert result.exit_code == 1
    assert f"Error: cannot connect to the SMTP server 127.0.0.1:{port} (" in result.output
    assert sends(engine) == []
    dry = invoke(*SEND, "--provider", "smtp", "--dry-run")
    assert f"Provider not ready: a real send would stop here: cannot connect to the SMTP server 127.0.0.1:{port}" in (
        dry.output
    )


def test_a_planned_send_that_never_started_can_be_cancelled(invoke, engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid")  # as the stuck send was left
    assert sends(engine) == [("planned", "sendgrid")]
    refused = invoke(*SEND, "--yes")
    assert "already has an unfinished send (#1, planned)" in refused.output
    cancelled = invoke("send", "2025-04-10", "--cancel")
    assert cancelled.output == (
        f"Cancelled send #{plan.send_id}, which had not started: its 12 planned deliveries were removed.\n"
    )
    assert sends(engine) == [("cancelled", "sendgrid")] and table(engine, "deliveries") == []
    again = invoke(*SEND, "--yes")
    assert again.exit_code == 0, again.output
    assert "Send #2: done. accepted 12" in again.output


def test_a_send_that_has_handed_copies_over_is_not_cancelled(invoke, engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="outbox")
    with db.write(engine) as conn:
        first = conn.execute(sa.select(sa.func.min(db.deliveries.c.id))).scalar_one()
        conn.execute(db.deliveries.update().where(db.deliveries.c.id == first).values(state="accepted"))
        conn.execute(db.sends.update().values(state="paused"))
    result = invoke("send", "2025-04-10", "--cancel")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: send #{plan.send_id} of issue 2025-04-10 has started (paused, 1 copy handed to the provider); "
        "it can be paused, not cancelled\n"
    )


def test_resume_with_a_provider_uses_it_and_says_so(invoke, engine, settings, audience, project: Path) -> None:  # type: ignore[no-untyped-def]
    plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid")
    result = invoke("send", "2025-04-10", "--resume", "--provider", "outbox")
    assert result.exit_code == 0, result.output
    assert "Resuming send #1 through outbox, not sendgrid as it was planned (--provider).\n" in result.output
    assert "Send #1: done. accepted 12" in result.output
    assert sends(engine) == [("done", "outbox")]
    assert len(list((project / "outbox" / "2025-04-10").glob("*.eml"))) == 12


def test_resume_checks_the_provider_first(invoke, engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    plan_send(engine, settings, "2025-04-10", ["everyone"], provider="outbox")
    result = invoke("send", "2025-04-10", "--resume", "--provider", "sendgrid")
    assert result.exit_code == 1
    assert "SENDGRID_API_KEY is not set" in result.output
    assert sends(engine) == [("planned", "outbox")]
    assert {row[7] for row in table(engine, "deliveries")} == {"pending"}
