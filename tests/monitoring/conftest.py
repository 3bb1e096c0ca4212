"""Monitoring fixtures: seeded history on each backend, and a brute-force reference.

The reference reads the raw rows with plain ORM queries and computes every metric in
Python, so the SQL (raw-window and rollup) paths are checked against something that shares
none of their code.
"""

from __future__ import annotations

import math
import os
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from llmops import demo
from llmops.monitoring.histogram import nearest_rank
from llmops.store.db import Database
from llmops.store.models import Feedback, GuardEvent, Trace

END = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def seeded_copies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The first seeded store of each backend, kept for the session: a SQLite file, or a
    PostgreSQL database (dropped at the end)."""
    copies: dict[str, str] = {}
    yield copies
    if "postgresql" in copies:
        admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{copies["postgresql"]}" WITH (FORCE)'))
        admin.dispose()


def _admin_url() -> str:
    url = os.environ.get("LLMOPS_TEST_DATABASE_URL")
    assert url
    return url


def _sqlite_copy(source: str, target: str) -> None:
    """SQLite's backup API: a consistent copy, no -wal file left behind."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _keep(db: Database, copies: dict[str, str], tmp: Path) -> None:
    """Keep a copy of ``db`` (just seeded) as its backend's seeded store."""
    if db.dialect == "sqlite":
        target = tmp / "seeded.db"
        _sqlite_copy(str(make_url(db.url).database), str(target))
        copies["sqlite"] = str(target)
        return
    name = f"llmops_seeded_{uuid.uuid4().hex[:12]}"
    db.engine.dispose()  # a database being copied may have no connection
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(db.url).database}"'))
    admin.dispose()
    copies[db.dialect] = name


def _restore(db: Database, source: str) -> None:
    """Replace ``db``'s contents by the kept seeded store (a byte copy)."""
    db.engine.dispose()  # connections opened before the copy must not see the old store
    if db.dialect == "sqlite":
        _sqlite_copy(source, str(make_url(db.url).database))
        return
    name = make_url(db.url).database
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
    admin.dispose()


@pytest.fixture
def seeded(
    db: Database, seeded_copies: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Database:
    """4,000 demo traces over 10 days ending at ``END``, written through the span writer.

    Seeded once per backend and session; every later test gets its own byte copy of that
    store (seeding took ~0.3 s a test on SQLite and ~1.5 s on PostgreSQL; a copy ~0.1 s)."""
    if db.dialect in seeded_copies:
        _restore(db, seeded_copies[db.dialect])
        return db
    demo.seed(db, traces=4000, days=10, seed=7, end=END)
    # on PostgreSQL only a database of its own can be copied (not a schema of the shared
    # one, which ``db`` uses when the role may not create databases: seeded every time)
    if db.dialect == "sqlite" or make_url(db.url).database != make_url(_admin_url()).database:
        _keep(db, seeded_copies, tmp_path_factory.mktemp("seeded"))
    return db


@dataclass
class Ref:
    traces: int = 0
    errors: int = 0
    blocked: int = 0
    violating: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    feedback: int = 0
    thumbs_up: int = 0
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)

    def pct(self, metric: str, permille: int) -> float | None:
        return nearest_rank(getattr(self, metric), permille)


def _epoch(dt: datetime) -> int:
    return (
        math.floor(dt.replace(tzinfo=UTC).timestamp())
        if dt.tzinfo is None
        else math.floor(dt.timestamp())
    )


def reference(
    db: Database,
    start: int,
    end: int,
    *,
    width: int | None,
    group: str = "none",
    release_id: str | None = None,
    model: str | None = None,
) -> dict[tuple[int, str], Ref]:
    """Metrics per (bucket start, group) over traces started in [start, end) epoch seconds;
    ``width=None`` means one bucket (0) for the whole range."""
    since = datetime.fromtimestamp(start, UTC)
    until = datetime.fromtimestamp(end, UTC)
    with db.session() as s:
        traces = s.execute(
            select(
                Trace.id, Trace.started_at, Trace.release_id, Trace.model, Trace.status,
                Trace.latency_ms, Trace.ttft_ms, Trace.input_tokens, Trace.output_tokens,
                Trace.cost,
            ).where(Trace.started_at >= since, Trace.started_at < until)
        ).all()  # fmt: skip
        flagged = set(s.scalars(select(GuardEvent.trace_id)))
        ratings: dict[str, list[float]] = defaultdict(list)
        for tid, score in s.execute(select(Feedback.trace_id, Feedback.score)):
            ratings[tid].append(score)
    out: dict[tuple[int, str], Ref] = defaultdict(Ref)
    for t in traces:
        if release_id and t.release_id != release_id:
            continue
        if model and t.model != model:
            continue
        epoch = _epoch(t.started_at)
        b = epoch - epoch % width if width else 0
        g = {"none": "", "release": t.release_id or "", "model": t.model or ""}[group]
        r = out[(b, g)]
        r.traces += 1
        r.errors += t.status == "error"
        r.blocked += t.status == "blocked"
        r.violating += t.id in flagged
        r.input_tokens += t.input_tokens
        r.output_tokens += t.output_tokens
        r.cost += t.cost
        if t.latency_ms is not None:
            r.latency.append(t.latency_ms)
        if t.ttft_ms is not None:
            r.ttft.append(t.ttft_ms)
        for score in ratings.get(t.id, []):
            r.feedback += 1
            r.thumbs_up += score >= 0.5
    return dict(out)


def assert_close(a: float, b: float, rel: float = 1e-9) -> None:
    assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-9), (a, b)


def cells(rows: list[Any], bucketed: bool = True) -> dict[tuple[int, str], Any]:
    return {((int(r.bucket.timestamp()) if bucketed and r.bucket else 0), r.group): r for r in rows}
