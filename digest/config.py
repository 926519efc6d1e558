"""Settings: ``digest.toml`` (non-secret) plus ``.env`` (secrets), read and checked once.

Every problem is reported as a :class:`~digest.errors.ConfigError` naming the
file, the setting and how to fix it. The result is a frozen :class:`Settings`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from digest.errors import ConfigError
from digest.netpolicy import AllowList
from digest.providers.registry import PROVIDER_NAMES
from digest.secret import HOW_TO_MAKE_ONE, MIN_SECRET_KEY_LENGTH, Secret, key_problem
from digest.tomltable import TomlTable, refuse_line_breaks
from digest.topics import TopicRule, configured_topics

CONFIG_NAME = "digest.toml"
ONE_LINE_ENV = (
    "DIGEST_SECRET_KEY",
    "SENDGRID_API_KEY",
    "SENDGRID_API_HOST",
    "SMTP_HOST",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
)


@dataclass(frozen=True)
class Organisation:
    name: str
    tagline: str = ""
    address: str = ""
    registration: str = ""  # e.g. "Company no. 12345678, registered in England and Wales"
    phone: str = ""
    website: str = ""
    contact_email: str = ""
    privacy_url: str = ""
    logo_url: str = ""
    logo_alt: str = ""
    # The organisation's day: feed timestamps become dates in this zone.
    timezone: str = "Europe/London"


@dataclass(frozen=True)
class EmailSettings:
    from_address: str
    from_name: str
    reply_to: str = ""
    unsubscribe_mailto: str = ""
    bounce_address: str = ""
    why_you_get_this: str = ""

    @property
    def domain(self) -> str:
        return self.from_address.rsplit("@", 1)[1].lower()


@dataclass(frozen=True)
class PoolSettings:
    """Connection settings for PostgreSQL (SQLite opens a file and needs none)."""

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    connect_timeout: int = 10


@dataclass(frozen=True)
class EventSettings:
    """What provider events do to subscribers (the rules are in digest.events.rules)."""

    soft_bounce_threshold: int = 3
    soft_bounce_reset_days: int = 30
    webhook_max_age_seconds: int = 600
    webhook_max_bytes: int = 8 * 1024 * 1024
    subscribe_rate_limit: int = 5  # sign-ups per client address per hour
    subscribe_address_limit: int = 3  # confirmation mails per target address per day
    # Points a soft bounce adds, by reason (digest.events.bounce_reasons.SOFT_REASONS); 1 when not named.
    soft_bounce_scores: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WebSettings:
    """How `digest serve` meets the network (waitress, and the proxies in front of it)."""

    # Proxies in front whose X-Forwarded-For is believed: 0 = clients connect directly.
    trusted_proxies: int = 0
    # Open connections waitress keeps (idle ones included) and how long an idle one may stay.
    connection_limit: int = 500
    channel_timeout: int = 20
    # Seconds a client has to send one whole request (head and body); a slower one is cut off.
    request_timeout: int = 30


@dataclass(frozen=True)
class StudioSettings:
    """How `digest studio` meets the network beyond this machine."""

    # Proxies in front (terminating HTTPS) whose X-Forwarded-For and -Proto are believed.
    trusted_proxies: int = 0


@dataclass(frozen=True)
class SourceSettings:
    """Where feeds may be fetched from (digest.articles.sources.fetch)."""

    # Internal hosts and networks fetched although not public (the organisation's intranet feeds).
    allow_hosts: AllowList = field(default_factory=AllowList)


@dataclass(frozen=True)
class SendGridSettings:
    api_key: Secret | None
    api_host: str = "https://api.sendgrid.com"
    timeout: float = 30.0
    batch_size: int = 1000
    max_retries: int = 5
    webhook_public_key: str | None = None
    asm_group_id: int | None = None
    retry_base_delay: float = 1.0
    # An uncertain batch with no event this long, while other batches had theirs, was never taken.
    uncertain_quiet_minutes: int = 360
    # The Return-Path subdomain of the domain authenticated in SendGrid (em1234.example.org): `digest doctor`
    # checks its alignment and records; SendGrid itself chooses the envelope sender.
    return_path_domain: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    security: str = "none"  # none | starttls | tls
    username: str = ""
    password: Secret | None = None
    timeout: float = 30.0
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_private_key_file: str = ""


@dataclass(frozen=True)
class Settings:
    """Everything the library needs to know, checked once at start."""

    project_dir: Path
    config_path: Path | None
    organisation: Organisation
    email: EmailSettings
    base_url: str
    database_url: str = field(repr=False)  # may hold the database's password
    provider: str
    language: str
    summary_words: int
    issue_days: int
    grouping: str
    topics: tuple[TopicRule, ...]
    issues_dir: Path
    template_dirs: tuple[Path, ...]
    preview_dir: Path
    outbox_dir: Path
    segments_file: Path
    sendgrid: SendGridSettings
    smtp: SmtpSettings
    secret_key: Secret | None = None
    require_approval: bool = True
    timezone: str = "Europe/London"
    events: EventSettings = field(default_factory=lambda: EventSettings())
    privacy_notice_version: str = ""
    web: WebSettings = field(default_factory=lambda: WebSettings())
    pool: PoolSettings = field(default_factory=lambda: PoolSettings())
    sources: SourceSettings = field(default_factory=lambda: SourceSettings())
    studio: StudioSettings = field(default_factory=lambda: StudioSettings())
    imap_password: Secret | None = None  # IMAP_PASSWORD: for `digest bounces scan imaps://…`
    studio_password: Secret | None = None  # DIGEST_STUDIO_PASSWORD: `digest studio` on an address other than localhost
    # Sources whose newsfeed "by <name>" is the writer, shown as a by-line ("*": every source).
    # Elsewhere it names who posted the item on the site, and readers do not see it.
    byline_sources: tuple[str, ...] = ()
    # The sign-up form's choices of sector; empty: those the segment rules name.
    sectors: tuple[str, ...] = ()

    def require_secret_key(self) -> bytes:
        """Return the secret key, or explain how to set one that is long enough and really secret."""
        key = self.secret_key.reveal() if self.secret_key else ""
        if not key:
            raise ConfigError(
                "DIGEST_SECRET_KEY is not set; add a random value of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters to .env (for example the output of {HOW_TO_MAKE_ONE})"
            )
        problem = key_problem(key)
        if problem is not None and len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(f"DIGEST_SECRET_KEY in .env {problem}")
        if problem is not None:
            raise ConfigError(
                f"DIGEST_SECRET_KEY in .env {problem}; put a fresh random value there (for example the output of "
                f"{HOW_TO_MAKE_ONE}). If this database already holds hashes made with it, keep the old value in a "
                "file and run `digest db rekey --old-key-file FILE` after setting the new one"
            )
        return key.encode("utf-8")

    def topic_label(self, slug: str) -> str:
        for rule in self.topics:
            if rule.slug == slug:
                return rule.label
        return slug.replace("-", " ").capitalize()

    @property
    def topic_slugs(self) -> tuple[str, ...]:
        return tuple(rule.slug for rule in self.topics)


def find_config(start: Path | None = None) -> Path | None:
    """The digest.toml named by DIGEST_CONFIG, or the first one in start or its parents."""
    named = os.environ.get("DIGEST_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"DIGEST_CONFIG names {path}, which does not exist")
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def read_env(project_dir: Path) -> dict[str, str]:
    """Secrets from ``.env`` beside digest.toml; the process environment wins."""
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    env_file = project_dir / ".env"
    if env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


def load_settings(config_path: Path | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read digest.toml and .env, check every value and return frozen settings."""
    path = config_path or find_config()
    if path is None:
        raise ConfigError(
            f"no {CONFIG_NAME} found in {Path.cwd()} or its parents; run the command from "
            "the project folder, pass --config PATH, or set DIGEST_CONFIG"
        )
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; pass the path of your {CONFIG_NAME}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML ({exc}); fix the syntax there") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    project_dir = path.parent.resolve()
    environ = dict(env) if env is not None else read_env(project_dir)
    return _build_settings(raw, path.resolve(), project_dir, environ)


