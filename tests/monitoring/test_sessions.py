"""Sessions and users (llmops.monitoring.sessions) against a brute-force reference computed in
Python from the raw rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from llmops.monitoring import sessions as sm
from llmops.store.db import Database
from llmops.store.models import Feedback, GuardEvent, Trace

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _store(db: Database) -> list[Trace]:
    rng = random.Random(3)
    traces = []
    for i in range(300):
        session = f"s{rng.randint(0, 40):03d}"
        traces.append(
            Trace(id=f"{i:032x}", session_id=session, user_id=rng.choice([None, "u1", "u2", "u3"]),
                  status=rng.choice(["ok", "ok", "error"]), started_at=T0 + timedelta(minutes=i),
                  cost=0.001 * (i % 7), input=f"q{i}", output=f"a{i}")
        )  # fmt: skip
    # traffic that is not live never counts
    traces.append(Trace(id="e" * 32, session_id="eval:run1", user_id="u1", started_at=T0))
    with db.session() as s:
        s.add_all(traces)
        s.flush()
        for t in traces[::5]:
            s.add(Feedback(trace_id=t.id, score=1.0 if int(t.id, 16) % 2 else 0.0, source="user"))
        s.add(Feedback(trace_id=traces[1].id, score=0.0, source="reviewer"))  # not a user's
        for t in traces[::11]:
            s.add(GuardEvent(trace_id=t.id, validator="pii", direction="input", action="fixed"))
    return traces[:-1]


def _reference(traces: list[Trace], key: str, other: str) -> dict[str, dict[str, object]]:
    up = {t.id for t in traces[::5] if int(t.id, 16) % 2}
    down = {t.id for t in traces[::5]} - up
    flagged = {t.id for t in traces[::11]}
    ref: dict[str, dict[str, object]] = defaultdict(
        lambda: {
            "turns": 0,
            "others": set(),
            "cost": 0.0,
            "errors": 0,
            "up": 0,
            "down": 0,
            "violations": 0,
            "last": None,
        }
    )
    for t in traces:
        k = getattr(t, key)
        if k is None:
            continue
        r = ref[k]
        r["turns"] += 1  # type: ignore[operator]
        if getattr(t, other) is not None:
            r["others"].add(getattr(t, other))  # type: ignore[attr-defined]
        r["cost"] += t.cost  # type: ignore[operator]
        r["errors"] += t.status == "error"  # type: ignore[operator]
        r["up"] += t.id in up  # type: ignore[operator]
        r["down"] += t.id in down  # type: ignore[operator]
        r["violations"] += t.id in flagged  # type: ignore[operator]
        r["last"] = t.started_at
    return ref


def _check(groups: list[sm.Group], ref: dict[str, dict[str, object]]) -> None:
    for g in groups:
        r = ref[g.key]
        assert (g.turns, g.others, g.errors) == (r["turns"], len(r["others"]), r["errors"])  # type: ignore[arg-type]
        assert (g.thumbs_up, g.thumbs_down, g.violations) == (r["up"], r["down"], r["violations"])
        assert abs(g.cost - r["cost"]) < 1e-9  # type: ignore[operator]


def test_sessions_pages_match_the_reference(db: Database) -> None:
    traces = _store(db)
    ref = _reference(traces, "session_id", "user_id")
    seen: list[sm.Group] = []
    offset, more = 0, True
    while more:
        page, more = sm.list_sessions(db, since=T0 - timedelta(days=1), limit=7, offset=offset)
        seen += page
        offset += 7
    assert sorted(g.key for g in seen) == sorted(ref)  # every session once, no eval traffic
    lasts = [g.last_at for g in seen]
    assert lasts == sorted(lasts, reverse=True)  # most recently active first
    _check(seen, ref)


def test_a_users_sessions_and_the_users_list(db: Database) -> None:
    traces = _store(db)
    mine = [t for t in traces if t.user_id == "u2"]
    page, more = sm.list_sessions(db, user_id="u2", limit=100)
    assert not more and sorted(g.key for g in page) == sorted({t.session_id for t in mine})
    assert sum(g.turns for g in page) == len(mine)
    users, more = sm.list_users(db, since=T0, limit=2)
    assert more and len(users) == 2
    users += sm.list_users(db, since=T0, limit=2, offset=2)[0]
    ref = _reference(traces, "user_id", "session_id")
    assert sorted(g.key for g in users) == ["u1", "u2", "u3"]
    _check(users, ref)


def test_a_session_opens_as_its_conversation(db: Database) -> None:
    traces = _store(db)
    session = traces[10].session_id
    turns, more = sm.session_turns(db, session)
    mine = [t for t in traces if t.session_id == session]
    assert not more and [t.trace_id for t in turns] == [t.id for t in mine]
    assert [t.input for t in turns] == [t.input for t in mine]
    flagged = {t.id for t in traces[::11]}
    assert [bool(t.violations) for t in turns] == [t.id in flagged for t in mine]
    assert all(score in (0.0, 1.0) for t in turns for score, _ in t.feedback)
    assert sm.session_turns(db, "no such session") == ([], False)
