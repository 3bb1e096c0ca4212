"""How the offline model matches questions to source sentences: inflections, compounds,
framing verbs, why-questions — each a general rule, checked on small made-up sources."""

from __future__ import annotations

from langchain_core.documents import Document

from llmops.llm.local import NOT_COVERED, LocalModel
from llmops.llm.prompts import format_sources, rag_prompt


def _ask(question: str, *texts: str) -> str:
    docs = [Document(page_content=t, metadata={"source": f"s{i}.md"}) for i, t in enumerate(texts)]
    msgs = rag_prompt().format_messages(question=question, context=format_sources(docs))
    return str(LocalModel().invoke(msgs).content)


def test_inflections_match_but_bare_prefixes_do_not() -> None:
    src = "## Names\nLLMOps stands for large language model operations. Pasta is not covered here."
    assert "large language model operations" in _ask("What does LLMOps stand for?", src)
    past = "## Releases\nA good release process keeps past releases available for audits."
    assert _ask("Can you recommend a good pasta recipe?", past) == NOT_COVERED["en"]


def test_words_written_apart_match_their_compound_and_hyphens_keep_meaning() -> None:
    src = (
        "## Labels\nA rollback moves the production label to the previous release.\n"
        "Labels are cheap to move between releases at any time of the day."
    )
    assert _ask("How do I roll back a bad release?", src).startswith("A rollback moves")
    thumbs = (
        "## Feedback\nA thumbs-up tells the operators that an answer was helpful.\n"
        "After a thumbs-down, an optional comment box appears for the user."
    )
    answer = _ask("What happens after a thumbs-down?", thumbs)
    assert answer.startswith("After a thumbs-down, an optional comment box appears")


def test_framing_verbs_do_not_sink_a_question_and_same_meaning_verbs_match() -> None:
    src = (
        "## Releases\nA candidate release is a new release built to fix a known problem.\n"
        "A release contains the system prompt, the model and the retrieval settings."
    )
    assert _ask("What is included in a release?", src).startswith("A release contains the system")


def test_why_questions_prefer_sentences_that_give_a_reason() -> None:
    src = (
        "## Latency\nLatency percentiles are reported per release and per model.\n"
        "Latency is best reported as percentiles because a few slow requests hide behind an "
        "average."
    )
    assert _ask("Why report latency percentiles?", src).startswith("Latency is best reported")


def test_spanish_verb_forms_match_their_infinitive_and_noun() -> None:
    src = (
        "## Latencia\nLa latencia de cada respuesta aparece en la página Monitor.\n"
        "Para medir la latencia se guarda la duración de cada petición en su traza."
    )
    answer = _ask("¿Cómo mido la latencia?", src)
    assert answer.startswith("Para medir la latencia")
