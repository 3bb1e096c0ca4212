"""Keyword-index terms: Snowball stems per language, Spanish stem-changing verbs, and what
that does to retrieval of a Spanish question whose verb form the source does not use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops.config import Settings
from llmops.rag.knowledge import KnowledgeBase
from llmops.store.db import Database
from llmops.text import index_terms, terms


def test_spanish_verb_forms_and_nouns_meet() -> None:
    forms = ["evalúa", "evaluar", "evaluación", "evaluaciones"]
    assert len({index_terms(w, "es")[0] for w in forms}) == 1
    assert len({index_terms(w, "es")[0] for w in ["medir", "mido", "mide", "miden"]}) == 1
    assert len({index_terms(w, "es")[0] for w in ["despliegue", "desplegar", "despliega"]}) == 1
    # the plain prefix stems keep them apart
    assert len({terms(w)[0] for w in ["medir", "mido", "mide"]}) == 3


def test_english_keeps_the_prefix_stems_and_shared_terms_still_cross_languages() -> None:
    assert index_terms("How are releases evaluated?", "en") == terms("How are releases evaluated?")
    assert index_terms("monitoring", "en") == index_terms("monitorización", "es")
    assert index_terms("¿Cómo se evalúa?") == index_terms("evaluación", "es")  # detected


DOCS = {
    "medir.md": "# Calidad\n\nPara medir la calidad de las respuestas se usa un conjunto de datos.\n",
    "guardar.md": "# Registros\n\nPara guardar la calidad del servicio se conservan los registros.\n",
    "cola.md": "# Colas\n\nUna cola absorbe los picos de tráfico antes del modelo.\n",
    "coste.md": "# Coste\n\nEl coste depende de los tokens de entrada y de salida.\n",
}


def test_the_keyword_index_matches_a_verb_form_the_source_does_not_use(
    settings: Settings, sqlite_db: Database, embeddings: Any, tmp_path: Path
) -> None:
    root = tmp_path / "kb" / "es"
    root.mkdir(parents=True)
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    kb = KnowledgeBase(settings, sqlite_db, embeddings)
    kb.ingest([root.parent])
    view = kb.view()
    scores = view.bm25.get_scores(index_terms("¿Cómo mido la calidad?", "es"))
    names = [d.metadata["source"] for d in view.docs]
    ranked = sorted(zip(scores, names, strict=True), reverse=True)
    assert ranked[0][1] == "es/medir.md"
    assert ranked[0][0] > ranked[1][0]
