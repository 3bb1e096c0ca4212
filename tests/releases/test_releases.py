"""Releases as an operator uses them: create, label, promote, roll back, canary, compare,
automatic rollback and the playground — on the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from llmops.chat import ChatService
from llmops.errors import InvalidInputError, NotFoundError
from llmops.releases import core, deploy, diff, playground, rollback
from llmops.releases.assign import bucket, in_canary
from llmops.releases.compare import compare
from llmops.store.db import Database
from llmops.store.models import AuditLog, LabelEvent, RollbackEvent, Trace
from llmops.store.queries import get_trace
from llmops.tracing import SpanWriter
from llmops.tracing.ids import new_trace_id
from llmops.tracing.records import TraceRecord

from ..monitoring.webhook_server import webhook


def _release(db: Database, prompt: str, name: str = "r") -> core.ReleaseInfo:
    cfg = core.ReleaseConfig(system_prompt=prompt)
    return core.create_release(db, cfg, name=name, actor="ana")


def test_configs_are_validated_with_every_problem_named() -> None:
    with pytest.raises(InvalidInputError) as exc:
        core.parse_config(
            {"system_prompt": " ", "model": {"provider": "acme", "base_url": "ftp://x",
             "temperature": 9}, "retrieval": {"k": 0}, "guard_profile": "nope"}
        )  # fmt: skip
    message = str(exc.value)
    for field in ("system_prompt", "model.provider", "model.base_url", "model.temperature",
                  "retrieval.k", "guard_profile"):  # fmt: skip
        assert field in message, message


def test_the_same_config_is_the_same_release_and_refs_resolve(db: Database) -> None:
    a = _release(db, "Answer briefly.")
    assert _release(db, "Answer briefly.", name="again").id == a.id
    assert core.resolve_ref(db, a.id).id == a.id
    assert core.resolve_ref(db, a.id[:8]).id == a.id
    assert core.resolve_ref(db, "production").label == "production"
    with pytest.raises(NotFoundError):
        core.resolve_ref(db, "canary")
    with pytest.raises(NotFoundError):
        core.resolve_ref(db, "rel_doesnotexist")


def test_promote_and_rollback_walk_the_production_history(db: Database) -> None:
    first = core.labels(db).production
    b, c = _release(db, "B prompt."), _release(db, "C prompt.")
    deploy.promote(db, b.id, actor="ana", note="better prompt")
    deploy.promote(db, c.id, actor="ana")
    assert core.labels(db).production == c.id
    assert deploy.rollback(db, actor="bo", note="C is wrong").id == b.id
    assert deploy.rollback(db, actor="bo").id == first
    with pytest.raises(InvalidInputError):
        deploy.rollback(db)  # nothing before the first production
    with pytest.raises(InvalidInputError):
        deploy.promote(db, first or "")  # already production
    moves = core.history(db)
    assert [m.action for m in moves[:4]] == ["rollback", "rollback", "promote", "promote"]
    assert (moves[1].previous_release_id, moves[1].release_id, moves[1].actor) == (c.id, b.id, "bo")
    assert moves[1].note == "C is wrong"
    with db.session() as s:
        audited = s.scalars(
            select(AuditLog.action).where(AuditLog.action.startswith("release."))
        ).all()
    assert audited.count("release.promote") >= 3 and audited.count("release.rollback") == 2


def test_list_shows_labels_and_traffic_share(db: Database) -> None:
    cand = _release(db, "Candidate.")
    deploy.start_canary(db, cand.id, 0.2, actor="ana")
    rows = {r.id: r for r in core.list_releases(db)}
    prod = core.labels(db).production
    assert rows[cand.id].labels == ["canary"] and rows[cand.id].traffic_share == 0.2
    assert rows[prod].labels == ["production"] and rows[prod].traffic_share == 0.8
    assert rows[cand.id].created_by == "ana"
    with pytest.raises(InvalidInputError):
        deploy.start_canary(db, cand.id, 0.6)
    with pytest.raises(InvalidInputError):
        deploy.start_canary(db, "production", 0.1)
    assert rollback.list_rules(db), "a first canary gets the default rollback rules"
    deploy.stop_canary(db, actor="ana")
    assert core.labels(db).canary is None
    with pytest.raises(InvalidInputError):
        deploy.stop_canary(db)


def test_assignment_is_sticky_and_a_bigger_weight_only_adds_sessions() -> None:
    sessions = [f"session-{i}" for i in range(20_000)]
    at10 = {s for s in sessions if in_canary(s, 0.10)}
    at20 = {s for s in sessions if in_canary(s, 0.20)}
    assert at10 <= at20
    assert abs(len(at10) / len(sessions) - 0.10) < 0.01
    assert abs(len(at20 - at10) / len(sessions) - 0.10) < 0.01
    assert all(bucket(s) == bucket(s) for s in sessions[:100])
    assert not any(in_canary(s, 0.0) for s in sessions[:1000])


def test_the_chat_serves_the_canary_to_its_sessions_and_records_it(
    chat_service: ChatService, db: Database, writer: SpanWriter
) -> None:
    cand = _release(db, "You are the canary assistant. Answer from the sources.")
    deploy.start_canary(db, cand.id, 0.5)
    sessions = [f"s{i}" for i in range(40)]
    served = {s: core.which(db, [s])[0] for s in sessions}
    on_canary = [s for s in sessions if served[s].label == "canary"]
    assert on_canary and len(on_canary) < len(sessions)
    sid = on_canary[0]
    turns = [chat_service.ask("What is LLMOps?", session_id=sid) for _ in range(3)]
    assert {t.release for t in turns} == {cand.id} and {t.assignment for t in turns} == {"canary"}
    other = next(s for s in sessions if served[s].label == "production")
    assert chat_service.ask("What is LLMOps?", session_id=other).assignment == "production"
    assert writer.flush()
    trace = get_trace(db, turns[0].trace_id).trace
    assert trace["release_id"] == cand.id
    assert trace["attributes"]["llmops.release.assignment"] == "canary"


def _traffic(writer: SpanWriter, release_id: str, n: int, errors: int, latency_ms: float) -> None:
    now = time.time_ns() - 60 * 10**9
    for i in range(n):
        writer.submit(
            TraceRecord(id=new_trace_id(), name="chat", start_ns=now + i,
                        end_ns=now + i + int(latency_ms * 1e6), session_id=f"live-{i}",
                        release_id=release_id, status="error" if i < errors else "ok")
        )  # fmt: skip
    assert writer.flush()


def test_compare_finds_a_worse_canary_with_a_p_value(db: Database, writer: SpanWriter) -> None:
    cand = _release(db, "Worse.")
    deploy.start_canary(db, cand.id, 0.2)
    prod = core.labels(db).production or ""
    _traffic(writer, prod, 200, 2, 100)
    _traffic(writer, cand.id, 50, 15, 300)
    result = compare(db, window=timedelta(hours=1))
    err = result.metric("error_rate")
    assert err is not None and err.worse and err.significant and err.p_value < 0.001
    assert err.low is not None and err.low > 0  # the whole interval says worse
    p95 = result.metric("latency_p95")
    assert p95 is not None and p95.worse and p95.diff == pytest.approx(200, abs=1)
    assert result.verdict.startswith("Canary worse on error rate")
    assert result.production and result.production.turns == 200
    same = compare(db, window=timedelta(hours=1), canary_id=prod)
    assert "No significant difference" in same.verdict


def test_a_bad_canary_is_rolled_back_once_with_a_webhook(
    db: Database, writer: SpanWriter, tmp_path: Path
) -> None:
    cand = _release(db, "Broken.")
    deploy.start_canary(db, cand.id, 0.2, actor="ana")
    prod = core.labels(db).production or ""
    _traffic(writer, prod, 100, 0, 100)
    _traffic(writer, cand.id, 30, 30, 100)
    other = Database(db.url)  # a second process's engine
    with webhook() as hook:
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda d=d: results.append(rollback.check(d, default_webhook=hook.url)))
            for d in (db, other)
        ]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    other.dispose()
    rolled = [r for batch in results for r in batch]
    assert len(rolled) == 1 and rolled[0].release_id == cand.id
    assert core.labels(db).canary is None
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RollbackEvent)) == 1
        event = s.scalars(select(LabelEvent).where(LabelEvent.action == "auto_rollback")).one()
    assert event.actor.startswith("rollback-rule:") and "Error rate" in event.note
    assert len(hook.received) == 1 and hook.received[0]["event"] == "canary.rollback"
    assert rollback.events(db)[0].delivery == "sent"
    assert rollback.check(db) == []  # nothing left to roll back


def test_rollback_rules_are_validated(db: Database) -> None:
    with pytest.raises(InvalidInputError):
        rollback.add_rule(db, name="x", metric="nope")
    with pytest.raises(InvalidInputError):
        rollback.add_rule(db, name="x", metric="error_rate", threshold=5)  # a rate is a fraction
    rule = rollback.add_rule(db, name="slow", metric="latency_p95", kind="limit", threshold=4000,
                             min_samples=10)  # fmt: skip
    assert "above 4000 ms" in rule.describe()
    rollback.delete_rule(db, rule.id)
    assert rollback.list_rules(db) == []


def test_playground_traffic_stays_out_of_monitoring(
    chat_service: ChatService, db: Database, writer: SpanWriter
) -> None:
    cfg = core.ReleaseConfig(system_prompt="Draft prompt: be brief.")
    prod = core.resolve_ref(db, "production")
    rows = playground.run(chat_service, ["What is LLMOps?"], [prod, playground.draft(cfg)])
    (row,) = rows
    assert [a.release_id for a in row] == [prod.id, cfg.release_id()]
    assert all(a.answer and a.trace_id and a.latency_ms for a in row)
    with db.session() as s:
        sessions = s.scalars(select(Trace.session_id)).all()
    assert sessions and all(sid.startswith("playground:") for sid in sessions)
    with db.engine.connect() as conn:
        rolled = conn.execute(text("SELECT coalesce(sum(traces), 0) FROM metric_rollups")).scalar()
    assert rolled == 0
    with pytest.raises(InvalidInputError):
        playground.run(chat_service, ["  "], [prod])


def test_the_playground_needs_the_releases_capability(
    chat_service: ChatService, db: Database
) -> None:
    from llmops.governance.roles import Actor, PermissionDeniedError, Role

    prod = core.resolve_ref(db, "production")
    with pytest.raises(PermissionDeniedError):
        playground.run(chat_service, ["What is LLMOps?"], [prod], actor=Actor("v", Role.VIEWER))
    with db.session() as s:
        assert s.scalars(select(Trace.id)).all() == []  # refused before any turn ran
    (row,) = playground.run(chat_service, ["What is LLMOps?"], [prod],
                            actor=Actor("o", Role.OPERATOR))  # fmt: skip
    assert row[0].answer


def test_diff_names_each_changed_field_and_diffs_the_prompt() -> None:
    a = core.ReleaseConfig(system_prompt="Line one.\nLine two.\n")
    b = core.ReleaseConfig(
        system_prompt="Line one.\nLine 2.\n",
        retrieval=core.RetrievalConfig(k=6),
        model=core.ModelConfig(temperature=0.3),
    )
    changed = {c.path: (c.a, c.b) for c in diff.changes(a, b)}
    assert changed["retrieval.k"] == (4, 6) and changed["model.temperature"] == (None, 0.3)
    assert next(iter(changed)) == "system_prompt"
    text_diff = diff.prompt_diff(a.system_prompt, b.system_prompt)
    assert "-Line two." in text_diff and "+Line 2." in text_diff
    assert diff.prompt_diff("same", "same") == ""


def test_a_broken_remote_canary_errors_and_is_rolled_back(
    chat_service: ChatService, db: Database, writer: SpanWriter
) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    cfg = core.ReleaseConfig(
        model=core.ModelConfig(provider="openai-compatible", name="broken",
                               base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2,
                               max_retries=0)
    )  # fmt: skip
    cand = core.create_release(db, cfg, name="broken canary")
    deploy.start_canary(db, cand.id, 0.5)
    seen_errors = 0
    for i in range(80):
        turn = chat_service.ask("What is LLMOps?", session_id=f"user-{i}")
        seen_errors += turn.status == "error"
        if i % 10 == 9:
            assert writer.flush()
            if rollback.check(db):
                break
    assert core.labels(db).canary is None, "the broken canary was not rolled back"
    assert 20 <= seen_errors < 60
    later = [chat_service.ask("What is LLMOps?", session_id=f"user-{i}") for i in range(10)]
    assert all(t.status == "ok" and t.assignment == "production" for t in later)
