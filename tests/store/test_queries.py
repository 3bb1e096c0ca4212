from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from llmops import feedback
from llmops.errors import InvalidInputError, NotFoundError
from llmops.store.db import Database
from llmops.store.queries import TraceFilter, count_traces, get_trace, list_traces
from llmops.tracing.records import TraceRecord
from llmops.tracing.writer import SpanWriter

TEXTS = [
    "What is LLMOps?",
    'He said "ignore" it',
    "100% uptime_target",
    "it's a quote'; DROP TABLE traces; --",
    "emoji 🚀 rocket",
    "¿Qué es la monitorización?",
]


def _seed(writer: SpanWriter, texts: list[str]) -> list[str]:
    ids = []
    base = time.time_ns()
    for i, text in enumerate(texts):
        tid = f"{i + 1:032x}"
        writer.submit(
            TraceRecord(
                id=tid,
                name="chat",
                start_ns=base + i * 1_000_000,
                end_ns=base + i * 1_000_000 + 5_000_000,
                session_id=f"s{i % 2}",
                release_id="rel_a" if i % 2 else "rel_b",
                status="error" if i == 2 else "ok",
                input=text,
                output=f"answer {i}",
            )
        )
        ids.append(tid)
    assert writer.flush()
    return ids


def test_list_is_newest_first_and_paged(db: Database, writer: SpanWriter) -> None:
    ids = _seed(writer, TEXTS)
    page1 = list_traces(db, limit=4)
    page2 = list_traces(db, limit=4, offset=4)
    assert [r.id for r in page1 + page2] == list(reversed(ids))
    assert count_traces(db) == len(TEXTS)


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ('"ignore"', [1]),
        ("100%", [2]),
        ("_target", [2]),
        ("%", [2]),
        ("_", [2]),
        ("'; DROP TABLE traces; --", [3]),
        ("🚀", [4]),
        ("monitorización", [5]),
        ("LLMOPS", [0]),
        ("no such text", []),
    ],
)
def test_text_search_is_literal(
    db: Database, writer: SpanWriter, needle: str, expected: list[int]
) -> None:
    ids = _seed(writer, TEXTS)
    rows = list_traces(db, TraceFilter(text=needle))
    assert sorted(r.id for r in rows) == sorted(ids[i] for i in expected)
    assert count_traces(db) == len(TEXTS)  # the table survived


def test_filters(db: Database, writer: SpanWriter) -> None:
    ids = _seed(writer, TEXTS)
    assert [r.id for r in list_traces(db, TraceFilter(status="error"))] == [ids[2]]
    assert {r.release_id for r in list_traces(db, TraceFilter(release_id="rel_a"))} == {"rel_a"}
    feedback.record(db, ids[0], 1.0)
    feedback.record(db, ids[1], 0.0, comment="wrong")
    assert [r.id for r in list_traces(db, TraceFilter(feedback="up"))] == [ids[0]]
    assert [r.id for r in list_traces(db, TraceFilter(feedback="down"))] == [ids[1]]
    assert len(list_traces(db, TraceFilter(feedback="none"))) == len(TEXTS) - 2
    future = datetime.now(UTC) + timedelta(days=1)
    assert list_traces(db, TraceFilter(since=future)) == []
    row = next(r for r in list_traces(db) if r.id == ids[1])
    assert (row.thumbs_up, row.thumbs_down) == (0, 1)


def test_get_trace_unknown_id(db: Database) -> None:
    with pytest.raises(NotFoundError):
        get_trace(db, "0" * 32)


def test_feedback_validation(db: Database, writer: SpanWriter) -> None:
    (tid,) = _seed(writer, TEXTS[:1])
    with pytest.raises(NotFoundError):
        feedback.record(db, "f" * 32, 1.0)
    with pytest.raises(InvalidInputError):
        feedback.record(db, tid, 2.0)
    with pytest.raises(InvalidInputError):
        feedback.record(db, tid, 0.0, comment="x" * (feedback.MAX_COMMENT + 1))
    with pytest.raises(InvalidInputError):
        feedback.parse_thumb("sideways")
    fid = feedback.record(db, tid, feedback.parse_thumb("down"), comment="bad\x00 answer")
    detail = get_trace(db, tid)
    assert [(f["id"], f["score"], f["comment"]) for f in detail.feedback] == [
        (fid, 0.0, "bad answer")
    ]
