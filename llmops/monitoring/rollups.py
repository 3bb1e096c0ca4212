"""Rollups maintained at write time, in the transaction that inserts the traces.

The span writer (``llmops.tracing.writer``) calls ``prepare`` before inserting a batch and
``Pending.apply`` after, on the same connection, so a batch and its aggregates commit or roll
back together. ``prepare`` also prices each new trace from the price table
(``llmops.monitoring.pricing``), so the stored cost and the rolled-up cost are one number.

Exactly once: traces already in the store (a spool replay after an ambiguous failure) are
found first and not counted again. A trace is *violating* when it has at least one guard
event; events are queued before their trace, so they are in the store or in the same batch
when the trace arrives, and an event that comes later for a stored trace is counted then.

Feedback is maintained by triggers on ``feedback`` (migration 0004): it is written one row at
a time from several places (chat, CLI, reviewers), and a trigger sees them all.

``rebuild`` recomputes everything from the stored rows (migration backfill, and
``llmops monitor rollup --rebuild`` after a retention job or a manual repair).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection

from llmops.monitoring.histogram import bin_of
from llmops.monitoring.pricing import PriceBook, load_book
from llmops.store.models import is_live
from llmops.store.sql import epoch_sql, live_sql, marks, run_in

Row = tuple[Any, ...] | list[Any]
GRAINS: tuple[tuple[str, int], ...] = (("minute", 60), ("hour", 3600), ("day", 86400))
SUMS = (
    "traces", "errors", "blocked", "latency_n", "latency_sum", "ttft_n", "ttft_sum",
    "input_tokens", "output_tokens", "cost", "violating",
)  # fmt: skip


class _Ix(NamedTuple):
    """Positions of the columns the rollups read in a trace row."""

    id: int
    release: int
    model: int
    status: int
    started: int
    latency: int
    ttft: int
    tin: int
    tout: int
    cost: int
    session: int


def index_of(columns: Sequence[str]) -> _Ix:
    pos = {name: i for i, name in enumerate(columns)}
    return _Ix(
        pos["id"], pos["release_id"], pos["model"], pos["status"], pos["started_at"],
        pos["latency_ms"], pos["ttft_ms"], pos["input_tokens"], pos["output_tokens"], pos["cost"],
        pos["session_id"],
    )  # fmt: skip


_MINUTES: dict[str, int] = {}


def minute_epoch(ts: datetime | str) -> int:
    """Epoch seconds of the UTC minute holding ``ts`` (text as the writer stores it, or a
    datetime). Text is cut at the minute and cached: a batch shares a handful of minutes."""
    if isinstance(ts, datetime):
        aware = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        return int(aware.timestamp()) // 60 * 60
    key = str(ts)[:16]
    value = _MINUTES.get(key)
    if value is None:
        stamp = datetime(
            int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), int(key[14:16]),
            tzinfo=UTC,
        )  # fmt: skip
        value = int(stamp.timestamp())
        if len(_MINUTES) > 100_000:
            _MINUTES.clear()
        _MINUTES[key] = value
    return value


def _rows_in(conn: Connection, dialect: str, sql: str, ids: Iterable[str]) -> list[Any]:
    return run_in(conn, dialect, sql, ids)[0]


def upsert_sql(dialect: str) -> tuple[str, str]:
    keys = ("grain", "bucket", "release_id", "model")
    cols = (*keys, *SUMS)
    sets = ", ".join(f"{c} = metric_rollups.{c} + excluded.{c}" for c in SUMS)
    rollup = (
        f"INSERT INTO metric_rollups ({', '.join(cols)}) VALUES ({marks(dialect, len(cols))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )
    hkeys = ("grain", "metric", "bucket", "release_id", "model", "bin")
    hist = (
        f"INSERT INTO latency_histograms ({', '.join(hkeys)}, n) "
        f"VALUES ({marks(dialect, len(hkeys) + 1)}) "
        f"ON CONFLICT ({', '.join(hkeys)}) DO UPDATE SET n = latency_histograms.n + excluded.n"
    )
    return rollup, hist


@dataclass
class Pending:
    """What one write adds to the rollups: filled before the insert, applied after it.

    Traces are added up per (minute, release, model) first; the minute, hour and day rows are
    derived from those few cells in ``apply``, so the per-trace work is one cell and two bins.
    """

    cells: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)
    bins: dict[tuple[int, str, str, str, int], int] = field(default_factory=dict)

    def _cell(self, key: tuple[int, str, str]) -> list[float]:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * len(SUMS)
        return cell

    def add_trace(self, row: Row, ix: _Ix, *, violating: bool) -> None:
        minute, release, model = (
            minute_epoch(row[ix.started]),
            row[ix.release] or "",
            row[ix.model] or "",
        )
        key = (minute, release, model)
        c = self.cells.get(key)
        if c is None:
            c = self.cells[key] = [0] * len(SUMS)
        c[0] += 1
        status = row[ix.status]
        if status == "error":
            c[1] += 1
        elif status == "blocked":
            c[2] += 1
        latency = row[ix.latency]
        if latency is not None:
            c[3] += 1
            c[4] += latency
            k = (minute, release, model, "latency", bin_of(latency))
            self.bins[k] = self.bins.get(k, 0) + 1
        ttft = row[ix.ttft]
        if ttft is not None:
            c[5] += 1
            c[6] += ttft
            k = (minute, release, model, "ttft", bin_of(ttft))
            self.bins[k] = self.bins.get(k, 0) + 1
        c[7] += row[ix.tin] or 0
        c[8] += row[ix.tout] or 0
        c[9] += row[ix.cost] or 0.0
        if violating:
            c[10] += 1

    def add_violation(
        self, started_at: datetime | str, release: str | None, model: str | None
    ) -> None:
        self._cell((minute_epoch(started_at), release or "", model or ""))[10] += 1

    def rows(
        self, grains: Sequence[tuple[str, int]] = GRAINS
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The upsert rows of every grain (minute cells summed into their hours and days)."""
        rollups: dict[tuple[str, int, str, str], list[float]] = {}
        hist: dict[tuple[str, str, int, str, str, int], int] = {}
        for (minute, release, model), cell in self.cells.items():
            for grain, width in grains:
                key = (grain, minute - minute % width, release, model)
                target = rollups.get(key)
                if target is None:
                    rollups[key] = list(cell)
                else:
                    for i, v in enumerate(cell):
                        target[i] += v
        for (minute, release, model, metric, b), n in self.bins.items():
            for grain, width in grains:
                hkey = (grain, metric, minute - minute % width, release, model, b)
                hist[hkey] = hist.get(hkey, 0) + n
        return [(*k, *v) for k, v in rollups.items()], [(*k, n) for k, n in hist.items()]

    def apply(
        self, conn: Connection, dialect: str, grains: Sequence[tuple[str, int]] = GRAINS
    ) -> None:
        rollup_sql, hist_sql = upsert_sql(dialect)
        rollup_rows, hist_rows = self.rows(grains)
        if rollup_rows:
            conn.exec_driver_sql(rollup_sql, rollup_rows)
        if hist_rows:
            conn.exec_driver_sql(hist_sql, hist_rows)


