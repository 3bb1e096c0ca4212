"""The markdown splitter and the coverage factor of retrieval."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from llmops.config import Settings
from llmops.rag.knowledge import KnowledgeBase, split_markdown
from llmops.store.db import Database
from llmops.text import split_sentences

DOC = """# Deployment

Intro sentence about deployments that wraps
onto a second line in the source.

## Canary
A canary sends a small share of traffic to a candidate. The share is sticky per session.

## Steps
- build the release
- run the evaluation
"""


def test_chunks_keep_their_section_and_join_wrapped_lines() -> None:
    chunks = split_markdown(DOC, "Deployment")
    assert chunks == [
        "## Deployment\nIntro sentence about deployments that wraps onto a second line in the "
        "source.",
        "## Deployment — Canary\nA canary sends a small share of traffic to a candidate. The "
        "share is sticky per session.",
        "## Deployment — Steps\n- build the release\n- run the evaluation",
    ]


def test_long_sections_split_between_sentences_and_repeat_the_last_one() -> None:
    body = " ".join(f"Sentence number {i} says something about releases." for i in range(40))
    chunks = split_markdown(f"# T\n\n## Long\n{body}\n", "T", size=300, overlap=100)
    assert len(chunks) > 3 and all(len(c) <= 300 for c in chunks)
    assert all(c.startswith("## T — Long\n") for c in chunks)
    for prev, nxt in itertools.pairwise(chunks):
        last = split_sentences(prev.splitlines()[-1])[-1]
        assert nxt.splitlines()[1].startswith(last)  # one sentence of overlap
    assert not any(c.strip().endswith("Long") for c in chunks)  # no heading-only chunk


def test_text_without_headings_is_one_titled_section() -> None:
    assert split_markdown("plain text\nfrom a pdf page.\n\nSecond para.", "report") == [
        "## report\nplain text from a pdf page.\nSecond para."
    ]


def test_a_chunk_with_every_question_term_beats_one_repeating_a_common_term(
    settings: Settings, sqlite_db: Database, embeddings: Any, tmp_path: Path
) -> None:
    root = tmp_path / "kb" / "es"
    root.mkdir(parents=True)
    (root / "privacidad.md").write_text(
        "# Privacidad\n\n## Datos\nLos datos personales se guardan cifrados. Los datos se "
        "borran. Los datos se protegen. Los datos se revisan y los datos se anonimizan.\n",
        encoding="utf-8",
    )
    (root / "uso.md").write_text(
        "# Uso de esta aplicación\n\n## Arranque y almacenamiento\nPara arrancar la aplicación "
        "se usa make run. La aplicación guarda todos sus datos en el directorio LLMOPS_HOME, "
        "junto con las trazas, los registros de cambios, la configuración y las copias.\n",
        encoding="utf-8",
    )
    kb = KnowledgeBase(settings, sqlite_db, embeddings)
    kb.ingest([root.parent])
    top = kb.search("¿Dónde guarda la aplicación sus datos?", k=1)
    assert top[0].metadata["source"] == "es/uso.md"
