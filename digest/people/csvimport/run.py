"""The import as a whole: the encodings to try, one transaction, the reader feeding the writer.

The file is streamed: rows are checked one by one and written in batches,
all inside one transaction, so a 100,000-row file never sits in memory and a
failure (or ``--dry-run``) leaves the database exactly as it was.
"""

from __future__ import annotations

import csv
import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import InputError
from digest.people.csvimport.layout import StatusChoice, parse_maps
from digest.people.csvimport.profile import ProfileMapper
from digest.people.csvimport.reader import MAX_FIELD, RowReader
from digest.people.csvimport.sniff import encoding_from_bom, refuse_non_csv
from digest.people.csvimport.summary import ImportSummary
from digest.people.csvimport.writer import BatchWriter


@contextmanager
def _roomy(conn: Connection) -> Iterator[None]:
    """SQLite keeps more of the tables in memory while importing (64 MB rather than 2): the rows of a
    growing table land all over its indexes, and re-reading their pages costs a tenth of an import."""
    if conn.dialect.name != "sqlite":
        yield
        return
    sqlite = conn.connection.driver_connection  # outside SQLAlchemy's transaction: a pragma, not a statement
    before = sqlite.execute("PRAGMA cache_size").fetchone()[0]  # type: ignore[union-attr]
    sqlite.execute("PRAGMA cache_size = -65536")  # type: ignore[union-attr]
    try:
        yield
    finally:
        sqlite.execute(f"PRAGMA cache_size = {int(before)}")  # type: ignore[union-attr]


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cycle collector, told that what exists before the import (SQLAlchemy's and digest's
    own objects, hundreds of thousands) is there to stay, and run less often while rows stream.

    Without this it walks every one of those objects again and again as the rows' objects come and
    go: a tenth of a 100,000-row import. Nothing is kept from collection after the import: the
    frozen objects are handed back and the thresholds restored.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], 10_000), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class _WrongEncoding(Exception):
    """The file is not text in the encoding tried; the next one is tried, or the admin is told."""


def import_csv(
    engine: Engine,
    settings: Settings,
    path: Path,
    *,
    dry_run: bool = False,
    update: bool = False,
    consent_source: str | None = None,
    consent_text: str = "",
    encoding: str | None = None,
    check_deliverability: bool = False,
    rejects_file: Path | None = None,
    maps: list[str] | None = None,
    status_column: str | None = None,
    left_values: list[str] | None = None,
) -> ImportSummary:
    """Import subscribers from a CSV file; see the module docstring for the guarantees.

    ``maps`` are ``COLUMN=FIELD`` choices that override how a column is read
    (``REGION=region`` uses Mailchimp's geo-IP guess as the region).
    ``status_column`` and ``left_values`` answer the import's question about a
    column it cannot read: that column is the status, and these values of it
    mean the person left (``*``: any value does).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    settings.require_secret_key()  # suppression hashes need it; fail before reading
    refuse_non_csv(path)
    chosen_maps = parse_maps(maps or [])
    choice = StatusChoice(status_column, tuple(left_values or ()))
    source = consent_source or f"import: {path.name}"
    announced = None if encoding else encoding_from_bom(path)
    for candidate in [encoding or announced] if encoding or announced else ["utf-8-sig", "cp1252"]:
        assert candidate is not None
        try:
            summary = _import(
                engine,
                settings,
                path,
                candidate,
                dry_run=dry_run,
                update=update,
                consent_source=source,
                consent_text=consent_text,
                check_deliverability=check_deliverability,
                rejects_file=rejects_file,
                maps=chosen_maps,
                choice=choice,
            )
        except _WrongEncoding as exc:
            if encoding or announced:
                said = encoding or f"{announced} (as its byte order mark says)"
                raise InputError(f"not valid {said} text ({exc}); try another --encoding", path=path) from None
            continue
        if candidate == "cp1252" and not encoding:
            summary.warnings.insert(0, f"{path}: not UTF-8; read as Windows-1252 (use --encoding to choose)")
        return summary
    raise InputError("neither UTF-8 nor Windows-1252 text; name the encoding with --encoding (e.g. latin-1)", path=path)


def _import(
    engine: Engine,
    settings: Settings,
    path: Path,
    encoding: str,
    *,
    dry_run: bool,
    update: bool,
    consent_source: str,
    consent_text: str,
    check_deliverability: bool,
    rejects_file: Path | None,
    maps: Mapping[str, str],
    choice: StatusChoice,
) -> ImportSummary:
    summary = ImportSummary(encoding="utf-8" if encoding == "utf-8-sig" else encoding, dry_run=dry_run)
    old_limit = csv.field_size_limit(MAX_FIELD)
    rejects_handle = rejects_file.open("w", newline="", encoding="utf-8") if rejects_file else None
    rejects_writer = csv.writer(rejects_handle) if rejects_handle else None
    if rejects_writer:
        rejects_writer.writerow(["line", "reason"])
    mapper = ProfileMapper(path, settings, summary, consent_text, check_deliverability)
    reader = RowReader(path, encoding, summary, mapper, rejects_writer, maps, choice)
    try:
        with (
            path.open("r", encoding=encoding, newline="") as handle,
            engine.connect() as conn,
            _roomy(conn),
            _fewer_collections(),
        ):
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            transaction = conn.begin()
            try:
                writer = BatchWriter(conn, settings, summary, update=update, consent_source=consent_source)
                for item in reader.rows(handle):
                    writer.add(item)
                writer.flush()
                writer.finish()
            except UnicodeDecodeError as exc:
                transaction.rollback()
                raise _WrongEncoding(str(exc)) from None
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
    finally:
        csv.field_size_limit(old_limit)
        if rejects_handle:
            rejects_handle.close()
    mapper.report_topics()
    mapper.report_addresses()
    return summary
