from __future__ import annotations

from sqlalchemy import inspect, select

from llmops.releases import PRODUCTION, ensure_default_release
from llmops.runtime import bootstrap
from llmops.store.db import Database
from llmops.store.migrate import current_revision, downgrade, head_revision, upgrade
from llmops.store.models import Base, Release, ReleaseLabel

EXPECTED = {"releases", "release_labels", "traces", "spans", "feedback", "documents", "audit_log"}


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_blank_db_up_down_up(blank_db: Database) -> None:
    upgrade(blank_db)
    assert _tables(blank_db) >= EXPECTED
    assert current_revision(blank_db) == head_revision()

    downgrade(blank_db, "base")
    assert _tables(blank_db) == set()
    assert current_revision(blank_db) is None

    upgrade(blank_db)
    assert _tables(blank_db) >= EXPECTED


def test_migrations_match_models(blank_db: Database) -> None:
    """Every model table and index exists after migrating: no drift between the two."""
    upgrade(blank_db)
    insp = inspect(blank_db.engine)
    for table in Base.metadata.sorted_tables:
        cols = {c["name"] for c in insp.get_columns(table.name)}
        assert {c.name for c in table.columns} == cols, table.name
        indexes = {i["name"] for i in insp.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes, table.name


def test_default_release_is_created_once_and_labelled_production(blank_db: Database) -> None:
    first = bootstrap(blank_db)
    second = bootstrap(blank_db)
    assert first.id == second.id
    assert first.label == PRODUCTION
    assert first.config.model.provider == "local"
    with blank_db.session() as s:
        assert len(s.scalars(select(Release)).all()) == 1
        label = s.get(ReleaseLabel, PRODUCTION)
        assert label is not None and label.release_id == first.id
    assert ensure_default_release(blank_db).id == first.id


def test_sqlite_runs_in_wal_mode(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2000