# The tables digest.toml may hold, checked before any of them is read, so a
# misspelt [organisaton] is named as the typo rather than as its missing keys.
SECTIONS = (
    "organisation", "email", "web", "studio", "database", "paths", "render", "sources", "issue",
    "sending", "sendgrid", "smtp", "topics", "events",
)  # fmt: skip


def _build_settings(raw: Mapping[str, Any], path: Path, project_dir: Path, env: Mapping[str, str]) -> Settings:
    source = path.name
    for name in ONE_LINE_ENV:  # sent in headers, commands and requests; never shown (some are secrets)
        refuse_line_breaks(env.get(name, ""), f"{name} in .env", show=False)
    root = TomlTable(raw, "", source)
    root.refuse_unknown(SECTIONS)

    org_t = root.table("organisation")
    organisation = Organisation(
        name=org_t.line("name", hint='set it to your organisation\'s name, e.g. name = "SAFE CIC"'),
        tagline=org_t.text("tagline", ""),
        address=org_t.text("address", ""),
        registration=org_t.text("registration", ""),
        phone=org_t.text("phone", ""),
        website=org_t.url("website", ""),
        contact_email=org_t.email("contact_email", ""),
        privacy_url=org_t.url("privacy_url", ""),
        logo_url=org_t.url("logo_url", ""),
        logo_alt=org_t.text("logo_alt", ""),
        timezone=org_t.timezone("timezone", "Europe/London"),
    )
    org_t.finish()
    if organisation.logo_url and not organisation.logo_alt:
        raise ConfigError(
            f"{source}: [organisation] logo_alt is missing; a logo needs alt text for "
            "screen readers and for mail clients that block images"
        )

    email_t = root.table("email")
    email = EmailSettings(
        from_address=email_t.email("from_address", hint="set it to the address the digest is sent from"),
        from_name=email_t.line("from_name", organisation.name),
        reply_to=email_t.email("reply_to", ""),
        unsubscribe_mailto=email_t.email("unsubscribe_mailto", ""),
        bounce_address=email_t.email("bounce_address", ""),
        why_you_get_this=email_t.text("why_you_get_this", ""),
    )
    email_t.finish()

    web_t = root.table("web")
    base_url = web_t.url("base_url", None, hint="set it to the public address of `digest serve`").rstrip("/")
    privacy_notice_version = web_t.text("privacy_notice_version", "")
    sectors = web_t.strings("sectors")
    web = WebSettings(
        trusted_proxies=web_t.integer("trusted_proxies", 0, minimum=0, maximum=10),
        connection_limit=web_t.integer("connection_limit", 500, minimum=10, maximum=10_000),
        channel_timeout=web_t.integer("channel_timeout", 20, minimum=2, maximum=3600),
        request_timeout=web_t.integer("request_timeout", 30, minimum=2, maximum=3600),
    )
    web_t.finish()

    studio_t = root.table("studio")
    studio = StudioSettings(trusted_proxies=studio_t.integer("trusted_proxies", 0, minimum=0, maximum=10))
    studio_t.finish()

    db_t = root.table("database")
    configured_url = db_t.text("url", "sqlite:///digest.db")
    pool = PoolSettings(
        pool_size=db_t.integer("pool_size", 5, minimum=1, maximum=200),
        max_overflow=db_t.integer("max_overflow", 10, minimum=0, maximum=500),
        pool_timeout=db_t.number("pool_timeout", 30.0, minimum=1.0),
        connect_timeout=db_t.integer("connect_timeout", 10, minimum=1, maximum=600),
    )
    database_url = env.get("DIGEST_DATABASE_URL") or configured_url
    db_t.finish()
    database_url = _resolve_sqlite_url(database_url, project_dir)

    paths_t = root.table("paths")
    issues_dir = project_dir / paths_t.text("issues", "issues")
    template_dirs = _template_dirs(project_dir / paths_t.text("templates", "templates"))
    preview_dir = project_dir / paths_t.text("preview", "preview")
    outbox_dir = project_dir / paths_t.text("outbox", "outbox")
    segments_file = project_dir / paths_t.text("segments", "subscribers/segments.yaml")
    paths_t.finish()

    render_t = root.table("render")
    language = render_t.text("language", "en-GB")
    summary_words = render_t.integer("summary_words", 60, minimum=10, maximum=400)
    byline_sources = render_t.strings("byline_sources")
    render_t.finish()

    sources_t = root.table("sources")
    sources = SourceSettings(AllowList.parse(sources_t.strings("allow_hosts"), sources_t._where("allow_hosts")))
    sources_t.finish()

    issue_t = root.table("issue")
    issue_days = issue_t.integer("days", 7, minimum=1, maximum=366)
    grouping = issue_t.choice("grouping", "topic", ("topic", "source"))
    issue_t.finish()

    send_t = root.table("sending")
    provider = send_t.choice("provider", "outbox", tuple(sorted(PROVIDER_NAMES)))
    require_approval = send_t.flag("require_approval", True)
    timezone = send_t.timezone("timezone", organisation.timezone)
    send_t.finish()

    sg_t = root.table("sendgrid")
    sendgrid = SendGridSettings(
        api_key=Secret.from_env(env.get("SENDGRID_API_KEY")),
        api_host=_first(env.get("SENDGRID_API_HOST"), sg_t.url("api_host", "https://api.sendgrid.com")).rstrip("/"),
        timeout=sg_t.number("timeout", 30.0, minimum=0.1),
        batch_size=sg_t.integer("batch_size", 1000, minimum=1, maximum=1000),
        max_retries=sg_t.integer("max_retries", 5, minimum=0, maximum=20),
        webhook_public_key=env.get("SENDGRID_WEBHOOK_PUBLIC_KEY") or None,
        asm_group_id=sg_t.integer("asm_group_id", 0, minimum=0) or None,
        retry_base_delay=sg_t.number("retry_base_delay", 1.0, minimum=0.0),
        uncertain_quiet_minutes=sg_t.integer("uncertain_quiet_minutes", 360, minimum=5, maximum=7 * 24 * 60),
        return_path_domain=sg_t.domain("return_path_domain"),
    )
    sg_t.finish()

    smtp_t = root.table("smtp")
    smtp = SmtpSettings(
        host=_first(env.get("SMTP_HOST"), smtp_t.line("host", "localhost")),
        port=_env_int(env, "SMTP_PORT", smtp_t.integer("port", 25, minimum=1, maximum=65535)),
        security=smtp_t.choice("security", "none", ("none", "starttls", "tls")),
        username=_first(env.get("SMTP_USERNAME"), smtp_t.line("username", "")),
        password=Secret.from_env(env.get("SMTP_PASSWORD")),
        timeout=smtp_t.number("timeout", 30.0, minimum=0.1),
        dkim_selector=smtp_t.line("dkim_selector", ""),
        dkim_domain=smtp_t.line("dkim_domain", ""),
        dkim_private_key_file=smtp_t.text("dkim_private_key_file", ""),
    )
    smtp_t.finish()

    topics_t = root.table("topics")
    topics = configured_topics(topics_t.data, source)
    topics_t.seen.update(topics_t.data)

    events_t = root.table("events")
    events = EventSettings(
        soft_bounce_threshold=events_t.integer("soft_bounce_threshold", 3, minimum=1, maximum=100),
        soft_bounce_reset_days=events_t.integer("soft_bounce_reset_days", 30, minimum=1, maximum=3650),
        webhook_max_age_seconds=events_t.integer("webhook_max_age_seconds", 600, minimum=10),
        webhook_max_bytes=events_t.integer("webhook_max_bytes", 8 * 1024 * 1024, minimum=1024),
        subscribe_rate_limit=events_t.integer("subscribe_rate_limit", 5, minimum=1),
        subscribe_address_limit=events_t.integer("subscribe_address_limit", 3, minimum=1),
        soft_bounce_scores=_soft_bounce_scores(events_t.table("soft_bounce_scores")),
    )
    events_t.finish()
    root.finish()

    return Settings(
        project_dir=project_dir,
        config_path=path,
        organisation=organisation,
        email=email,
        base_url=base_url,
        database_url=database_url,
        provider=provider,
        language=language,
        summary_words=summary_words,
        issue_days=issue_days,
        grouping=grouping,
        topics=topics,
        issues_dir=issues_dir,
        template_dirs=template_dirs,
        preview_dir=preview_dir,
        outbox_dir=outbox_dir,
        segments_file=segments_file,
        sendgrid=sendgrid,
        smtp=smtp,
        secret_key=Secret.from_env(env.get("DIGEST_SECRET_KEY")),
        require_approval=require_approval,
        timezone=timezone,
        events=events,
        privacy_notice_version=privacy_notice_version,
        web=web,
        pool=pool,
        sources=sources,
        studio=studio,
        imap_password=Secret.from_env(env.get("IMAP_PASSWORD")),
        studio_password=Secret.from_env(env.get("DIGEST_STUDIO_PASSWORD")),
        byline_sources=byline_sources,
        sectors=sectors,
    )


