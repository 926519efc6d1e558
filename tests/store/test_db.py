"""Schema and migrations: the tables in code are exactly what the migrations build."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from digest.store import db


def test_schema_head_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == db.SCHEMA_HEAD


def test_each_migrations_revision_is_its_file_names_number() -> None:
    # An older digest tells a newer schema from a broken one by finding "<revision>_*.py".
    for path in sorted((db.MIGRATIONS_DIR / "versions").glob("0*.py")):
        text = path.read_text(encoding="utf-8")
        number = path.name.split("_", 1)[0]
        assert f'\nrevision = "{number}"\n' in text, path.name
        assert db._is_known_revision(number)
    assert not db._is_known_revision("9999")


def test_migrations_build_exactly_the_tables_in_code(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = db.open_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == []


def test_new_database_is_created_at_head_in_wal_mode(tmp_path: Path) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'new.db'}")
    assert db.current_revision(engine) == db.SCHEMA_HEAD
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_write_rolls_back_on_error(tmp_path: Path) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'x.db'}")
    now = db.utcnow()
    row = dict(
        id="a",
        dedupe_key="k",
        source="s",
        title="t",
        published=now.date(),
        body=[],
        topics=[],
        content_hash="h",
        created_at=now,
        updated_at=now,
    )
    try:
        with db.write(engine) as conn:
            conn.execute(db.articles.insert().values(**row))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with db.read(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.articles)).scalar_one() == 0


def test_datetimes_come_back_aware_in_utc(tmp_path: Path) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'x.db'}")
    now = db.utcnow()
    with db.write(engine) as conn:
        conn.execute(
            db.articles.insert().values(
                id="a",
                dedupe_key="k",
                source="s",
                title="t",
                published=now.date(),
                body=[],
                topics=[],
                content_hash="h",
                created_at=now,
                updated_at=now,
            )
        )
    with db.read(engine) as conn:
        stored = conn.execute(sa.select(db.articles.c.created_at)).scalar_one()
    assert stored == now and stored.tzinfo is not None


def test_missing_database_folder_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from digest.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        db.open_database(f"sqlite:///{tmp_path / 'nope' / 'x.db'}")
    assert str(caught.value) == f"the database folder {tmp_path / 'nope'} does not exist; create it first"
