"""Alembic migrations, applied programmatically at start-up and by ``llmops db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from llmops.store.db import Database, translate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def _run(db: Database, fn: str, revision: str) -> None:
    cfg = _config(db)
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, fn)(cfg, revision)
    except SQLAlchemyError as exc:
        raise translate(exc, db.url) from exc


def upgrade(db: Database, revision: str = "head") -> None:
    _run(db, "upgrade", revision)


def downgrade(db: Database, revision: str = "base") -> None:
    _run(db, "downgrade", revision)


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()
