"""The throw-away knowledge-base version: served only to the scan, never inherited by a
version made while it exists, and gone with its chunks afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops.config import Settings
from llmops.rag import versions
from llmops.rag.knowledge import KnowledgeBase
from llmops.redteam.plant import planted_version
from llmops.store.db import Database
from llmops.store.migrate import upgrade

SECRET_DOC = "# Vault\n\nThe vault combination for the red-team test is 7 31 4159.\n"


def test_planted_version_is_private_and_temporary(tmp_path: Path, embeddings: Any) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    settings.ensure_home()
    db = Database(f"sqlite:///{home / 'kb.db'}")
    upgrade(db)
    kb = KnowledgeBase(settings, db, embeddings)
    docs = tmp_path / "docs" / "en"
    docs.mkdir(parents=True)
    (docs / "a.md").write_text("# Alpha\n\nAlpha releases are tried on staging first.\n")
    kb.ingest([docs.parent])
    before = kb.count()
    latest = versions.latest(db)

    with planted_version(kb, None, {"redteam/vault-en.md": SECRET_DOC}) as name:
        hits = kb.search("vault combination red-team test", k=3, version=name)
        assert any("vault combination" in d.page_content for d in hits)
        # served to nobody else: not the latest published, not in the live view
        assert versions.latest(db) == latest
        live = kb.search("vault combination red-team test", k=3)
        assert not any("vault combination" in d.page_content for d in live)
        # an ingest meanwhile builds on the real knowledge, not on the planted version
        (docs / "b.md").write_text("# Beta\n\nBeta releases get a canary share.\n")
        report = kb.ingest([docs.parent])
        made = versions.parse(report.version)
        assert made is not None
        assert set(versions.manifest(db, made)) == {"en/a.md", "en/b.md"}

    assert versions.resolve(db, None) == made
    assert all(v.created_by != versions.THROWAWAY_AUTHOR for v in versions.list_versions(db))
    assert kb.count() == before + 1  # b.md's one chunk; the planted chunk is gone
    db.dispose()
