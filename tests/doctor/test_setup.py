"""The doctor's offline part (the project's set-up and a copy's headers), `digest send`'s gate,
the unsubscribe host with --online, and the SPF and DMARC readers on the shapes receivers meet."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.doctor import offline_checks, setup
from digest.doctor.report import Status
from digest.secret import Secret
from tests.conftest import SEGMENTS_YAML


def by_name(report, name: str):  # type: ignore[no-untyped-def]
    (check,) = [check for check in report.checks if check.name == name]
    return check


def edit(project: Path, old: str, new: str) -> None:
    toml = project / "digest.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def ready(project: Path, engine) -> Path:  # type: ignore[no-untyped-def]
    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    return project


def test_the_suites_project_has_no_offline_error(ready) -> None:  # type: ignore[no-untyped-def]
    report = offline_checks(load_settings(ready / "digest.toml"))
    assert [check for check in report.checks if check.status != Status.OK and check.status != Status.SKIPPED] == []
    assert by_name(report, "DKIM covers one-click").status == Status.SKIPPED  # the outbox signs nothing


def test_base_url_must_be_https_for_a_real_provider(ready) -> None:  # type: ignore[no-untyped-def]
    edit(ready, "https://news.safe.example.org", "http://news.safe.example.org")
    settings = load_settings(ready / "digest.toml")
    assert by_name(offline_checks(settings), "base_url").status == Status.WARNING  # the outbox sends nothing
    smtp = offline_checks(settings, "smtp")
    assert by_name(smtp, "base_url").status == Status.ERROR
    assert by_name(smtp, "one-click unsubscribe").found.startswith(
        "the one-click address http://news.safe.example.org/unsubscribe/"
    )


def test_send_refuses_on_an_offline_error_unless_told_to_skip(invoke, project, audience, smtp_server) -> None:  # type: ignore[no-untyped-def]
    # A broken unsubscribe page renders no email, so `digest check` cannot see it; the doctor does.
    (project / "templates" / "web").mkdir(parents=True)
    (project / "templates" / "web" / "unsubscribe.html.j2").write_text("{% block %}\n", encoding="utf-8")
    refused = invoke("send", "2025-04-10", "--segment", "everyone", "--provider", "smtp", "--yes")
    assert refused.exit_code == 1
    assert refused.output.startswith(
        "Error: `digest doctor` found templates: web/unsubscribe.html.j2, line 1: "
    ) and refused.output.endswith("; fix it, or send anyway with --skip-doctor\n")
    assert smtp_server.messages == []
    sent = invoke("send", "2025-04-10", "--segment", "everyone", "--provider", "smtp", "--yes", "--skip-doctor")
    assert sent.exit_code == 0, sent.output
    assert len(smtp_server.messages) == len(audience)


def test_secret_key_and_credentials(ready, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(ready / "digest.toml")
    assert setup.secret_key(replace(settings, secret_key=None)).found == "DIGEST_SECRET_KEY is not set"
    short = setup.secret_key(replace(settings, secret_key=Secret("x" * 31)))
    assert short.status == Status.ERROR and short.found == "DIGEST_SECRET_KEY in .env is 31 characters long"
    assert setup.credentials(settings, "sendgrid").found == "SENDGRID_API_KEY is not set"
    pasted = replace(settings, sendgrid=replace(settings.sendgrid, api_key=Secret("0123456789abcdef")))
    assert setup.credentials(pasted, "sendgrid").status == Status.WARNING
    keyed = replace(settings, sendgrid=replace(settings.sendgrid, api_key=Secret("SG.abc.def")))
    assert setup.credentials(keyed, "sendgrid").status == Status.OK
    login = replace(settings, smtp=replace(settings.smtp, host="smtp.example.net", username="digest"))
    assert setup.credentials(login, "smtp").status == Status.ERROR
    clear = replace(login, smtp=replace(login.smtp, password=Secret("secret")))
    assert setup.credentials(clear, "smtp").found.endswith("gets the password without encryption")
    assert setup.credentials(replace(clear, smtp=replace(clear.smtp, security="starttls")), "smtp").status == Status.OK


def test_privacy_link_and_postal_address_are_warnings_when_missing(ready) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(ready / "digest.toml")
    bare = replace(settings, organisation=replace(settings.organisation, privacy_url="", address=""))
    assert setup.privacy_link(bare).status == Status.WARNING
    assert setup.postal_address(bare).status == Status.WARNING
    assert setup.privacy_link(settings).status == setup.postal_address(settings).status == Status.OK


def test_segments_file_errors_are_named(ready) -> None:  # type: ignore[no-untyped-def]
    (ready / "subscribers" / "segments.yaml").write_text("segments:\n  - name: a\n    nonsense: 1\n", encoding="utf-8")
    check = setup.segments(load_settings(ready / "digest.toml"))
    assert check.status == Status.ERROR and "segments.yaml" in check.found


def test_templates_overridden_are_listed_and_a_broken_one_is_an_error(ready) -> None:  # type: ignore[no-untyped-def]
    folder = ready / "templates"
    (folder / "partials").mkdir(parents=True)
    (folder / "digest.txt.j2").write_text("{{ issue.title }}\n", encoding="utf-8")
    (folder / "partials" / "story.txt.j2").write_text("{{ story.title }}\n", encoding="utf-8")
    (folder / "partials" / "sponsor.mjml.j2").write_text("<mj-text>Thanks</mj-text>\n", encoding="utf-8")
    (folder / "notes.md").write_text("not a template\n", encoding="utf-8")
    check = setup.templates(load_settings(ready / "digest.toml"))
    assert check.status == Status.OK
    assert check.found == (
        f"2 overridden in {folder}: digest.txt.j2, partials/story.txt.j2; 1 added: partials/sponsor.mjml.j2"
    )
    (folder / "digest.txt.j2").write_text("{% if issue %}\nno end\n", encoding="utf-8")
    broken = setup.templates(load_settings(ready / "digest.toml"))
    assert broken.status == Status.ERROR
    assert broken.found.startswith("digest.txt.j2, line 1: Unexpected end of template")


def test_a_database_behind_the_schema_is_an_error(ready, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from digest.store.db import SCHEMA_HEAD, create_db_engine, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_db_engine(url)
    upgrade(old, "0009")
    old.dispose()
    settings = replace(load_settings(ready / "digest.toml"), database_url=url)
    check = setup.database(settings)
    assert check.status == Status.ERROR
    assert check.found.endswith(f"schema 0009, not {SCHEMA_HEAD}") and check.fix == "run `digest db upgrade`"
    missing = setup.database(replace(settings, database_url=f"sqlite:///{tmp_path / 'none.db'}"))
    assert missing.status == Status.WARNING and not (tmp_path / "none.db").exists()


def test_smtp_without_dkim_is_a_warning_and_a_signature_leaving_out_the_one_click_headers_an_error(
    ready, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from tests.doctor.test_domain import make_key

    settings = load_settings(ready / "digest.toml")
    unsigned = offline_checks(settings, "smtp")
    assert by_name(unsigned, "DKIM covers one-click").status == Status.WARNING
    make_key(ready, "dkim.pem")
    signing = replace(settings, smtp=replace(settings.smtp, dkim_selector="digest", dkim_private_key_file="dkim.pem"))
    assert by_name(offline_checks(signing, "smtp"), "DKIM covers one-click").status == Status.OK
    # A regression in what digest signs is what this line is for.
    import digest.providers.smtp.dkim

    monkeypatch.setattr(digest.providers.smtp.dkim, "SIGNED_HEADERS", (b"From", b"To", b"Subject", b"List-Unsubscribe"))
    check = by_name(offline_checks(signing, "smtp"), "DKIM covers one-click")
    assert check.status == Status.ERROR and check.found == "the DKIM signature's h= leaves out list-unsubscribe-post"
    broken = replace(signing, smtp=replace(signing.smtp, dkim_private_key_file="missing.pem"))
    assert by_name(offline_checks(broken, "smtp"), "a copy").found.startswith("a copy cannot be built: [smtp] dkim")


def test_sendgrid_copies_carry_both_one_click_headers(ready) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(ready / "digest.toml")
    check = by_name(offline_checks(settings, "sendgrid"), "one-click unsubscribe")
    assert check.status == Status.OK
    assert check.found.startswith("List-Unsubscribe <https://news.safe.example.org/unsubscribe/")
    assert check.found.endswith("> with List-Unsubscribe-Post: List-Unsubscribe=One-Click")


# --- --online ---------------------------------------------------------------------------


@contextmanager
def https_server(folder: Path) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (which no CA vouches for)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "news.safe.example.org")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_unsubscribe_host_is_asked_only_with_online(ready, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    from digest.doctor.reach import unsubscribe_host
    from tests.httpserve import serve

    settings = load_settings(ready / "digest.toml")
    with serve({"/": (200, "text/html", b"<p>digest</p>")}) as base:
        check = unsubscribe_host(replace(settings, base_url=base))
    assert check.status == Status.OK and check.found == f"{base}/ answers (200)"
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    closed = unsubscribe_host(replace(settings, base_url=f"http://127.0.0.1:{port}"))
    assert closed.status == Status.ERROR and "cannot be reached" in closed.found
    with https_server(tmp_path) as port:
        untrusted = unsubscribe_host(replace(settings, base_url=f"https://127.0.0.1:{port}"))
    assert untrusted.status == Status.ERROR and "the certificate is not valid" in untrusted.found


def test_the_sendgrid_return_path_domain_must_be_a_domain(project) -> None:  # type: ignore[no-untyped-def]
    from digest.errors import ConfigError

    toml = project / "digest.toml"
    base = toml.read_text(encoding="utf-8")
    toml.write_text(base + '\n[sendgrid]\nreturn_path_domain = "EM4821.Safe.Example.org."\n', encoding="utf-8")
    assert load_settings(toml).sendgrid.return_path_domain == "em4821.safe.example.org"
    toml.write_text(base + '\n[sendgrid]\nreturn_path_domain = "bounces@em4821.safe.example.org"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"return_path_domain must be a domain name such as em1234\.example\.org"):
        load_settings(toml)


def test_the_doctor_names_a_secret_key_the_database_was_not_made_with(ready, engine) -> None:  # type: ignore[no-untyped-def]
    from digest.config import read_env

    # The engine fixture opened the database as a command does, so it remembers the project's key.
    settings = load_settings(ready / "digest.toml")
    assert by_name(offline_checks(settings), "key and database").status == Status.OK
    env = {**read_env(ready), "DIGEST_SECRET_KEY": "another-key-Qw8-Zx2-Lm5-Pr7-Tn4-Vb6-Kc3"}
    other = load_settings(ready / "digest.toml", env=env)
    check = by_name(offline_checks(other), "key and database")
    assert check.status == Status.ERROR
    assert check.found.startswith("DIGEST_SECRET_KEY is not the key this database's address hashes were made with")
    assert "digest db rekey" in check.fix
