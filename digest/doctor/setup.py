"""The project's own set-up, checked without the network: secrets, settings, segments, templates, database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from digest.config import MIN_SECRET_KEY_LENGTH, PACKAGED_TEMPLATES, Settings, redact_url
from digest.doctor.report import Check, error, ok, skipped, warning
from digest.errors import DigestError
from digest.words import counted

TEMPLATE_SUFFIXES = (".j2", ".css", ".js")


def secret_key(settings: Settings) -> Check:
    """DIGEST_SECRET_KEY present and long enough (it signs every link and VERP address)."""
    try:
        key = settings.require_secret_key()
    except DigestError as exc:
        found, _, fix = str(exc).partition("; ")
        return error("secret key", found, fix)
    return ok("secret key", f"DIGEST_SECRET_KEY is set ({len(key)} characters, at least {MIN_SECRET_KEY_LENGTH})")


def credentials(settings: Settings, provider: str) -> Check:
    """What the chosen provider needs to send is there."""
    name = "credentials"
    if provider == "outbox":
        return ok(name, "outbox: messages are written to files, so no credentials are needed")
    if provider == "sendgrid":
        key = settings.sendgrid.api_key
        if not key:
            return error(name, "SENDGRID_API_KEY is not set", "add an API key with the Mail Send scope to .env")
        if not key.reveal().startswith("SG."):
            return warning(
                name,
                "SENDGRID_API_KEY does not start with SG., as SendGrid's API keys do",
                "paste the whole key SendGrid showed when it was made (Settings → API Keys)",
            )
        return ok(name, "SENDGRID_API_KEY is set")
    smtp = settings.smtp
    where = f"{smtp.host}:{smtp.port} ({smtp.security})"
    if smtp.username and not smtp.password:
        return error(name, f"[smtp] username is {smtp.username!r} but SMTP_PASSWORD is not set", "add it to .env")
    if smtp.username and smtp.security == "none" and not _is_local(smtp.host):
        return warning(
            name,
            f"the relay {where} gets the password without encryption",
            'set [smtp] security = "starttls" (port 587) or "tls" (port 465)',
        )
    login = f" as {smtp.username}" if smtp.username else " without a login"
    return ok(name, f"SMTP relay {where}{login}")


def _is_local(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


def base_url(settings: Settings, provider: str) -> Check:
    """[web] base_url is https: RFC 8058 §3.1 wants the one-click address to be HTTPS."""
    name = "base_url"
    if settings.base_url.startswith("https://"):
        return ok(name, f"[web] base_url is {settings.base_url}")
    found = f"[web] base_url is {settings.base_url}, not https"
    fix = "serve `digest serve` behind HTTPS and set base_url to its https:// address"
    if provider == "outbox":
        return warning(name, found + " (one-click unsubscribe needs https once mail goes out)", fix)
    return error(name, found + ": receivers ignore a one-click unsubscribe that is not https", fix)


def privacy_link(settings: Settings) -> Check:
    if settings.organisation.privacy_url:
        return ok("privacy link", f"[organisation] privacy_url is {settings.organisation.privacy_url}")
    return warning(
        "privacy link",
        "[organisation] privacy_url is not set, so the footer has no privacy notice",
        "set it to your privacy notice's address (UK GDPR Art. 13: people must be told how their data is used)",
    )


def postal_address(settings: Settings) -> Check:
    if settings.organisation.address:
        return ok("postal address", f"[organisation] address is {settings.organisation.address!r}")
    return warning(
        "postal address",
        "[organisation] address is not set, so the footer has no postal address",
        "set it: readers and receivers look for who sent a bulk email and how to reach them",
    )


def segments(settings: Settings) -> Check:
    from digest.people.segments import load_segments

    try:
        found = load_segments(settings)
    except DigestError as exc:
        return error("segments", str(exc), f"fix {settings.segments_file.name}; `digest segments list` checks it")
    names = ", ".join(segment.name for segment in found)
    return ok("segments", f"{settings.segments_file.name}: {counted(len(found), 'segment')}: {names}")


def templates(settings: Settings) -> Check:
    """Which packaged templates the project overrides, and whether each override parses."""
    name = "templates"
    own = settings.template_dirs[0] if len(settings.template_dirs) > 1 else None
    if own is None:
        return ok(name, "none overridden: the packaged templates are used")
    files = sorted(path for path in own.rglob("*") if path.is_file() and path.suffix in TEMPLATE_SUFFIXES)
    overridden = [_relative(path, own) for path in files if (PACKAGED_TEMPLATES / _relative(path, own)).is_file()]
    added = [_relative(path, own) for path in files if _relative(path, own) not in overridden]
    broken = _syntax_errors(settings, own, files)
    if broken:
        return error(name, "; ".join(broken), "fix the template, or remove it to use the packaged one")
    found = f"{len(overridden)} overridden in {own}" + (f": {', '.join(overridden)}" if overridden else "")
    if added:
        found += f"; {len(added)} added: {', '.join(added)}"
    return ok(name, found)


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _syntax_errors(settings: Settings, own: Path, files: list[Path]) -> list[str]:
    import jinja2

    from digest.issues.render import environment

    env = environment(settings)
    broken = []
    for path in files:
        if path.suffix != ".j2":
            continue
        try:
            env.parse(path.read_text(encoding="utf-8"))
        except jinja2.TemplateSyntaxError as exc:
            broken.append(f"{_relative(path, own)}, line {exc.lineno}: {exc.message}")
        except (OSError, UnicodeDecodeError) as exc:
            broken.append(f"{_relative(path, own)} cannot be read ({exc})")
    return broken


def database_key(settings: Settings) -> Check:
    """The secret key is the one the database's address hashes were made with (digest.people.keyguard)."""
    from digest.people.keyguard import fingerprint, mismatch, stored_fingerprint
    from digest.store.db import create_db_engine

    name = "key and database"
    sqlite_file = settings.database_url.removeprefix("sqlite:///")
    if sqlite_file != settings.database_url and not Path(sqlite_file).exists():
        return skipped(name, "no database yet: it remembers the key that first uses it")
    try:
        key = settings.require_secret_key()
    except DigestError:
        return skipped(name, "no usable secret key (its own line says why)")
    engine = create_db_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            stored = stored_fingerprint(conn)
    except SQLAlchemyError:  # an old or unreachable database has its own line
        return skipped(name, "the database cannot say yet (its own line says why)")
    finally:
        engine.dispose()
    mine = fingerprint(key)
    if stored is None:
        return ok(name, "the database remembers no key yet; the next command records this one")
    if stored != mine:
        found, _, fix = str(mismatch(stored, mine)).partition(". With another key")
        return error(name, found, "With another key" + fix)
    return ok(name, "DIGEST_SECRET_KEY is the key the database's address hashes were made with")


def database(settings: Settings) -> Check:
    """The database answers and its schema is the one this digest expects (nothing is migrated here)."""
    from digest.store.db import SCHEMA_HEAD, create_db_engine, read_revision

    name = "database"
    where = redact_url(settings.database_url)
    sqlite_file = settings.database_url.removeprefix("sqlite:///")
    if sqlite_file != settings.database_url and sqlite_file != ":memory:" and not Path(sqlite_file).exists():
        return warning(name, f"{where} does not exist yet", "any digest command that needs it makes it")
    engine = create_db_engine(settings.database_url)
    try:
        revision = read_revision(engine, settings.database_url)
    except DigestError as exc:
        return error(name, str(exc), "start the database server, or fix DIGEST_DATABASE_URL / [database] url")
    finally:
        engine.dispose()
    if revision == SCHEMA_HEAD:
        return ok(name, f"{where}: schema {revision}, current")
    return error(
        name,
        f"{where}: schema {revision or 'empty'}, not {SCHEMA_HEAD}",
        "run `digest db upgrade`" if revision is None or revision < SCHEMA_HEAD else "upgrade digest",
    )