def prepare(
    conn: Connection, dialect: str, rows: dict[str, list[Row]], trace_columns: Sequence[str]
) -> Pending | None:
    """Price the batch's new traces (in ``rows``, in place) and compute their rollups.

    Runs before the insert, on the insert's connection: what is already stored is not new.
    """
    traces = rows.get("trace") or []
    events = rows.get("event") or []
    if not traces and not events:
        return None
    ix = index_of(trace_columns)
    if dialect == "postgresql" and (conn.dialect.server_version_info or (0,)) >= (12,):
        # Plan these lookups for the table as it is now: a generic plan cached while the
        # table was small (psycopg prepares repeated statements) would keep scanning it.
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    stored = {
        r[0]
        for r in _rows_in(
            conn, dialect, "SELECT id FROM traces WHERE id {in_}", {r[ix.id] for r in traces}
        )
    }
    fresh: dict[str, int] = {}
    for i, r in enumerate(traces):
        if r[ix.id] not in stored and r[ix.id] not in fresh:
            fresh[r[ix.id]] = i
    if fresh:
        book = load_book(conn)
        if book:
            _price(traces, fresh.values(), ix, book)
    event_traces = {e[0] for e in events}
    earlier = {
        r[0]
        for r in _rows_in(
            conn,
            dialect,
            "SELECT DISTINCT trace_id FROM guard_events WHERE trace_id {in_}",
            set(fresh) | event_traces,
        )
    }
    pending = Pending()
    for tid, i in fresh.items():
        if is_live(traces[i][ix.session]):
            pending.add_trace(traces[i], ix, violating=tid in earlier or tid in event_traces)
    late = event_traces - set(fresh) - earlier  # first event of a trace stored before
    if late:
        sql = f"SELECT started_at, release_id, model FROM traces WHERE {live_sql()} AND id {{in_}}"
        for started, release, model in _rows_in(conn, dialect, sql, late):
            pending.add_violation(started, release, model)
    return pending


def _price(traces: list[Row], positions: Iterable[int], ix: _Ix, book: PriceBook) -> None:
    for i in positions:
        r = traces[i]
        cost = book.cost(r[ix.model], r[ix.started], r[ix.tin] or 0, r[ix.tout] or 0)
        if cost is not None and cost != r[ix.cost]:
            row = list(r)
            row[ix.cost] = cost
            traces[i] = tuple(row) if isinstance(r, tuple) else row