def _soft_bounce_scores(table: TomlTable) -> dict[str, int]:
    """[events.soft_bounce_scores]: reason = points, for the soft reasons only."""
    if not table.data:
        table.finish()
        return {}  # nothing set: no need to load the bounce reader's reasons (and its patterns)
    from digest.events.bounce_reasons import SOFT_REASONS

    scores: dict[str, int] = {}
    for reason in list(table.data):
        if reason not in SOFT_REASONS:
            close = get_close_matches(reason, SOFT_REASONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; soft reasons are {', '.join(SOFT_REASONS)}"
            raise ConfigError(f"{table._where(reason)} is not a soft bounce reason{hint}")
        scores[reason] = table.integer(reason, 1, minimum=0, maximum=100)
    table.finish()
    return scores


def _first(override: str | None, configured: str) -> str:
    """The environment's value when set, else digest.toml's (which is still read and checked)."""
    return override.strip() if override else configured


def _env_int(env: Mapping[str, str], key: str, configured: int) -> int:
    value = env.get(key)
    if not value:
        return configured
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{key} in .env must be a whole number, not {value!r}") from None


def _resolve_sqlite_url(url: str, project_dir: Path) -> str:
    """Make a relative SQLite path relative to the project, not to the caller's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((project_dir / url[len(prefix) :]).resolve())
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(
            f"database URL {redact_url(url)!r} is not supported; use sqlite:///PATH or postgresql://USER@HOST/NAME"
        )
    check_database_url(url)
    return url


def redact_url(url: str) -> str:
    """A database URL fit for messages: any password replaced by ***.

    The password runs to the last ``@`` before the host, so one holding ``@``
    itself (unencoded, as people do write them) is hidden whole.
    """
    return re.sub(r"(://[^:/@]+:)[^/]*@", r"\1***@", url)


def check_database_url(url: str) -> None:
    """Refuse a URL the driver could not even parse (a port that is not a number, say)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    authority = url.partition("://")[2].partition("/")[0]
    if authority.count("@") > 1:
        raise ConfigError(
            f"database URL {redact_url(url)!r} is not valid: the user name or password holds '@'; "
            "write it as %40 in the URL"
        )
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError) as exc:
        reason = "the port must be a number" if "int()" in str(exc) else "it cannot be read"
        raise ConfigError(f"database URL {redact_url(url)!r} is not valid: {reason}") from None
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"database URL {redact_url(url)!r} is not valid: port {port} is not between 1 and 65535")


# The templates shipped inside the package: the default look of the email and the pages.
PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _template_dirs(own: Path) -> tuple[Path, ...]:
    """Where templates are looked up: the project's own folder first (any file there overrides
    the packaged one of the same name), then the package's defaults."""
    if own.exists() and not own.is_dir():
        raise ConfigError(f"[paths] templates names {own}, which is not a folder")
    return (own, PACKAGED_TEMPLATES) if own.is_dir() else (PACKAGED_TEMPLATES,)
