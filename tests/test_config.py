"""Settings: read and checked once; every problem names the file, the setting and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.errors import ConfigError
from digest.secret import Secret
from tests.conftest import PROJECT_TOML


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env=env or {})


def test_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, PROJECT_TOML.replace("require_approval = false", ""))
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/digest.db"
    assert settings.provider == "outbox"
    assert settings.issue_days == 7
    assert settings.summary_words == 60
    assert settings.require_approval is True
    assert settings.issues_dir == tmp_path.resolve() / "issues"
    assert settings.email.domain == "safe.example.org"
    assert "water-safety" in settings.topic_slugs


def test_environment_overrides_and_secrets(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        PROJECT_TOML,
        {
            "DIGEST_DATABASE_URL": "sqlite:///other.db",
            "SENDGRID_API_KEY": "SG.x",
            "DIGEST_SECRET_KEY": "kq7-Zx2w9Lm" * 4,
        },
    )
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/other.db"
    assert settings.sendgrid.api_key == Secret("SG.x")
    assert settings.require_secret_key() == b"kq7-Zx2w9Lm" * 4


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SENDGRID_API_KEY=SG.from-dotenv\n", encoding="utf-8")
    path = tmp_path / "digest.toml"
    path.write_text(PROJECT_TOML, encoding="utf-8")
    assert load_settings(path).sendgrid.api_key == Secret("SG.from-dotenv")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('from_address = "newsfeed@safe.example.org"', 'form_address = "x@y.org"'),
            "digest.toml: [email] form_address is not a known setting; did you mean 'from_address'?",
        ),
        (
            ('from_address = "newsfeed@safe.example.org"', ""),
            "digest.toml: [email] from_address is missing; set it to the address the digest is sent from",
        ),
        (("[web]", '[web]\ntheme = "dark"'), "digest.toml: [web] theme is not a known setting"),
        # A misspelt table is the typo it is, not the keys it seems to lack.
        (
            ("[organisation]", "[organisaton]"),
            "digest.toml: [organisaton] is not a known table; did you mean [organisation]?",
        ),
        (("[web]", "[colours]\nlink = 1\n[web]"), "digest.toml: [colours] is not a known table"),
        (
            ("[web]", "[events.soft_bounce_scorez]\nx = 1\n[web]"),
            "digest.toml: [events.soft_bounce_scorez] is not a known table; did you mean [events.soft_bounce_scores]?",
        ),
        (("from_name", "from_nam"), "digest.toml: [email] from_nam is not a known setting; did you mean 'from_name'?"),
        (('name = "SAFE CIC"', "name = 3"), "digest.toml: [organisation] name must be a string, not 3"),
        (
            ("newsfeed@safe.example.org", "not-an-address"),
            "digest.toml: [email] from_address is not an email address: 'not-an-address'",
        ),
        (
            ("https://news.safe.example.org", "news.example.org"),
            "digest.toml: [web] base_url must start with https:// (got 'news.example.org')",
        ),
        (("[web]", "[issue]\ndays = 0\n[web]"), "digest.toml: [issue] days must be at least 1 and at most 366, not 0"),
        (
            ("require_approval = false", 'provider = "pigeon"'),
            "digest.toml: [sending] provider is 'pigeon'; choose one of outbox, sendgrid, smtp",
        ),
        (
            ("[web]", '[topics.Bad_Name]\nkeywords = ["x"]\n[web]'),
            "digest.toml: [topics.Bad_Name] is not a valid topic name; use lower-case letters, digits and hyphens",
        ),
        (
            ("[web]", '[database]\nurl = "mysql://x"\n[web]'),
            "database URL 'mysql://x' is not supported; use sqlite:///PATH or postgresql://USER@HOST/NAME",
        ),
        (("[web]", "[web\n"), "digest.toml: not valid TOML"),
        (
            ("[web]", '[database]\nurl = "postgresql://digest@db.example.org:abc/news"\n[web]'),
            "database URL 'postgresql://digest@db.example.org:abc/news' is not valid: the port must be a number",
        ),
        (
            ("[web]", '[database]\nurl = "postgresql://digest@db.example.org:99999/news"\n[web]'),
            "database URL 'postgresql://digest@db.example.org:99999/news' is not valid: port 99999 is not between",
        ),
        (
            ("[web]", '[database]\nurl = "postgresql://digest:p@ss:w@rd@db.example.org/news"\n[web]'),
            "database URL 'postgresql://digest:***@db.example.org/news' is not valid: the user name or password "
            "holds '@'; write it as %40 in the URL",
        ),
    ],
)
def test_bad_settings(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, PROJECT_TOML.replace(*change, 1))
    assert str(caught.value).startswith(message)


def test_topics_can_be_relabelled_added_and_removed(tmp_path: Path) -> None:
    extra = '\n[topics.water-safety]\nlabel = "Water"\n[topics.radicalisation]\nkeywords = ["prevent", "extremism"]\n[topics.health]\nkeywords = []\n'
    settings = load(tmp_path, PROJECT_TOML + extra)
    assert settings.topic_label("water-safety") == "Water"
    assert "radicalisation" in settings.topic_slugs
    assert "health" not in settings.topic_slugs


def test_secret_key_must_be_set_and_long(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, PROJECT_TOML).require_secret_key()
    assert str(caught.value).startswith(
        "DIGEST_SECRET_KEY is not set; add a random value of at least 32 characters to .env"
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, PROJECT_TOML, {"DIGEST_SECRET_KEY": "short"}).require_secret_key()
    assert str(caught.value).startswith("DIGEST_SECRET_KEY in .env is 5 characters long; it must be at least 32")


def test_logo_needs_alt_text(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, PROJECT_TOML.replace("[email]", 'logo_url = "https://x.example/logo.png"\n\n[email]'))
    assert "logo_alt is missing" in str(caught.value)


def test_organisation_time_zone_defaults_to_london_and_sending_follows_it(tmp_path: Path) -> None:
    settings = load(tmp_path, PROJECT_TOML)
    assert (settings.organisation.timezone, settings.timezone) == ("Europe/London", "Europe/London")
    dublin = load(tmp_path, PROJECT_TOML.replace('name = "SAFE CIC"', 'name = "SAFE CIC"\ntimezone = "Europe/Dublin"'))
    assert (dublin.organisation.timezone, dublin.timezone) == ("Europe/Dublin", "Europe/Dublin")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, PROJECT_TOML.replace('name = "SAFE CIC"', 'name = "SAFE CIC"\ntimezone = "Europe/Londn"'))
    assert str(caught.value) == (
        "digest.toml: [organisation] timezone 'Europe/Londn' is not a time zone name (e.g. Europe/London)"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://digest:s3cret@db.example.org/news", "postgresql://digest:***@db.example.org/news"),
        ("postgresql://digest:p@ss@db.example.org:5432/news", "postgresql://digest:***@db.example.org:5432/news"),
        ("postgresql://digest@db.example.org/news", "postgresql://digest@db.example.org/news"),
        ("sqlite:////srv/digest.db", "sqlite:////srv/digest.db"),
    ],
)
def test_passwords_are_hidden_whole_in_messages(url: str, shown: str) -> None:
    from digest.config import redact_url

    assert redact_url(url) == shown


def test_an_unreachable_database_is_a_clear_error_for_every_command(invoke, project: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.smtp import free_port

    url = f"postgresql://digest:hunter2@127.0.0.1:{free_port()}/news"
    (project / ".env").write_text((project / ".env").read_text() + f"DIGEST_DATABASE_URL={url}\n")
    for command in (["db", "current"], ["articles", "list"]):
        result = invoke(*command)
        assert result.exit_code == 1
        assert result.output.startswith("Error: cannot open the database postgresql://digest:***@127.0.0.1:")
        assert "hunter2" not in result.output and "Traceback" not in result.output


def test_every_table_the_settings_read_is_a_known_section(tmp_path: Path) -> None:
    from digest import config
    from digest.tomltable import TomlTable

    read: list[str] = []
    original = TomlTable.table

    def recording(self: TomlTable, key: str) -> TomlTable:
        if not self.name:
            read.append(key)
        return original(self, key)

    path = tmp_path / "digest.toml"
    path.write_text(PROJECT_TOML, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TomlTable, "table", recording)
        load_settings(path, env={})
    assert sorted(read) == sorted(config.SECTIONS)


SECRETS = {
    "DIGEST_SECRET_KEY": "secret-key-0123456789-0123456789-0123456789",
    "SENDGRID_API_KEY": "SG.api-key-that-must-not-show",
    "SMTP_PASSWORD": "smtp-password-that-must-not-show",
    "IMAP_PASSWORD": "imap-password-that-must-not-show",
    "DIGEST_STUDIO_PASSWORD": "studio-password-that-must-not-show",
    "DIGEST_DATABASE_URL": "postgresql://digest:database-password-that-must-not-show@127.0.0.1/digest",
}


def test_settings_never_show_their_secrets(tmp_path: Path) -> None:
    settings = load(tmp_path, PROJECT_TOML, SECRETS)
    shown = "\n".join([repr(settings), str(settings), f"{settings}", repr(settings.sendgrid), str(settings.smtp)])
    for name in (
        "secret-key-0123",
        "SG.api-key",
        "smtp-password",
        "imap-password",
        "studio-password",
        "database-password",
    ):
        assert name not in shown
    assert "Secret('***')" in shown
    assert settings.sendgrid.api_key.reveal() == SECRETS["SENDGRID_API_KEY"]
    assert settings.smtp.password.reveal() == SECRETS["SMTP_PASSWORD"]
    assert settings.database_url == SECRETS["DIGEST_DATABASE_URL"]
    assert settings.require_secret_key() == SECRETS["DIGEST_SECRET_KEY"].encode()


@pytest.mark.parametrize("breaker", ["\\r\\n", "\\n", "\\r", "\\u0085", "\\u2028", "\\u0000"])
@pytest.mark.parametrize(
    ("line", "where"),
    [
        ('[organisation]\nname = "SAFE{}Bcc: everyone@example.org"', "[organisation] name"),
        ('[email]\nfrom_name = "SAFE{}Bcc: everyone@example.org"', "[email] from_name"),
        ('[web]\nbase_url = "https://news.safe.example.org/{}X-Injected: 1"', "[web] base_url"),
        ('[smtp]\ndkim_selector = "s1{}X: y"', "[smtp] dkim_selector"),
        ('[smtp]\ndkim_domain = "safe.example.org{}X: y"', "[smtp] dkim_domain"),
        ('[smtp]\nhost = "mail.example.org{}RCPT TO:<x@example.org>"', "[smtp] host"),
        ('[smtp]\nusername = "digest{}X"', "[smtp] username"),
        ('[sendgrid]\napi_host = "https://api.sendgrid.com/{}X-Injected: 1"', "[sendgrid] api_host"),
    ],
)
def test_settings_that_go_into_headers_must_be_one_line(tmp_path: Path, line: str, where: str, breaker: str) -> None:
    table, setting = line.split("\n")
    key = setting.split(" = ")[0]
    text = PROJECT_TOML if f"{table}\n" in PROJECT_TOML else PROJECT_TOML + f"\n{table}\n"
    text = re.sub(rf"(?m)^{key} = .*\n", "", text).replace(f"{table}\n", f"{table}\n{setting.format(breaker)}\n", 1)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value).startswith(f"digest.toml: {where} holds a line break or another control character")


@pytest.mark.parametrize(
    "name", ["SENDGRID_API_KEY", "SENDGRID_API_HOST", "SMTP_HOST", "SMTP_USERNAME", "DIGEST_SECRET_KEY"]
)
def test_environment_values_that_go_into_headers_must_be_one_line(tmp_path: Path, name: str) -> None:
    value = "https://x.example.org\r\nX-Injected: 1" if name.endswith("HOST") else "k" * 40 + "\r\nX-Injected: 1"
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, PROJECT_TOML, {name: value})
    assert str(caught.value) == f"{name} in .env holds a line break or another control character; it must be one line"
    assert "X-Injected" not in str(caught.value)  # a secret is never repeated in a message
