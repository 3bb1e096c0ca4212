"""Erasure of one person's data: ``erase(db, user=U)`` or ``erase(db, session=S)``.

What is found (``plan``):

- the subject's traces: by session id, or by user id — the id as given *and* as the store
  keeps it (``LLMOPS_USER_ID_MODE`` may store a keyed hash; ``llmops.privacy``) — plus the
  anonymous turns of the sessions those traces belong to;
- the feedback the user gave (also on other people's traces);
- dataset items made from those traces (their origin, or a copy of their question), and the
  evaluation results and evaluation traces that answered those items.

What is done, in batches of ``CHUNK`` traces, each its own short transaction (so a large
erasure never locks the store for long, and an interrupted one is finished by running it
again): every row keyed by those traces goes (spans, feedback, guard events, scores, gap
candidates, review items and their verdicts, evaluation results, quarantined records), the
monitoring rollups lose exactly what the erased live traces added (minute, hour and day rows and
latency histograms; the feedback columns through the ``feedback`` triggers), then the
traces go. Gap clusters are resized and relabelled (deleted when nothing is left in them);
improvements, improvement events, audit rows and red-team scans and findings that mention
the erased ids or copied questions have them replaced by ``[erased]``. On SQLite deletes overwrite the freed space
with zeros (``secure_delete``), and at the end the file is rebuilt (``VACUUM``: rebalanced
pages can keep an older copy of a row in their unused space) and the write-ahead log is
checkpointed and truncated, so the data is gone from the file's bytes too.

One audit row (action ``erasure``) proves it: the counts per table and a keyed hash of the
subject (HMAC under the deployment's user-id key), never the id or the data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection

from llmops.config import Settings, get_settings
from llmops.errors import InvalidInputError
from llmops.governance.roles import Actor, Capability, require
from llmops.monitoring.rollups import Pending, index_of, upsert_sql
from llmops.store.db import Database
from llmops.store.models import is_live
from llmops.store.sql import CHUNK, chunks, in_list, live_sql, run_in, write_tx
from llmops.store.sql import mark as sql_mark
from llmops.types import JSONDict

ERASED = "[erased]"
ACTION = "erasure"
_TRACE_COLUMNS = (
    "id", "release_id", "model", "status", "started_at", "latency_ms", "ttft_ms",
    "input_tokens", "output_tokens", "cost", "session_id",
)  # fmt: skip
_HEX32 = re.compile(r"[0-9a-f]{32}")
_MIN_TEXT = 8  # copied questions shorter than this are not searched for in free text

# Rows keyed by a trace id that go with the trace, in this order (verdicts before items).
BY_TRACE: tuple[tuple[str, str], ...] = (
    ("feedback", "trace_id"),
    ("guard_events", "trace_id"),
    ("spans", "trace_id"),
    ("trace_scores", "trace_id"),
    ("gap_candidates", "trace_id"),
    ("eval_results", "trace_id"),
    ("quarantine", "trace_id"),
)


@dataclass
class Plan:
    """What an erasure of one subject covers (ids only, read before anything changes)."""

    kind: Literal["user", "session"]
    subject_hash: str
    user_keys: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)  # live and other traces of the subject
    eval_traces: list[str] = field(default_factory=list)  # answers to erased dataset items
    feedback: list[int] = field(default_factory=list)  # given by the user on other traces
    dataset_items: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the subject's questions, as stored
    comments: list[str] = field(default_factory=list)  # their feedback comments (copied
    # into dataset items' metadata, for one)


@dataclass
class ErasureReport:
    kind: str
    subject_hash: str
    dry_run: bool
    counts: dict[str, int]
    batches: int = 0
    scrubbed: dict[str, int] = field(default_factory=dict)
    compacted: bool | None = None
    audit_id: int | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> JSONDict:
        return {
            "kind": self.kind,
            "subject_hash": self.subject_hash,
            "dry_run": self.dry_run,
            "counts": self.counts,
            "total": self.total,
            "scrubbed": self.scrubbed,
            "batches": self.batches,
            "compacted": self.compacted,
            "audit_id": self.audit_id,
        }


# -- the subject ---------------------------------------------------------------------------------
def _clean(value: str | None, what: str) -> str:
    from llmops.tracing.render import sanitize

    text = sanitize(value or "").strip()
    if not text:
        raise InvalidInputError(f"Name the {what} to erase (--{what} {what.upper()}).")
    if len(text) > 500:
        raise InvalidInputError(f"The {what} id is {len(text)} characters; at most 500.")
    return text


def subject_hash(settings: Settings, kind: str, value: str) -> str:
    """A keyed hash of the subject for the audit row: the same subject always gives the same
    hash (so a second request can be matched to the first), nobody without the key can
    test a guess, and it differs from the stored user-id hash."""
    from llmops.privacy import load_key

    message = f"erasure:{kind}:{value.strip().casefold()}".encode("utf-8", "replace")
    return hmac.new(load_key(settings), message, hashlib.sha256).hexdigest()[:32]


def user_keys(settings: Settings, user: str) -> list[str]:
    """Every form the store may hold ``user`` in: as given, as stored under the configured
    mode, and as its keyed hash (rows written under another mode)."""
    from llmops.privacy import hash_user_id, load_key, stored_user_id

    keys = {user, user.strip(), hash_user_id(load_key(settings), user)}
    stored = stored_user_id(user, settings)
    if stored:
        keys.add(stored)
    return sorted(k for k in keys if k)


def plan(
    db: Database,
    *,
    user: str | None = None,
    session: str | None = None,
    settings: Settings | None = None,
) -> Plan:
    """Find everything derived from the subject (reads only)."""
    settings = settings or get_settings()
    if (user is None) == (session is None):
        raise InvalidInputError("Erase either a user (--user) or a session (--session).")
    kind: Literal["user", "session"] = "user" if user is not None else "session"
    value = _clean(user if user is not None else session, kind)
    p = Plan(kind, subject_hash(settings, kind, value))
    d = db.dialect
    with db.engine.connect() as conn:
        if kind == "user":
            p.user_keys = user_keys(settings, value)
            rows, _ = run_in(conn, d, "SELECT id, session_id FROM traces WHERE user_id {in_}",
                             p.user_keys)  # fmt: skip
            traces = {r[0] for r in rows}
            p.sessions = sorted({r[1] for r in rows if r[1] and is_live(r[1])})
            keys = tuple(p.user_keys)
            # the same sessions' turns with no user id (before sign-in); never other people's
            for chunk in chunks(p.sessions):
                sql = (
                    f"SELECT id FROM traces WHERE session_id {in_list(d, len(chunk))} "
                    f"AND (user_id IS NULL OR user_id {in_list(d, len(keys))})"
                )
                traces.update(r[0] for r in conn.exec_driver_sql(sql, (*chunk, *keys)))
        else:
            p.sessions = [value]
            mark = sql_mark(d)
            sql = f"SELECT id FROM traces WHERE session_id = {mark}"
            traces = {r[0] for r in conn.exec_driver_sql(sql, (value,))}
        p.traces = sorted(traces)
        if p.user_keys:
            rows, _ = run_in(conn, d, "SELECT id, trace_id FROM feedback WHERE user_id {in_}",
                             p.user_keys)  # fmt: skip
            p.feedback = sorted(r[0] for r in rows if r[1] not in traces)
            rows, _ = run_in(conn, d, "SELECT comment FROM feedback WHERE user_id {in_} "
                             "AND comment IS NOT NULL", p.user_keys)  # fmt: skip
            p.comments = [r[0] for r in rows]
        rows, _ = run_in(conn, d, "SELECT comment FROM feedback WHERE trace_id {in_} "
                         "AND comment IS NOT NULL", p.traces)  # fmt: skip
        p.comments = sorted({c.strip() for c in [*p.comments, *(r[0] for r in rows)]
                             if c and c.strip()})  # fmt: skip
        rows, _ = run_in(conn, d, "SELECT input FROM traces WHERE id {in_}", p.traces)
        p.texts = sorted({r[0].strip() for r in rows if r[0] and r[0].strip()})
        items: set[int] = set()
        rows, _ = run_in(conn, d, "SELECT id FROM dataset_items WHERE origin_trace_id {in_}",
                         p.traces)  # fmt: skip
        items.update(r[0] for r in rows)
        # a copy of the subject's question with no origin (an item from another person's
        # trace asking the same thing is theirs, not the subject's)
        rows, _ = run_in(conn, d, "SELECT id FROM dataset_items WHERE input {in_} "
                         "AND origin_trace_id IS NULL", p.texts)  # fmt: skip
        items.update(r[0] for r in rows)
        p.dataset_items = sorted(items)
        rows, _ = run_in(conn, d, "SELECT trace_id FROM eval_results WHERE item_id {in_} "
                         "AND trace_id IS NOT NULL", p.dataset_items)  # fmt: skip
        p.eval_traces = sorted({r[0] for r in rows} - traces)
    return p


# -- counting (dry run) and deleting ---------------------------------------------------------------
def _count(conn: Connection, d: str, table: str, column: str, ids: Sequence[Any]) -> int:
    rows, _ = run_in(conn, d, f"SELECT count(*) FROM {table} WHERE {column} {{in_}}", ids)
    return sum(int(r[0]) for r in rows)


def _review_items(conn: Connection, d: str, trace_ids: Sequence[str]) -> list[int]:
    rows, _ = run_in(conn, d, "SELECT id FROM review_items WHERE trace_id {in_}", trace_ids)
    return [r[0] for r in rows]


def count(db: Database, p: Plan) -> dict[str, int]:
    """How many rows of each table an erasure of ``p`` removes (nothing changes)."""
    d = db.dialect
    every = [*p.traces, *p.eval_traces]
    counts: dict[str, int] = {}
    with db.engine.connect() as conn:
        counts["traces"] = _count(conn, d, "traces", "id", every)
        for table, column in BY_TRACE:
            counts[table] = _count(conn, d, table, column, every)
        counts["feedback"] += _count(conn, d, "feedback", "id", p.feedback)
        items = _review_items(conn, d, every)
        counts["review_verdicts"] = _count(conn, d, "review_verdicts", "item_id", items)
        counts["review_items"] = len(items)
        counts["dataset_items"] = len(p.dataset_items)
        counts["eval_results"] += _count(
            conn, d, "eval_results", "item_id", p.dataset_items
        ) - _count_both(conn, d, p.dataset_items, every)
    return counts


def _count_both(conn: Connection, d: str, items: Sequence[int], traces: Sequence[str]) -> int:
    """Evaluation results found both by item and by trace (counted once)."""
    if not items or not traces:
        return 0
    found = set(traces)
    rows, _ = run_in(conn, d, "SELECT trace_id FROM eval_results WHERE item_id {in_}", items)
    return sum(1 for r in rows if r[0] in found)


def _subtract_rollups(conn: Connection, d: str, trace_ids: Sequence[str]) -> None:
    """Take the erased live traces out of the minute/hour/day rollups and histograms:
    exactly what the span writer added for them (``llmops.monitoring.rollups``)."""
    cols = ", ".join(_TRACE_COLUMNS)
    rows, _ = run_in(conn, d, f"SELECT {cols} FROM traces WHERE {live_sql()} AND id {{in_}}",
                     trace_ids)  # fmt: skip
    if not rows:
        return
    ids = [r[0] for r in rows]
    flagged, _ = run_in(conn, d, "SELECT DISTINCT trace_id FROM guard_events WHERE trace_id {in_}",
                        ids)  # fmt: skip
    violating = {r[0] for r in flagged}
    pending = Pending()
    ix = index_of(_TRACE_COLUMNS)
    for r in rows:
        pending.add_trace(r, ix, violating=r[0] in violating)
    rollup_rows, hist_rows = pending.rows()
    rollup_sql, hist_sql = upsert_sql(d)
    if rollup_rows:
        conn.exec_driver_sql(rollup_sql, [(*r[:4], *(-v for v in r[4:])) for r in rollup_rows])
    if hist_rows:
        conn.exec_driver_sql(hist_sql, [(*r[:6], -r[6]) for r in hist_rows])


def _erase_traces(conn: Connection, d: str, trace_ids: Sequence[str], counts: dict[str, int],
                  clusters: set[int]) -> None:  # fmt: skip
    """One batch: every row keyed by these traces, their rollups, then the traces."""
    rows, _ = run_in(conn, d, "SELECT DISTINCT cluster_id FROM gap_candidates WHERE trace_id "
                     "{in_} AND cluster_id IS NOT NULL", trace_ids)  # fmt: skip
    clusters.update(r[0] for r in rows)
    items = _review_items(conn, d, trace_ids)
    _, n = run_in(conn, d, "DELETE FROM review_verdicts WHERE item_id {in_}", items)
    counts["review_verdicts"] += n
    _, n = run_in(conn, d, "DELETE FROM review_items WHERE id {in_}", items)
    counts["review_items"] += n
    # the traces' own aggregates (guard events still there to tell violating traces) ...
    _subtract_rollups(conn, d, trace_ids)
    # ... then the feedback, while its trace is there: the triggers take it out of them
    for table, column in BY_TRACE:
        _, n = run_in(conn, d, f"DELETE FROM {table} WHERE {column} {{in_}}", trace_ids)
        counts[table] += n
    # rows left holding nothing (the erased traces were all a bucket had) go
    conn.exec_driver_sql(
        "DELETE FROM metric_rollups WHERE traces <= 0 AND feedback_n <= 0 AND violating <= 0"
    )
    conn.exec_driver_sql("DELETE FROM latency_histograms WHERE n <= 0")
    _, n = run_in(conn, d, "DELETE FROM traces WHERE id {in_}", trace_ids)
    counts["traces"] += n


def _fix_clusters(conn: Connection, d: str, clusters: Iterable[int], texts: set[str]) -> int:
    """Resize the touched gap clusters; relabel those named after an erased question; delete
    those with nothing left (their centroid is the erased question's embedding)."""
    changed = 0
    mark = sql_mark(d)
    for cid in sorted(clusters):
        left = conn.exec_driver_sql(
            f"SELECT count(*) FROM gap_candidates WHERE cluster_id = {mark}", (cid,)
        ).scalar()
        if not left:
            conn.exec_driver_sql(f"DELETE FROM gap_clusters WHERE id = {mark}", (cid,))
            changed += 1
            continue
        label = conn.exec_driver_sql(
            f"SELECT label FROM gap_clusters WHERE id = {mark}", (cid,)
        ).scalar()
        if label is not None and any(t.startswith(label) or label in t for t in texts if t):
            newest = conn.exec_driver_sql(
                f"SELECT question FROM gap_candidates WHERE cluster_id = {mark} "
                "ORDER BY at DESC LIMIT 1",
                (cid,),
            ).scalar()
            label = (newest or "")[:160]
        conn.exec_driver_sql(
            f"UPDATE gap_clusters SET size = {mark}, label = {mark} WHERE id = {mark}",
            (int(left), label or "", cid),
        )
        changed += 1
    return changed


# -- scrubbing records that only mention the subject ---------------------------------------------
class _Scrubber:
    """Replaces the subject's ids and copied questions inside text and JSON values."""

    def __init__(self, p: Plan) -> None:
        self.ids = {*p.traces, *p.eval_traces}
        words = sorted({*p.sessions, *p.user_keys}, key=len, reverse=True)
        # whole words only: a short id ("s1", "bob") must not eat "rules1" or "bobcat"; in
        # any case, as a console name ("Ana@Example.com" on a red-team scan) was typed
        self.words = (
            re.compile("|".join(rf"(?<![\w@.-]){re.escape(w)}(?![\w@.-])" for w in words),
                       re.IGNORECASE)
            if words else None
        )  # fmt: skip
        texts = {x for t in p.texts for x in (t, t[:160])}  # and gap-cluster labels of them
        texts.update(p.comments)
        self.texts = sorted((t for t in texts if len(t) >= _MIN_TEXT), key=len, reverse=True)

    def text(self, value: str, *, with_texts: bool) -> str:
        out = _HEX32.sub(lambda m: ERASED if m.group() in self.ids else m.group(), value)
        if self.words is not None:
            out = self.words.sub(ERASED, out)
        if with_texts:
            for t in self.texts:
                if t in out:
                    out = out.replace(t, ERASED)
        return out

    def value(self, value: Any, *, with_texts: bool) -> Any:
        if isinstance(value, str):
            return self.text(value, with_texts=with_texts)
        if isinstance(value, list):
            return [self.value(v, with_texts=with_texts) for v in value]
        if isinstance(value, dict):
            return {
                self.text(str(k), with_texts=with_texts): self.value(v, with_texts=with_texts)
                for k, v in value.items()
            }
        return value


def _load(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _scrub_table(
    db: Database,
    scrub: _Scrubber,
    table: str,
    text_cols: Sequence[str],
    json_cols: Sequence[str],
    *,
    with_texts: bool,
    dry_run: bool,
) -> int:
    """Rewrite the rows of ``table`` that mention the subject, in id order, a batch per
    transaction. Returns how many rows were (or would be) changed."""
    d = db.dialect
    mark = sql_mark(d)
    cols = [*text_cols, *json_cols]
    after, changed = 0, 0
    while True:
        with db.engine.connect() as conn:
            rows = list(conn.exec_driver_sql(
                f"SELECT id, {', '.join(cols)} FROM {table} WHERE id > {mark} "
                f"ORDER BY id LIMIT {CHUNK}", (after,),
            ))  # fmt: skip
        if not rows:
            return changed
        updates: list[tuple[Any, ...]] = []
        for row in rows:
            new: list[Any] = []
            differs = False
            for i, col in enumerate(cols, start=1):
                old = row[i]
                if col in json_cols:
                    data = _load(old)
                    fixed = scrub.value(data, with_texts=with_texts)
                    differs |= fixed != data
                    new.append(None if fixed is None else json.dumps(fixed, ensure_ascii=False))
                else:
                    fixed = scrub.text(old, with_texts=with_texts) if old is not None else None
                    differs |= fixed != old
                    new.append(fixed)
            if differs:
                updates.append((*new, row[0]))
        after = rows[-1][0]
        changed += len(updates)
        if updates and not dry_run:
            sets = ", ".join(
                f"{c} = CAST({mark} AS JSON)" if c in json_cols and d == "postgresql"
                else f"{c} = {mark}"
                for c in cols
            )  # fmt: skip
            with write_tx(db, secure_delete=True) as conn:
                conn.exec_driver_sql(f"UPDATE {table} SET {sets} WHERE id = {mark}", updates)


SCRUBBED: tuple[tuple[str, tuple[str, ...], tuple[str, ...], bool], ...] = (
    # table, text columns, JSON columns, also replace copied questions
    # other people's items: only their metadata (which copies feedback comments); their
    # input may be the same question, asked by someone else
    ("dataset_items", (), ("meta",), True),
    ("improvements", ("title", "reason"), ("evidence", "gate"), True),
    ("improvement_events", (), ("details",), True),
    ("label_events", ("note",), (), True),
    ("audit_log", ("target",), ("details",), True),
    # red-team scans run by the subject (a console account's name as created_by) and the
    # findings that point at their traces; the attack prompts are the suite's own text
    ("redteam_scans", ("created_by",), (), False),
    ("redteam_findings", ("trace_id", "answer"), ("trace_ids",), True),
    # bias probe runs started by the subject; their results point at probe traces only
    ("bias_runs", ("created_by",), (), False),
    ("bias_results", (), ("trace_ids",), False),
)


# -- the whole erasure ------------------------------------------------------------------------------
def erase(
    db: Database,
    *,
    user: str | None = None,
    session: str | None = None,
    actor: Actor | str = "system",
    dry_run: bool = False,
    settings: Settings | None = None,
) -> ErasureReport:
    """Erase everything derived from a user or a session (see the module docstring)."""
    actor = require(db, actor, Capability.ERASURE, action="erasure")
    settings = settings or get_settings()
    p = plan(db, user=user, session=session, settings=settings)
    scrub = _Scrubber(p)
    if dry_run:
        report = ErasureReport(p.kind, p.subject_hash, True, count(db, p))
        report.scrubbed = {
            table: _scrub_table(db, scrub, table, tc, jc, with_texts=wt, dry_run=True)
            for table, tc, jc, wt in SCRUBBED
        }
        return report
    d = db.dialect
    counts = {t: 0 for t in ("traces", *(t for t, _ in BY_TRACE))}
    counts.update(review_items=0, review_verdicts=0, dataset_items=0, gap_clusters=0)
    clusters: set[int] = set()
    report = ErasureReport(p.kind, p.subject_hash, False, counts)
    # dataset items (and the evaluation results that answered them) before the traces
    for chunk in chunks(p.dataset_items):
        with write_tx(db, secure_delete=True) as conn:
            _, n = run_in(conn, d, "DELETE FROM eval_results WHERE item_id {in_}", chunk)
            counts["eval_results"] += n
            _, n = run_in(conn, d, "DELETE FROM dataset_items WHERE id {in_}", chunk)
            counts["dataset_items"] += n
        report.batches += 1
    for chunk in chunks([*p.traces, *p.eval_traces]):
        with write_tx(db, secure_delete=True) as conn:
            _erase_traces(conn, d, chunk, counts, clusters)
        report.batches += 1
    for chunk in chunks(p.feedback):
        with write_tx(db, secure_delete=True) as conn:
            _, n = run_in(conn, d, "DELETE FROM feedback WHERE id {in_}", chunk)
            counts["feedback"] += n
        report.batches += 1
    with write_tx(db, secure_delete=True) as conn:
        texts = set(p.texts)
        counts["gap_clusters"] = _fix_clusters(conn, d, clusters, texts)
        # a cluster named after an erased question whose candidates retention already removed
        for chunk in chunks(sorted({t[:160] for t in texts})):
            rows, _ = run_in(conn, d, "SELECT id FROM gap_clusters WHERE label {in_}", chunk)
            extra = {r[0] for r in rows} - clusters
            counts["gap_clusters"] += _fix_clusters(conn, d, extra, texts)
    report.scrubbed = {
        table: _scrub_table(db, scrub, table, tc, jc, with_texts=wt, dry_run=False)
        for table, tc, jc, wt in SCRUBBED
    }
    from llmops.governance.audit import record

    report.audit_id = record(
        db,
        actor,
        ACTION,
        f"{p.kind}:{p.subject_hash}",
        kind=p.kind,
        subject_hash=p.subject_hash,
        counts=counts,
        scrubbed=report.scrubbed,
        batches=report.batches,
    )
    report.compacted = compact(db)
    return report


def compact(db: Database, *, attempts: int = 4, pause_s: float = 0.25) -> bool | None:
    """SQLite: rebuild the file (``VACUUM``), then move the write-ahead log into it and
    truncate the log, so nothing erased is left in either.

    ``secure_delete`` zeroes a deleted row's cell, but when SQLite rebalances a b-tree page
    it can leave an earlier copy of a cell in the page's unused gap (seen here: a trace id
    in a live ``spans`` leaf page, about one erasure in eight); a rebuilt file holds only
    the live rows. A checkpoint that readers or a writer kept from completing (each try
    already waits the store's busy timeout) is tried again ``attempts`` times in all,
    ``pause_s`` apart, growing; False when it never completed (run ``llmops erase`` again
    later: the WAL still holds the erased pages' old copies until then)."""
    if db.dialect != "sqlite":
        return None
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM")
    for attempt in range(attempts):
        if attempt:
            time.sleep(pause_s * attempt)
        with db.engine.connect() as conn:
            busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            conn.commit()
        if not busy:
            return True
    return False
