"""A project folder: `digest init` lays one out; :func:`open_engine` opens its database.

A project is a folder holding ``digest.toml`` (settings), ``.env`` (secrets),
``subscribers/segments.yaml`` (who gets which stories) and ``issues/`` (one
folder per issue); its ``.gitignore`` keeps secrets, the database and files of
personal data (``outbox/``, ``exports/``) out of git. Templates and the default
look come from the package; a ``templates/`` folder in the project overrides
them one file at a time.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from sqlalchemy.engine import Engine

from digest.config import CONFIG_NAME, Settings
from digest.errors import InputError
from digest.people.emails import check_address

DEFAULTS = Path(__file__).resolve().parent / "defaults"

# What a fresh project gets when `digest init` is given nothing: example
# values that pass the settings check, so every command works straight away;
# the README says which to change before a real send.
EXAMPLE_NAME = "Example Safeguarding Partnership"
EXAMPLE_FROM = "newsfeed@example.org"
EXAMPLE_BASE_URL = "https://news.example.org"


@dataclass
class InitReport:
    """What `digest init` wrote and what it left alone."""

    folder: Path
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def init_project(
    folder: Path,
    *,
    name: str = EXAMPLE_NAME,
    from_address: str = EXAMPLE_FROM,
    base_url: str = EXAMPLE_BASE_URL,
    privacy_url: str = "",
    address: str = "",
) -> InitReport:
    """Write a commented digest.toml, a .env with a fresh secret key, a .gitignore, example segments and issues/.

    ``privacy_url`` and ``address`` go into the footer; left empty, they are
    commented examples in digest.toml. Files that already exist are kept as
    they are (and reported), so running it again in a project never
    overwrites the editor's settings or secrets.
    """
    _check_values(name, from_address, base_url)
    _check_footer_values(privacy_url, address)
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError("exists and is not a folder", path=folder)
    folder.mkdir(parents=True, exist_ok=True)
    report = InitReport(folder=folder.resolve())

    settings_text = Template((DEFAULTS / "digest.toml").read_text(encoding="utf-8")).substitute(
        name=_toml_text(name),
        from_address=from_address,
        base_url=base_url.rstrip("/"),
        address=_setting_line("address", address, "1 Market Street, Anytown AB1 2CD"),
        privacy_url=_setting_line("privacy_url", privacy_url, "https://www.example.org/privacy"),
    )
    _write(report, folder / CONFIG_NAME, settings_text)
    _write(report, folder / ".env", _env_text(), private=True)
    _write(report, folder / ".gitignore", (DEFAULTS / "gitignore").read_text(encoding="utf-8"))
    _write(report, folder / "subscribers" / "segments.yaml", (DEFAULTS / "segments.yaml").read_text(encoding="utf-8"))
    issues = folder / "issues"
    if issues.is_dir():
        report.kept.append(issues)
    else:
        issues.mkdir(parents=True)
        report.written.append(issues)
    return report


def _check_values(name: str, from_address: str, base_url: str) -> None:
    if not name.strip() or any(ord(char) < 32 for char in name):
        raise InputError(f"organisation name {name!r} must be one line of text")
    check_address(from_address)
    if not base_url.startswith(("https://", "http://")) or any(char in base_url for char in ' "\n'):
        raise InputError(f"base URL {base_url!r} must be an http(s) address, e.g. https://news.example.org")


def _check_footer_values(privacy_url: str, address: str) -> None:
    if privacy_url and (not privacy_url.startswith("https://") or any(char in privacy_url for char in ' "\n')):
        raise InputError(
            f"privacy notice {privacy_url!r} must be an https:// address, e.g. https://www.example.org/privacy"
        )
    if any(ord(char) < 32 for char in address):
        raise InputError(f"postal address {address!r} must be one line of text")


def _setting_line(key: str, value: str, example: str) -> str:
    """``key = "value"`` for digest.toml, or the commented example when there is no value."""
    return f'{key} = "{_toml_text(value.strip())}"' if value.strip() else f'# {key} = "{example}"'


def _toml_text(value: str) -> str:
    """A value fit for a double-quoted TOML string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _env_text() -> str:
    return (
        "# Secrets for digest; never commit this file. See the README's Configuration section.\n"
        "# Signs unsubscribe and preference links and keys the suppression list's hashes:\n"
        "# changing it breaks links in mail already sent.\n"
        f"DIGEST_SECRET_KEY={secrets.token_urlsafe(48)}\n"
    )


def _write(report: InitReport, path: Path, text: str, *, private: bool = False) -> None:
    if path.exists():
        report.kept.append(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text, encoding="utf-8")
    if private:
        temporary.chmod(0o600)
    shutil.move(str(temporary), str(path))
    report.written.append(path)


def open_engine(
    settings: Settings, *, on_notice: Callable[[str], None] | None = None, check_key: bool = True
) -> Engine:
    """The project's database, migrated to the current schema, with its pool settings.

    Unless ``check_key`` is False (`digest db rekey`), a DIGEST_SECRET_KEY other than the one
    the database's address hashes were made with is refused here (:mod:`digest.people.keyguard`);
    ``on_notice`` hears when the database adopts the key on first use.
    """
    from digest.store.db import open_database

    engine = open_database(settings.database_url, pool=settings.pool)
    if check_key:
        from digest.people.keyguard import check_database_key

        try:
            check_database_key(engine, settings, on_notice)
        except BaseException:
            engine.dispose()
            raise
    return engine
