"""Sessions and users: live conversations as SQL aggregates over the traces table.

A session is every live trace sharing a ``session_id``; a user is every live trace sharing a
``user_id`` (stored as the privacy setting says: hashed, redacted or as given — shown as
stored). A page of sessions (or users) is found by walking ``ix_traces_started_at`` newest
first until it holds enough distinct ids, then aggregated with ``ix_traces_session_started``
(``ix_traces_user_started``); a user's sessions are one ``GROUP BY`` over the latter. The ratings and guard violations are
counted for that page only (``ix_feedback_trace_id``, ``ix_guard_events_trace_id``). First
and last times are within the chosen range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, SQLColumnExpression, case, distinct, func, select
from sqlalchemy.orm import Session

from llmops.store.db import Database
from llmops.store.models import Feedback, GuardEvent, Trace, live_filter

PAGE = 25


@dataclass
class Group:
    """One session (``key`` = session id) or one user (``key`` = user id) in a range."""

    key: str
    turns: int
    others: int  # users of a session, sessions of a user
    first_at: datetime
    last_at: datetime
    cost: float
    errors: int
    thumbs_up: int = 0
    thumbs_down: int = 0
    violations: int = 0


@dataclass
class Turn:
    trace_id: str
    started_at: datetime
    status: str
    user_id: str | None
    release_id: str | None
    model: str | None
    input: str | None
    output: str | None
    latency_ms: float | None
    cost: float
    feedback: list[tuple[float, str | None]] = field(default_factory=list)  # user ratings
    violations: list[str] = field(default_factory=list)  # "validator (action)"


def _conds(
    column: SQLColumnExpression[str | None],
    since: datetime | None,
    until: datetime | None,
    where: Sequence[ColumnElement[bool]],
) -> list[ColumnElement[bool]]:
    conds = [column.is_not(None), live_filter(Trace.session_id), *where]
    if since is not None:
        conds.append(Trace.started_at >= since)
    if until is not None:
        conds.append(Trace.started_at < until)
    return conds


def _aggregate(
    s: Session,
    column: SQLColumnExpression[str | None],
    other: SQLColumnExpression[str | None],
    conds: list[ColumnElement[bool]],
    keys: list[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[Group], bool]:
    """One GROUP BY over ``keys`` (or a page of every group, most recent first), then the
    ratings and violations of just those groups."""
    last = func.max(Trace.started_at)
    stmt = select(
        column,
        func.count(),
        func.count(distinct(other)),
        func.min(Trace.started_at),
        last,
        func.coalesce(func.sum(Trace.cost), 0.0),
        func.sum(case((Trace.status == "error", 1), else_=0)),
    ).group_by(column)
    if keys is None:
        stmt = stmt.where(*conds).order_by(last.desc(), column).limit(limit + 1).offset(offset)
    else:
        stmt = stmt.where(column.in_(keys), *conds[1:])
    rows = s.execute(stmt).all()
    more = len(rows) > limit if keys is None else False
    groups = {
        r[0]: Group(r[0], r[1], r[2], r[3], r[4], float(r[5] or 0.0), int(r[6] or 0))
        for r in rows[:limit]
    }
    if groups:
        found = list(groups)
        rated = (
            select(
                column,
                func.sum(case((Feedback.score >= 0.5, 1), else_=0)),
                func.sum(case((Feedback.score < 0.5, 1), else_=0)),
            )
            .select_from(Feedback)
            .join(Trace, Trace.id == Feedback.trace_id)
            .where(column.in_(found), Feedback.source == "user", *conds[1:])
            .group_by(column)
        )
        for key, up, down in s.execute(rated):
            groups[key].thumbs_up, groups[key].thumbs_down = int(up or 0), int(down or 0)
        flagged = (
            select(column, func.count())
            .select_from(GuardEvent)
            .join(Trace, Trace.id == GuardEvent.trace_id)
            .where(column.in_(found), *conds[1:])
            .group_by(column)
        )
        for key, n in s.execute(flagged):
            groups[key].violations = int(n)
    if keys is not None:
        return [groups[k] for k in keys if k in groups], more
    return list(groups.values()), more


def _recent(
    s: Session, column: SQLColumnExpression[str | None], conds: list[ColumnElement[bool]], want: int
) -> list[str]:
    """The ``want`` most recently active sessions (or users): a walk down
    ``ix_traces_started_at`` in chunks, keeping each id the first time it appears (its last
    turn in the range), so the cost follows the page asked for, not the size of the range."""
    seen: dict[str, None] = {}
    cursor: tuple[datetime, str] | None = None
    chunk = max(200, want * 4)
    while len(seen) < want:
        stmt = select(column, Trace.started_at, Trace.id).where(*conds)
        if cursor is not None:
            stmt = stmt.where(
                (Trace.started_at < cursor[0])
                | ((Trace.started_at == cursor[0]) & (Trace.id < cursor[1]))
            )
        rows = s.execute(stmt.order_by(Trace.started_at.desc(), Trace.id.desc()).limit(chunk)).all()
        for key, _, _ in rows:
            if key is not None:  # never: the conditions skip a missing id
                seen.setdefault(key, None)
        if len(rows) < chunk:
            break
        cursor = (rows[-1][1], rows[-1][2])
        chunk = min(chunk * 2, 50_000)  # a sparse column (few signed-in users): fewer rounds
    return list(seen)[:want]


def list_sessions(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: str | None = None,
    limit: int = PAGE,
    offset: int = 0,
) -> tuple[list[Group], bool]:
    """Live sessions active in the range, most recently active first; and whether more follow."""
    where = [Trace.user_id == user_id] if user_id else []
    conds = _conds(Trace.session_id, since, until, where)
    with db.session() as s:
        if user_id:  # a user's traces through ix_traces_user_started: group them all
            return _aggregate(s, Trace.session_id, Trace.user_id, conds, None, limit, offset)
        keys = _recent(s, Trace.session_id, conds, offset + limit + 1)
        page = keys[offset : offset + limit]
        groups, _ = _aggregate(s, Trace.session_id, Trace.user_id, conds, page, limit, 0)
        return groups, len(keys) > offset + limit


def list_users(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = PAGE,
    offset: int = 0,
) -> tuple[list[Group], bool]:
    """Users with live turns in the range (turns, sessions, cost, ratings, violations), most
    recently active first; found like sessions, aggregated with ``ix_traces_user_started``."""
    conds = _conds(Trace.user_id, since, until, [])
    with db.session() as s:
        keys = _recent(s, Trace.user_id, conds, offset + limit + 1)
        page = keys[offset : offset + limit]
        groups, _ = _aggregate(s, Trace.user_id, Trace.session_id, conds, page, limit, 0)
        return groups, len(keys) > offset + limit


def session_turns(
    db: Database, session_id: str, *, limit: int = 200, offset: int = 0
) -> tuple[list[Turn], bool]:
    """A session's turns in order (oldest first), with their ratings and violations."""
    cols = (Trace.id, Trace.started_at, Trace.status, Trace.user_id, Trace.release_id,
            Trace.model, Trace.input, Trace.output, Trace.latency_ms, Trace.cost)  # fmt: skip
    stmt = (
        select(*cols)
        .where(Trace.session_id == session_id)
        .order_by(Trace.started_at, Trace.id)
        .limit(limit + 1)
        .offset(offset)
    )
    with db.session() as s:
        rows = s.execute(stmt).all()
        turns = {r[0]: Turn(*r[:9], cost=float(r[9] or 0.0)) for r in rows[:limit]}
        if turns:
            ids = list(turns)
            ratings = (
                select(Feedback.trace_id, Feedback.score, Feedback.comment)
                .where(Feedback.trace_id.in_(ids), Feedback.source == "user")
                .order_by(Feedback.id)
            )
            for tid, score, comment in s.execute(ratings):
                turns[tid].feedback.append((float(score), comment))
            events = (
                select(GuardEvent.trace_id, GuardEvent.validator, GuardEvent.action)
                .where(GuardEvent.trace_id.in_(ids))
                .order_by(GuardEvent.id)
            )
            for tid, validator, action in s.execute(events):
                turns[tid].violations.append(f"{validator} ({action})")
    return list(turns.values()), len(rows) > limit