# -- rebuild from what is stored ---------------------------------------------------------------
_REBUILD_COLUMNS = (
    "id", "release_id", "model", "status", "started_at", "latency_ms", "ttft_ms",
    "input_tokens", "output_tokens", "cost", "session_id",
)  # fmt: skip


def feedback_rollup_sql(
    dialect: str, *, where: str = "1 = 1", grains: Sequence[tuple[str, int]] = GRAINS
) -> str:
    """Feedback counts per trace bucket, added to the rollups (used by the rebuild; the
    triggers of migrations 0004 and 0014 do the same one row at a time)."""
    grains_sql = " UNION ALL ".join(f"SELECT '{g}' AS grain, {w} AS width" for g, w in grains)
    cols = ("feedback_n", "feedback_up", "feedback_score")
    sets = ", ".join(f"{c} = metric_rollups.{c} + excluded.{c}" for c in cols)
    return (
        "INSERT INTO metric_rollups (grain, bucket, release_id, model, "
        f"{', '.join(cols)}) "
        f"SELECT g.grain, {epoch_sql('t.started_at', dialect)} / g.width * g.width, "
        "coalesce(t.release_id, ''), coalesce(t.model, ''), count(*), "
        "sum(CASE WHEN f.score >= 0.5 THEN 1 ELSE 0 END), sum(f.score) "
        f"FROM feedback f JOIN traces t ON t.id = f.trace_id CROSS JOIN ({grains_sql}) g "
        f"WHERE {where} GROUP BY 1, 2, 3, 4 "
        f"ON CONFLICT (grain, bucket, release_id, model) DO UPDATE SET {sets}"
    )


@dataclass
class RebuildReport:
    traces: int
    rollup_rows: int
    histogram_rows: int


def rebuild(
    conn: Connection,
    dialect: str,
    *,
    chunk: int = 5000,
    grains: Sequence[tuple[str, int]] = GRAINS,
) -> RebuildReport:
    """Recompute the rollups of ``grains`` (all by default) from the stored traces, guard
    events and feedback.

    Streams the traces in id order (ids are time-ordered) with constant memory; the caller
    owns the transaction, so readers see the old rollups until it commits. Migration 0014
    rebuilds only the minute grain, so hour and day rows of traces that retention already
    deleted keep their numbers.
    """
    names = ", ".join(f"'{g}'" for g, _ in grains)
    conn.exec_driver_sql(f"DELETE FROM latency_histograms WHERE grain IN ({names})")
    conn.exec_driver_sql(f"DELETE FROM metric_rollups WHERE grain IN ({names})")
    mark = "?" if dialect == "sqlite" else "%s"
    select = (
        f"SELECT {', '.join(_REBUILD_COLUMNS)} FROM traces WHERE id > {mark} AND {live_sql()} "
        f"ORDER BY id LIMIT {int(chunk)}"
    )
    ix = index_of(_REBUILD_COLUMNS)
    after, total = "", 0
    while True:
        rows = list(conn.exec_driver_sql(select, (after,)))
        if not rows:
            break
        ids = [r[0] for r in rows]
        violating = {
            r[0]
            for r in _rows_in(
                conn,
                dialect,
                "SELECT DISTINCT trace_id FROM guard_events WHERE trace_id {in_}",
                ids,
            )
        }
        pending = Pending()
        for r in rows:
            pending.add_trace(r, ix, violating=r[0] in violating)
        pending.apply(conn, dialect, grains)
        total += len(rows)
        after = ids[-1]
    conn.exec_driver_sql(feedback_rollup_sql(dialect, where=live_sql("t"), grains=grains))
    rollup_rows = conn.exec_driver_sql("SELECT count(*) FROM metric_rollups").scalar() or 0
    hist_rows = conn.exec_driver_sql("SELECT count(*) FROM latency_histograms").scalar() or 0
    return RebuildReport(total, int(rollup_rows), int(hist_rows))


def prune_minutes(conn: Connection, before: datetime) -> int:
    """Delete the minute rows of whole minutes before ``before`` (retention calls it with the
    traces' cutoff: minute rows live as long as the traces they add up, hour and day rows
    outlive them). Returns the rollup rows deleted."""
    aware = before.replace(tzinfo=UTC) if before.tzinfo is None else before
    edge = int(aware.timestamp()) // 60 * 60
    conn.exec_driver_sql(
        f"DELETE FROM latency_histograms WHERE grain = 'minute' AND bucket < {edge}"
    )
    result = conn.exec_driver_sql(
        f"DELETE FROM metric_rollups WHERE grain = 'minute' AND bucket < {edge}"
    )
    return int(result.rowcount or 0)
