"""Knowledge-base versions: every change is a version, a release pins one, old versions are
kept while a release needs them, and a canary can try new knowledge before production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops.chat import ChatService
from llmops.config import Settings
from llmops.errors import InvalidInputError
from llmops.guards.runner import GuardRunner
from llmops.rag import versions
from llmops.rag.knowledge import KnowledgeBase
from llmops.releases import core, deploy
from llmops.store.db import Database
from llmops.tracing import SpanWriter, Tracer

V1 = "# Rollouts\n\nA canary release serves a small share of sessions first.\n"
V2 = "# Rollouts\n\nA blue-green deployment switches all traffic between two identical stacks.\n"
NEW = "# Quotas\n\nThe token quota of a tenant resets every night at midnight UTC.\n"


@pytest.fixture
def kb(settings: Settings, db: Database, embeddings: Any) -> KnowledgeBase:
    return KnowledgeBase(settings, db, embeddings)


def _write(root: Path, name: str, text: str) -> Path:
    (root / "en").mkdir(parents=True, exist_ok=True)
    path = root / "en" / name
    path.write_text(text, encoding="utf-8")
    return root


def _texts(kb: KnowledgeBase, q: str, version: str | None = None) -> str:
    return " ".join(d.page_content for d in kb.search(q, k=3, min_score=0.0, version=version))


def test_each_change_is_a_version_and_old_ones_go_unless_pinned(
    kb: KnowledgeBase, tmp_path: Path, db: Database
) -> None:
    root = _write(tmp_path / "kb", "rollouts.md", V1)
    first = kb.ingest([root], actor="ana")
    assert first.version == "kb-1"
    assert kb.ingest([root]).version is None  # nothing changed: no version
    # pin kb-1 in a release, then change the file
    core.create_release(db, core.ReleaseConfig(kb_version="kb-1"), name="pinned")
    _write(tmp_path / "kb", "rollouts.md", V2)
    second = kb.ingest([root], actor="bo", note="rewrite")
    assert second.version == "kb-2"
    assert "canary" in _texts(kb, "How are releases rolled out?", "kb-1")
    assert "blue-green" in _texts(kb, "How are releases rolled out?", "kb-2")
    assert "blue-green" in _texts(kb, "How are releases rolled out?")  # latest
    rows = {v.name: v for v in versions.list_versions(db)}
    assert (
        rows["kb-2"].latest and rows["kb-2"].created_by == "bo" and rows["kb-2"].note == "rewrite"
    )
    assert rows["kb-1"].releases  # kept: a release needs it
    changes = versions.compare(db, 1, 2)
    assert [(c.source, c.change) for c in changes] == [("en/rollouts.md", "changed")]


def test_an_unpinned_old_version_and_its_chunks_are_collected(
    kb: KnowledgeBase, tmp_path: Path, db: Database
) -> None:
    root = _write(tmp_path / "kb", "rollouts.md", V1)
    kb.ingest([root])
    before = kb.count()
    _write(tmp_path / "kb", "rollouts.md", V2)
    kb.ingest([root])
    assert [v.name for v in versions.list_versions(db)] == ["kb-2"]
    assert kb.count() == before  # the old content's chunks are gone
    assert "canary" not in _texts(kb, "How are releases rolled out?")


def test_a_draft_version_serves_only_the_release_that_pins_it(
    kb: KnowledgeBase, tmp_path: Path, db: Database, settings: Settings, writer: SpanWriter
) -> None:
    root = _write(tmp_path / "kb", "rollouts.md", V1)
    kb.ingest([root])
    _write(tmp_path / "kb", "quotas.md", NEW)
    draft = kb.ingest([root], publish=False, note="quotas, to try in a canary")
    assert draft.version == "kb-2" and versions.latest(db) == 1
    question = "When does the token quota reset?"
    assert "midnight" not in _texts(kb, question)
    assert "midnight" in _texts(kb, question, draft.version)

    cand = core.create_release(db, core.ReleaseConfig(kb_version=draft.version), name="quotas")
    deploy.start_canary(db, cand.id, 0.5)
    chat = ChatService(settings, db, kb, Tracer(writer), guards=GuardRunner())
    answers = {}
    for i in range(30):
        turn = chat.ask(question, session_id=f"user-{i}")
        answers.setdefault(turn.assignment, turn.answer)
        if len(answers) == 2:
            break
    assert "midnight" in answers["canary"] and "midnight" not in answers["production"]
    deploy.promote(db, cand.id)
    assert "midnight" in chat.ask(question, session_id="anyone").answer
    versions.publish(db, 2)
    assert versions.latest(db) == 2


def test_removing_a_source_makes_a_version_without_it(
    kb: KnowledgeBase, tmp_path: Path, db: Database
) -> None:
    root = _write(tmp_path / "kb", "rollouts.md", V1)
    _write(root, "quotas.md", NEW)
    kb.ingest([root])
    report = kb.remove(["en/quotas.md", "en/missing.md"], actor="ana")
    assert report.removed == ["en/quotas.md"] and report.version == "kb-2"
    assert dict(report.skipped)["en/missing.md"] == "not in the knowledge base"
    assert "midnight" not in _texts(kb, "When does the token quota reset?")
    assert [v.sources for v in versions.list_versions(db)] == [1]


def test_results_say_which_retriever_found_them(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest([_write(tmp_path / "kb", "rollouts.md", V1)])
    (doc,) = kb.search("canary release share of sessions", k=1, min_score=0.0)
    assert doc.metadata["retriever"] in ("dense", "keyword", "dense+keyword")
    assert "dense" in doc.metadata["retriever"]


def test_version_references_are_checked() -> None:
    assert versions.parse("kb-7") == 7 and versions.parse("7") == 7
    assert versions.parse(None) is None and versions.parse("latest") is None
    with pytest.raises(InvalidInputError):
        versions.parse("seven")
