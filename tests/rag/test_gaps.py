"""Knowledge gaps from real chat turns: declined and thumbs-down questions, grouped by
meaning (EN and ES), counted in SQL, turned into dataset cases and an article stub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, select

from llmops import feedback
from llmops.chat import ChatService
from llmops.evals.datasets import list_items
from llmops.rag import gaps
from llmops.store.db import Database
from llmops.store.models import GapCandidate, GapCluster
from llmops.tracing import SpanWriter

PARKING = [
    "Where can I park my car at the office?",
    "Is there parking for employees at the office building?",
    "How do I get a parking space at the office?",
]
VACATION = [
    "How many vacation days do employees get per year?",
    "What is the annual vacation allowance for staff?",
    "How many days of paid holiday do I have each year?",
]
ES_MENU = [
    "¿Qué hay de menú en la cafetería hoy?",
    "¿Cuál es el menú de la cafetería esta semana?",
]


def test_declined_questions_become_clustered_gaps(
    chat_service: ChatService, db: Database, writer: SpanWriter, embeddings: Any
) -> None:
    turns = [chat_service.ask(q, session_id="live") for q in PARKING + VACATION + ES_MENU]
    chat_service.ask("What is LLMOps?", session_id="live")  # answered: not a gap
    chat_service.ask(PARKING[0], session_id="eval:run1")  # evaluation traffic: not a gap
    assert writer.flush()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(GapCandidate)) == len(turns)
    report = gaps.refresh(db, embeddings)
    assert report.clustered == len(turns)
    found = gaps.gaps(db, since=datetime.now(UTC) - timedelta(hours=1))
    groups = [set(g.examples) for g in found]
    for topic in (PARKING, VACATION, ES_MENU):
        assert set(topic) in groups, (topic, groups)
    top = found[0]
    assert top.count == 3 and top.declined + top.low_score == 3
    assert sum(top.trend) == 3 and list(top.releases.values()) == [3]
    es = next(g for g in found if g.lang == "es")
    assert set(es.examples) == set(ES_MENU)
    # nothing new: a second refresh clusters nothing
    assert gaps.refresh(db, embeddings).clustered == 0

    added = gaps.to_dataset(db, top.id, "parking gaps", actor="ana")
    assert added == 3
    items, _ = list_items(db, "parking gaps")
    assert {i.input for i in items} == set(
        next(t for t in (PARKING, VACATION) if set(t) == set(top.examples))
    )
    stub = gaps.draft_article(db, top.id)
    assert stub.startswith("# ") and all(f"## {q}" in stub for q in top.examples)
    gaps.resolve(db, top.id, note="article written")
    assert top.id not in {g.id for g in gaps.gaps(db, since=datetime.now(UTC) - timedelta(hours=1))}


def test_a_thumbs_down_answer_is_a_gap_candidate(
    chat_service: ChatService, db: Database, writer: SpanWriter, embeddings: Any
) -> None:
    turn = chat_service.ask("What is LLMOps?", session_id="live")
    feedback.record(db, turn.trace_id, 0.0, comment="too vague", tracer=chat_service.tracer)
    gaps.refresh(db, embeddings)
    (gap,) = gaps.gaps(db, since=datetime.now(UTC) - timedelta(hours=1))
    assert gap.thumbs_down == 1 and gap.examples == ["What is LLMOps?"]
    feedback.record(db, turn.trace_id, 0.0, tracer=chat_service.tracer)
    assert gaps.refresh(db, embeddings).feedback == 0  # the same trace is one candidate


class _Directions:
    """A stand-in sentence embedder with chosen directions, so the geometry is known:
    A and B are too far apart to join (joint cosine 0.49 < 0.55), C lies between them."""

    VECS: ClassVar[dict[str, list[float]]] = {
        "alpha": [1.0, 0.0, 0.0],
        "bravo": [0.7, 0.714, 0.0],
        "charlie": [0.922, 0.387, 0.0],
    }

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [next(v for k, v in self.VECS.items() if k in t.lower()) for t in texts]


def test_a_topic_split_by_arrival_order_is_merged_into_one_gap(
    chat_service: ChatService, db: Database, writer: SpanWriter
) -> None:
    embedder = _Directions()
    for q in ("Alpha zyxw?", "Bravo qwvx?"):
        chat_service.ask(q, session_id="live")
    assert writer.flush()
    assert gaps.refresh(db, embedder).new_clusters == 2  # one question each: apart
    chat_service.ask("Charlie vwxq?", session_id="live")
    assert writer.flush()
    report = gaps.refresh(db, embedder)  # C joins A; A's centroid is now close to B's
    assert report.merged == 1
    (gap,) = gaps.gaps(db, since=datetime.now(UTC) - timedelta(hours=1))
    assert gap.count == 3 and set(gap.examples) == {"Alpha zyxw?", "Bravo qwvx?", "Charlie vwxq?"}
    with db.session() as s:
        statuses = sorted(s.scalars(select(GapCluster.status)))
    assert statuses == ["merged", "open"]  # the absorbed gap says where it went


def test_the_trend_counts_every_day_a_range_touches(db: Database) -> None:
    """An hour across midnight is two days of trend (the days were once counted from the
    range's length, and a turn after midnight fell off the end)."""
    midnight = datetime(2026, 12, 7, tzinfo=UTC)
    with db.session() as s:
        cluster = GapCluster(lang="en", label="parking", centroid=b"\0" * 4, size=3)
        s.add(cluster)
        s.flush()
        for i, minutes in enumerate((-50, -10, 20)):
            s.add(GapCandidate(trace_id=f"{i:032x}", at=midnight + timedelta(minutes=minutes),
                               reason="declined", question=f"Where do I park? ({i})",
                               cluster_id=cluster.id, lang="en"))  # fmt: skip
        s.commit()
    found = gaps.gaps(db, since=midnight - timedelta(hours=1), until=midnight + timedelta(hours=1))
    assert [g.trend for g in found] == [[2, 1]]
    one_day = gaps.gaps(db, since=midnight - timedelta(hours=1), until=midnight)
    assert [g.trend for g in one_day] == [[2]]
