"""Text that leaves the store — redacted away, erased, expired, or the old copy of an updated
row — does not linger in the SQLite file's free space."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from llmops.store.db import Database
from llmops.store.sql import write_tx

SECRET = "lingering-" + "x" * 40


def _raw(db: Database) -> bytes:
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(db.engine.url.database or "")
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_deleted_and_overwritten_text_is_zeroed(sqlite_db: Database) -> None:
    with sqlite_db.engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        for i in range(2):
            conn.execute(
                text("INSERT INTO traces (id, name, session_id, status, started_at, input, "
                     "input_tokens, output_tokens, cost) VALUES (:id, 'chat', 's', 'ok', "
                     "'2026-12-06 10:00:00', :input, 0, 0, 0)"),
                {"id": f"{i:032x}", "input": f"{SECRET}-{i}"},
            )  # fmt: skip
    assert SECRET.encode() in _raw(sqlite_db)
    with write_tx(sqlite_db, secure_delete=True):  # an erasure batch before, on a pooled
        pass  # connection: it must not leave secure_delete off behind it
    with sqlite_db.engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        # a longer value moves the row within its page; the other row is deleted
        conn.execute(text("UPDATE traces SET input = :v WHERE id = :id"),
                     {"v": "y" * 400, "id": f"{0:032x}"})  # fmt: skip
        conn.execute(text("DELETE FROM traces WHERE id = :id"), {"id": f"{1:032x}"})
    assert SECRET.encode() not in _raw(sqlite_db)
