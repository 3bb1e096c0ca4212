from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmops.config import Settings
from llmops.rag.knowledge import KnowledgeBase
from llmops.store.db import Database
from llmops.store.models import Document as DocumentRow

DEPLOY = """# Deployment

## Releases
A release bundles the system prompt, the model, its parameters and the retrieval settings.
A canary release serves a small, sticky share of sessions before it is promoted.
"""

GUARDS = """# Guardrails

Guardrails block prompt injection and redact personal data before anything is stored.
"""

ES = """# Evaluación

La evaluación compara dos versiones con un conjunto de datos antes de promocionar una.
"""


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    (root / "en").mkdir(parents=True)
    (root / "es").mkdir()
    (root / "en" / "deployment.md").write_text(DEPLOY, encoding="utf-8")
    (root / "en" / "guardrails.md").write_text(GUARDS, encoding="utf-8")
    (root / "es" / "evaluacion.md").write_text(ES, encoding="utf-8")
    return root


@pytest.fixture
def knowledge(settings: Settings, sqlite_db: Database, embeddings: Any) -> KnowledgeBase:
    return KnowledgeBase(settings, sqlite_db, embeddings)


def _docs(db: Database) -> dict[str, DocumentRow]:
    with db.session() as s:
        return {d.source: d for d in s.scalars(select(DocumentRow))}


def test_ingest_is_idempotent_by_content_hash(knowledge: KnowledgeBase, kb_dir: Path) -> None:
    first = knowledge.ingest([kb_dir])
    assert sorted(first.added) == ["en/deployment.md", "en/guardrails.md", "es/evaluacion.md"]
    count = knowledge.count()
    assert count == first.chunks > 0
    again = knowledge.ingest([kb_dir])
    assert again.added == again.updated == [] and again.chunks == 0
    assert len(again.unchanged) == 3
    assert knowledge.count() == count
    langs = {k: v.lang for k, v in _docs(knowledge.db).items()}
    assert langs == {"en/deployment.md": "en", "en/guardrails.md": "en", "es/evaluacion.md": "es"}


def test_changed_file_replaces_its_chunks(knowledge: KnowledgeBase, kb_dir: Path) -> None:
    knowledge.ingest([kb_dir])
    (kb_dir / "en" / "guardrails.md").write_text(
        "# Guardrails\n\nGuardrails now also check answers for system prompt leakage.\n",
        encoding="utf-8",
    )
    report = knowledge.ingest([kb_dir])
    assert report.updated == ["en/guardrails.md"]
    got = knowledge.vectors.get(where={"source": "en/guardrails.md"}, include=["documents"])
    assert len(got["ids"]) == 1 and "leakage" in got["documents"][0]
    assert _docs(knowledge.db)["en/guardrails.md"].version == 2


def test_bad_sources_are_reported_and_skipped_without_losing_anything(
    knowledge: KnowledgeBase, kb_dir: Path
) -> None:
    knowledge.ingest([kb_dir])
    before = knowledge.count()
    (kb_dir / "en" / "empty.md").write_text("   \n", encoding="utf-8")
    (kb_dir / "en" / "binary.md").write_bytes(b"\xff\xfe\x00bad")
    (kb_dir / "en" / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (kb_dir / "en" / "image.png").write_bytes(b"\x89PNG")
    report = knowledge.ingest([kb_dir, kb_dir / "nope.md"])
    reasons = dict(report.skipped)
    assert reasons["en/empty.md"] == "empty"
    assert reasons["en/binary.md"] == "not valid UTF-8 text"
    assert reasons["en/broken.pdf"].startswith("unreadable")
    assert str(kb_dir / "nope.md") in reasons
    assert "en/image.png" not in reasons  # folders only pick supported types
    assert knowledge.count() == before
    assert len(report.unchanged) == 3


def test_hybrid_search_finds_english_and_spanish(knowledge: KnowledgeBase, kb_dir: Path) -> None:
    knowledge.ingest([kb_dir])
    top = knowledge.search("How does a canary release work?", k=2)
    assert top[0].metadata["source"] == "en/deployment.md"
    assert 0 < top[0].metadata["score"] <= 1
    es = knowledge.search("¿Cómo se comparan dos versiones?", k=2)
    assert es[0].metadata["source"] == "es/evaluacion.md"
    assert knowledge.search("zzzz qqqq", k=3, min_score=0.5) == []


def test_a_text_file_with_nul_bytes_is_skipped_and_keeps_what_was_stored(
    knowledge: KnowledgeBase, kb_dir: Path
) -> None:
    knowledge.ingest([kb_dir])
    before = knowledge.vectors.get(where={"source": "en/guardrails.md"}, include=["documents"])
    row = _docs(knowledge.db)["en/guardrails.md"]
    (kb_dir / "en" / "guardrails.md").write_bytes(b"# Guardrails\n\nNow \x00\x00 binary.\n")
    (kb_dir / "en" / "notes.txt").write_bytes(b"plain\x00text")
    report = knowledge.ingest([kb_dir])
    reasons = dict(report.skipped)
    assert reasons["en/guardrails.md"] == "contains NUL bytes: a binary file, not text"
    assert reasons["en/notes.txt"] == reasons["en/guardrails.md"]
    assert report.added == report.updated == [] and report.chunks == 0
    after = knowledge.vectors.get(where={"source": "en/guardrails.md"}, include=["documents"])
    assert after["ids"] == before["ids"] and after["documents"] == before["documents"]
    assert all("\x00" not in d for d in after["documents"])
    again = _docs(knowledge.db)["en/guardrails.md"]
    assert (again.content_hash, again.version) == (row.content_hash, row.version)
    assert "en/notes.txt" not in _docs(knowledge.db)
