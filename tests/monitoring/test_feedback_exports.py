"""The Feedback page's list and the streamed exports (CSV, JSONL, fine-tuning JSONL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from llmops import feedback
from llmops.errors import InvalidInputError
from llmops.monitoring import feedback as fbm
from llmops.monitoring.feedback import FeedbackFilter
from llmops.store.db import Database
from llmops.store.models import AuditLog, Feedback, Release, Trace

from .conftest import END


def _count(db: Database, *where: object) -> int:
    with db.session() as s:
        stmt = select(func.count()).select_from(Feedback).join(Trace, Trace.id == Feedback.trace_id)
        return int(s.scalar(stmt.where(*where)) or 0)  # type: ignore[arg-type]


def test_list_filters_and_pages(seeded: Database) -> None:
    rows, more = fbm.list_feedback(seeded, FeedbackFilter(), limit=10)
    assert len(rows) == 10 and more
    assert [r.created_at for r in rows] == sorted((r.created_at for r in rows), reverse=True)
    down, _ = fbm.list_feedback(seeded, FeedbackFilter(down_only=True, has_comment=True), limit=500)
    assert down and all(r.score < 0.5 and r.comment for r in down)
    assert len(down) == _count(seeded, Feedback.score < 0.5, Feedback.comment.is_not(None))
    release = down[0].release_id
    mine, _ = fbm.list_feedback(seeded, FeedbackFilter(release_id=release), limit=500)
    assert mine and {r.release_id for r in mine} == {release}
    assert len(mine) == min(500, _count(seeded, Trace.release_id == release))
    assert fbm.list_feedback(seeded, FeedbackFilter(release_id="rel_never_served")) == ([], False)
    page2, _ = fbm.list_feedback(seeded, FeedbackFilter(), limit=10, offset=10)
    assert not {r.id for r in rows} & {r.id for r in page2}
    since = END - timedelta(hours=6)
    recent, _ = fbm.list_feedback(seeded, FeedbackFilter(since=since), limit=500)
    assert all(r.created_at >= since for r in recent)


def test_a_releases_first_turn_is_read_from_its_own_index_entries(seeded: Database) -> None:
    with seeded.session() as s:
        firsts = dict(s.execute(select(Trace.release_id, func.min(Trace.started_at))
                                .group_by(Trace.release_id)).all())  # fmt: skip
    assert len(firsts) >= 2
    for release, first in firsts.items():
        assert fbm.first_turn(seeded, release) == first
    # an id sorting between or after the real ones, and a prefix of one, served no turn
    some = min(firsts)
    for never in (some[:-1], some + "0", "zzz", ""):
        assert fbm.first_turn(seeded, never) is None


def test_keyset_pages_see_every_row_once(seeded: Database) -> None:
    small = [r.id for r in fbm.iter_feedback(seeded, FeedbackFilter(), chunk=7)]
    assert small == sorted(set(small)) and len(small) == _count(seeded)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_feedback_export_round_trips_and_is_audited(seeded: Database, fmt: str) -> None:
    out = io.StringIO()
    flt = FeedbackFilter(down_only=True)
    n = fbm.export(seeded, out, kind="feedback", fmt=fmt, flt=flt, actor="alice")
    text = out.getvalue()
    if fmt == "csv":
        records = list(csv.DictReader(io.StringIO(text)))
        assert records[0].keys() == set(fbm.CSV_COLUMNS)
    else:
        records = [json.loads(line) for line in text.splitlines()]
    assert n == len(records) == _count(seeded, Feedback.score < 0.5)
    assert {r["thumb"] for r in records} == {"down"}
    with seeded.session() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "feedback.export")).one()
    assert audit.actor == "alice" and audit.target == f"feedback.{fmt}"
    assert audit.details == {"rows": n, "filter": flt.as_dict()}


def test_finetune_export_is_openai_chat_format_from_thumbs_up_only(seeded: Database) -> None:
    with seeded.session() as s:
        mixed, liked = s.scalars(select(Trace.id).where(Trace.status == "ok").limit(2)).all()
        s.execute(update(Trace).where(Trace.id == mixed).values(input="MIXED-Q", output="MIXED-A"))
        s.execute(update(Trace).where(Trace.id == liked).values(input="LIKED-Q", output="LIKED-A"))
    feedback.record(seeded, mixed, 1.0)
    feedback.record(seeded, mixed, 0.0)  # rated both ways: not a good example
    feedback.record(seeded, liked, 1.0)
    feedback.record(seeded, liked, 1.0)  # rated up twice: one example
    out = io.StringIO()
    n = fbm.export(seeded, out, kind="finetune", fmt="jsonl")
    examples = [json.loads(line) for line in out.getvalue().splitlines()]

    with seeded.session() as s:  # the reference, straight from the tables
        votes: dict[str, set[bool]] = {}
        for tid, score in s.execute(select(Feedback.trace_id, Feedback.score)):
            votes.setdefault(tid, set()).add(score >= 0.5)
        good = {tid for tid, v in votes.items() if v == {True}}
        rows = s.execute(
            select(Trace.id, Trace.input, Trace.output, Release.config)
            .join(Release, Release.id == Trace.release_id)
            .where(Trace.id.in_(good), Trace.status == "ok", Trace.output.is_not(None))
        ).all()
    want = sorted((r.config["system_prompt"], r.input, r.output) for r in rows)
    assert n == len(examples) == len(want) > 10
    got = []
    for ex in examples:
        assert list(ex) == ["messages"]
        assert [m["role"] for m in ex["messages"]] == ["system", "user", "assistant"]
        got.append(tuple(m["content"] for m in ex["messages"]))
    assert sorted(got) == want
    users = [g[1] for g in got]
    assert users.count("LIKED-Q") == 1 and "MIXED-Q" not in users


def test_bad_exports_are_refused(seeded: Database) -> None:
    with pytest.raises(InvalidInputError, match="feedback or finetune"):
        fbm.export(seeded, io.StringIO(), kind="traces")
    with pytest.raises(InvalidInputError, match="jsonl"):
        fbm.export(seeded, io.StringIO(), kind="finetune", fmt="csv")
    with pytest.raises(InvalidInputError, match="thumbs-up"):
        list(fbm.iter_finetune(seeded, FeedbackFilter(down_only=True)))
