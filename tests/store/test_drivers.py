"""The PostgreSQL driver is an optional extra: without it the store says what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmops.errors import StoreError
from llmops.store.db import make_engine


def test_missing_postgres_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    with pytest.raises(StoreError, match=r"llmops\[postgres\]") as info:
        make_engine("postgresql+psycopg://app:dbPASS99@127.0.0.1:1/x")
    assert "dbPASS99" not in str(info.value)


def test_sqlite_needs_no_extra(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select 1").scalar() == 1
