"""The database: SQLAlchemy Core tables, engine set-up and Alembic migrations.

SQLite is the default (one file beside digest.toml); PostgreSQL uses the same
tables, queries and migrations. Write transactions go through :func:`write`,
which on SQLite starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on
the busy timeout instead of failing with "database is locked" halfway through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import redact_url
from digest.errors import ConfigError, DigestError

# The newest migration; tests check it matches the migrations folder.
SCHEMA_HEAD = "0013"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000
MIGRATION_LOCK_KEY = 0x64696765  # "dige": an advisory lock id for schema upgrades on PostgreSQL


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them as text)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def utcnow() -> datetime:
    return datetime.now(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.String(120), primary_key=True),
    sa.Column("dedupe_key", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    # 0011: NULL for an article whose date could not be read; drafts leave it out until it is dated.
    sa.Column("published", sa.Date, nullable=True, index=True),
    sa.Column("author", sa.String(300), nullable=False, server_default=""),
    sa.Column("url", sa.String(2000), nullable=False, server_default=""),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("topics", sa.JSON, nullable=False),
    sa.Column("topics_locked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("origin", sa.String(2000), nullable=False, server_default=""),
    sa.Column("content_hash", sa.String(64), nullable=False),
    # What the import noticed about the article (a weekday that does not match its date, no body…).
    sa.Column("import_warnings", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # 0008: who posted the item where it was exported from (not its author), the
    # fields the editor corrected (later imports keep them), and when the editor
    # deleted it (later imports leave it deleted).
    sa.Column("posted_by", sa.String(300), nullable=False, server_default=""),
    sa.Column("edited", sa.JSON, nullable=False, server_default=sa.text("'[]'")),
    sa.Column("deleted_at", UTCDateTime, nullable=True),
)


subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False),
    # Lower-cased, trimmed address: unique, compared case-insensitively.
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),
    # Keyed hash of email_key, joined against the suppression list.
    sa.Column("email_hash", sa.String(64), nullable=False, index=True),
    sa.Column("first_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("last_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("organisation", sa.String(300), nullable=False, server_default=""),
    sa.Column("role", sa.String(200), nullable=False, server_default=""),
    sa.Column("sector", sa.String(100), nullable=False, server_default=""),
    sa.Column("region", sa.String(100), nullable=False, server_default=""),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("topics", sa.JSON, nullable=False),
    sa.Column("key_contact", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("status_reason", sa.Text, nullable=False, server_default=""),
    sa.Column("status_changed_at", UTCDateTime, nullable=False),
    sa.Column("consent_source", sa.String(300), nullable=False, server_default=""),
    sa.Column("consent_at", UTCDateTime, nullable=True),
    sa.Column("consent_text", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Soft bounces: a score that rises at most once a day and resets after a quiet spell.
    sa.Column("soft_bounce_score", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_soft_bounce_at", UTCDateTime, nullable=True),
)

subscriber_history = sa.Table(
    "subscriber_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("old_status", sa.String(16), nullable=True),
    sa.Column("new_status", sa.String(16), nullable=False),
    sa.Column("cause", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("event_id", sa.Integer, nullable=True),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("email_hash", sa.String(64), primary_key=True),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

suppression_log = sa.Table(
    "suppression_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email_hash", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("at", UTCDateTime, nullable=False),
)


sends = sa.Table(
    "sends",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_id", sa.String(120), nullable=False, index=True),
    # planned | sending | paused | done | failed | cancelled | scheduled
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("segments", sa.JSON, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("scheduled_at", UTCDateTime, nullable=True),
    sa.Column("provider_batch_id", sa.String(200), nullable=True),
)

send_variants = sa.Table(
    "send_variants",
    metadata,
    sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("variant", sa.String(400), primary_key=True),
    sa.Column("segment", sa.String(100), nullable=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("preheader", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("story_ids", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
)

send_batches = sa.Table(
    "send_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), nullable=False, index=True),
    # sending | accepted | failed | uncertain
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("provider_message_id", sa.String(300), nullable=True),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
    sa.Column("issue_id", sa.String(120), nullable=False),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False, index=True),
    # The address when planned (wiped on erasure): what was actually mailed.
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("segment", sa.String(100), nullable=False),
    sa.Column("variant", sa.String(400), nullable=True),
    # pending | sending | accepted | failed | skipped
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("send_batches.id"), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider_message_id", sa.String(300), nullable=True),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # One person, one copy of an issue: two segments or a second send cannot add another.
    sa.UniqueConstraint("issue_id", "subscriber_id"),
    sa.Index("ix_deliveries_send_state", "send_id", "state", "variant", "id"),
    # Partial, WHERE provider_message_id IS NOT NULL (migration 0007): planned and claimed rows have no
    # message id and cost no entry. The predicate lives in the migration only: written here it would
    # make every command load PostgreSQL's dialect (50 ms) to check the keyword.
    sa.Index("ix_deliveries_provider_message_id", "provider_message_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(16), nullable=False),
    # SendGrid's sg_event_id, or a hash of the event when it has none: the same
    # event delivered twice (SendGrid retries for 24 hours) is stored once.
    sa.Column("provider_event_id", sa.String(200), nullable=False),
    sa.Column("type", sa.String(24), nullable=False, index=True),
    sa.Column("raw_type", sa.String(64), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("email", sa.String(320), nullable=False, server_default=""),
    sa.Column("delivery_id", sa.Integer, nullable=True, index=True),
    sa.Column("subscriber_id", sa.Integer, nullable=True, index=True),
    sa.Column("issue_id", sa.String(120), nullable=True, index=True),
    sa.Column("message_id", sa.String(300), nullable=True),
    sa.Column("bounce_class", sa.String(8), nullable=True),
    sa.Column("status", sa.String(32), nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("url", sa.Text, nullable=False, server_default=""),
    sa.Column("machine_open", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("placed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("outcome", sa.Text, nullable=False, server_default=""),
    sa.Column("ingest_batch", sa.String(32), nullable=False),
    # Bounce evidence (0006): the reason class, the reader that decided, what tied it to a message we sent.
    sa.Column("bounce_reason", sa.String(32), nullable=False, server_default=""),
    sa.Column("parser", sa.String(64), nullable=False, server_default=""),
    sa.Column("matched_by", sa.String(200), nullable=False, server_default=""),
    sa.Column("raw", sa.Text, nullable=False),
    sa.UniqueConstraint("provider", "provider_event_id"),
)

subscribe_requests = sa.Table(
    "subscribe_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False, index=True),
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("consent_text", sa.Text, nullable=False),
    # Set when the confirmation is mailed (0008): a queued request has no link yet.
    sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
    sa.Column("confirmed_at", UTCDateTime, nullable=True),
    # queued | sending | sent | confirmed | skipped | limited | failed (see digest.people.signups)
    sa.Column("state", sa.String(16), nullable=False, server_default="sent", index=True),
    sa.Column("outcome", sa.Text, nullable=False, server_default=""),
    sa.Column("sent_at", UTCDateTime, nullable=True),
)

# Rate limits shared by every `digest serve` process: one row per counted request,
# in buckets named by a keyed hash (of a client address, or of a target address).
rate_limit_hits = sa.Table(
    "rate_limit_hits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bucket", sa.String(80), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_rate_limit_hits_bucket_at", "bucket", "at"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_id", sa.String(120), nullable=False, index=True),
    # A hash over the HTML and text of every variant: what exactly was approved.
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("variants", sa.JSON, nullable=False),
    sa.Column("approved_by", sa.String(200), nullable=False),
    sa.Column("approved_at", UTCDateTime, nullable=False),
)

# A correction or withdrawal of one story of a sent issue (`digest corrections`; digest.corrections),
# with who recorded it and when. Its own sends are in the ledger under digest.corrections's ledger key.
story_corrections = sa.Table(
    "story_corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_id", sa.String(120), nullable=False, index=True),
    sa.Column("article_id", sa.String(120), nullable=False),
    # correction | withdrawal
    sa.Column("kind", sa.String(16), nullable=False),
    # The corrected wording, or the withdrawal notice readers are shown.
    sa.Column("text", sa.Text, nullable=False),
    # The story's title and the date when the correction was recorded: what the email names.
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# One row (slot 1): the fingerprint of the DIGEST_SECRET_KEY that made the address hashes (0013).
# An HMAC of a fixed label with the key, never the key (digest.people.keyguard).
key_fingerprint = sa.Table(
    "key_fingerprint",
    metadata,
    sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    # first use | adopted | rekey
    sa.Column("how", sa.String(20), nullable=False),
)

send_locks = sa.Table(
    "send_locks",
    metadata,
    sa.Column("issue_id", sa.String(120), primary_key=True),
    sa.Column("send_id", sa.Integer, nullable=False),
    sa.Column("holder", sa.String(300), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot do BEGIN
    # IMMEDIATE; SQLAlchemy's documented recipe turns it off and begins itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    # FULL: a committed ledger row survives a power cut, not just a crash.
    cursor.execute("PRAGMA synchronous = FULL")
    # Deleted and overwritten content is zeroed, not left in free pages (the right to erasure).
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()
    # Segment rules compare text case-insensitively; SQLite's lower() knows
    # only ASCII, so rules use this (PostgreSQL's lower() folds Unicode).
    dbapi_connection.create_function("digest_fold", 1, _fold, deterministic=True)
    dbapi_connection.create_function("digest_words", 1, spaced_words, deterministic=True)


def _fold(value: Any) -> str | None:
    return None if value is None else " ".join(str(value).split()).casefold()


_WORD_RE = re.compile(r"[^\W_]+")


def spaced_words(value: Any) -> str | None:
    """Text as whole-word rules compare it: folded words, single spaces, a space at each end.

    "School-Nurse (lead)" becomes " school nurse lead ", so a rule for the
    word "nurse" is a plain LIKE '% nurse %' and never matches "Nursery".
    PostgreSQL computes the same with regexp_replace (see digest.people.segments).
    """
    if value is None:
        return None
    return " " + " ".join(_WORD_RE.findall(str(value).casefold())) + " "


def _on_sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for a sqlite:/// or postgresql:// URL with our connection settings."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            folder = Path(path).parent
            if not folder.is_dir():
                raise ConfigError(f"the database folder {folder} does not exist; create it first")
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        sa.event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        return sa.create_engine(url, pool_pre_ping=True, **kwargs)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the database driver {exc.name} is not installed; pip install 'safe-digest[postgres]'"
        ) from None


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any error."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction with a consistent view."""
    with engine.connect() as conn, conn.begin():
        yield conn


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING on this connection's database."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database (None for an empty database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database in place; returns (revision before, revision after)."""
    from alembic import command

    before = current_revision(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Hosts starting at once (web, sender, admin) must not migrate twice.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)
    return before, current_revision(engine)


