"""The knowledge base's in-memory index is keyed by the newest knowledge-base version and
rebuilt off the chat turn (issue 17): no rebuild on a timer, none under the turn when another
process ingests, and this process's own ingest leaves it ready for the next turn."""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.config import Settings
from llmops.rag import knowledge as knowledge_module
from llmops.rag.knowledge import KnowledgeBase
from llmops.store.db import Database

DEPLOY = """# Deployment

A canary release serves a small, sticky share of sessions before it is promoted.
"""

QUOTAS = """# Quotas

Each tenant gets a monthly token quota; requests over the quota are refused politely.
"""


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    root = tmp_path / "kb" / "en"
    root.mkdir(parents=True)
    (root / "deployment.md").write_text(DEPLOY, encoding="utf-8")
    return root.parent


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the threads that built an index, in order."""
    seen: list[str] = []
    real = KnowledgeBase._build

    def spy(self: KnowledgeBase, key: int | None) -> Any:
        seen.append(threading.current_thread().name)
        return real(self, key)

    monkeypatch.setattr(KnowledgeBase, "_build", spy)
    yield seen


def _sources(kb: KnowledgeBase, query: str) -> set[str]:
    return {str(d.metadata["source"]) for d in kb.search(query, k=4, min_score=-1.0)}


def test_an_unchanged_knowledge_base_is_never_rebuilt(
    settings: Settings,
    sqlite_db: Database,
    embeddings: Any,
    kb_dir: Path,
    builds: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kb = KnowledgeBase(settings, sqlite_db, embeddings)
    kb.ingest([kb_dir])
    kb.search("canary release")
    builds.clear()
    # an hour later, with the versions re-read on every turn: still the same index
    monkeypatch.setattr(knowledge_module, "STATE_TTL_S", 0.0)
    later = types.SimpleNamespace(monotonic=lambda: time.monotonic() + 3600.0)
    monkeypatch.setattr(knowledge_module, "time", later)
    for _ in range(3):
        assert _sources(kb, "canary release") == {"en/deployment.md"}
    assert builds == []
    assert kb.refresher is None


def test_another_process_ingesting_is_picked_up_off_the_turn(
    settings: Settings,
    sqlite_db: Database,
    embeddings: Any,
    kb_dir: Path,
    builds: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = KnowledgeBase(settings, sqlite_db, embeddings)
    ours.ingest([kb_dir])
    assert _sources(ours, "token quota per tenant") == {"en/deployment.md"}
    # another replica (same store, same Chroma) ingests a new source
    other = KnowledgeBase(settings, sqlite_db, embeddings)
    (kb_dir / "en" / "quotas.md").write_text(QUOTAS, encoding="utf-8")
    assert other.ingest([kb_dir]).added == ["en/quotas.md"]
    builds.clear()
    monkeypatch.setattr(knowledge_module, "STATE_TTL_S", 0.0)

    # the turn is served from the index it has; the new version is built in the background
    assert "en/quotas.md" not in _sources(ours, "token quota per tenant")
    assert ours.refresher is not None
    ours.refresher.join()
    assert builds == ["llmops-kb-index"]
    assert "en/quotas.md" in _sources(ours, "token quota per tenant")
    assert builds == ["llmops-kb-index"]


def test_an_ingest_in_this_process_rebuilds_before_the_next_turn(
    settings: Settings, sqlite_db: Database, embeddings: Any, kb_dir: Path, builds: list[str]
) -> None:
    kb = KnowledgeBase(settings, sqlite_db, embeddings)
    kb.ingest([kb_dir])
    kb.search("canary release")
    builds.clear()
    (kb_dir / "en" / "quotas.md").write_text(QUOTAS, encoding="utf-8")
    kb.ingest([kb_dir])
    assert builds == [threading.current_thread().name]  # in the ingest call itself
    builds.clear()
    assert "en/quotas.md" in _sources(kb, "token quota per tenant")
    assert builds == []
    assert kb.refresher is None