def read_revision(engine: Engine, url: str) -> str | None:
    """The schema revision, or a clear error when the server cannot be reached."""
    try:
        return current_revision(engine)
    except sa.exc.OperationalError as exc:
        # The driver's message names host, port and user; the password is taken out in case it echoes it.
        message = str(exc.orig).strip()
        password = sa.engine.make_url(url).password
        if password:
            message = message.replace(str(password), "***")
        raise DigestError(f"cannot open the database {redact_url(url)}: {message}") from None


def open_database(url: str, *, auto_upgrade: bool = True, pool: Any = None) -> Engine:
    """Connect and make sure the schema is current, migrating an older file in place.

    ``pool`` (settings' PoolSettings) sizes PostgreSQL's connection pool.
    """
    options: dict[str, Any] = {}
    if pool is not None and not url.startswith("sqlite"):
        options = {
            "pool_size": pool.pool_size,
            "max_overflow": pool.max_overflow,
            "pool_timeout": pool.pool_timeout,
            "connect_args": {"connect_timeout": pool.connect_timeout},
        }
    engine = create_db_engine(url, **options)
    revision = read_revision(engine, url)
    if revision != SCHEMA_HEAD:
        if revision is not None and not _is_known_revision(revision):
            raise DigestError(
                f"the database is at schema revision {revision}, newer than this version of "
                "digest knows; upgrade digest"
            )
        if not auto_upgrade:
            raise DigestError(
                f"the database schema is at {revision or 'nothing'}, not {SCHEMA_HEAD}; run `digest db upgrade`"
            )
        upgrade(engine)
    return engine


def _is_known_revision(revision: str) -> bool:
    # Revisions are "0010" (file 0010_topic.py) or, from 0011, the file's own name ("0011_topic").
    return any(
        path.stem == revision or path.name.startswith(revision + "_")
        for path in (MIGRATIONS_DIR / "versions").glob("*.py")
    )
