"""The offline model picks sentences for what the question asks — how, why, which steps,
compare — prefers one focused passage, and says when part of the question is not covered.
Each rule on small made-up sources where word overlap alone would pick another sentence."""

from __future__ import annotations

from langchain_core.documents import Document

from llmops.llm.local import PARTIAL, LocalModel
from llmops.llm.prompts import format_sources, rag_prompt


def _ask(question: str, *texts: str, lang: str = "") -> str:
    docs = [Document(page_content=t, metadata={"source": f"s{i}.md"}) for i, t in enumerate(texts)]
    msgs = rag_prompt().format_messages(question=question, context=format_sources(docs), lang=lang)
    return str(LocalModel(max_sentences=1).invoke(msgs).content)


def test_how_questions_get_a_way_of_doing_it_not_a_definition() -> None:
    src = (
        "## Widgets\nWidget calibration is the adjustment of widgets for accuracy.\n"
        "Widget calibration is done by running the calibrate command on each widget."
    )
    assert "calibrate command" in _ask("How is widget calibration done?", src)
    es = (
        "## Widgets\nLa calibración de widgets es el ajuste de los widgets para su precisión.\n"
        "La calibración de widgets se hace mediante el comando calibrate en cada widget."
    )
    assert "mediante el comando" in _ask("¿Cómo se hace la calibración de widgets?", es)


def test_step_questions_get_the_sentence_that_lists_them() -> None:
    src = (
        "## Onboarding\nOnboarding of widgets matters for widget quality.\n"
        "Widget onboarding has three steps: register the widget, test it, then enable it."
    )
    assert "three steps" in _ask("Which steps does widget onboarding follow?", src)


def test_compare_questions_get_a_contrast() -> None:
    src = (
        "## Gadgets\nGizmos and gadgets are both sold in the shop of gizmos and gadgets.\n"
        "Gizmos run on batteries, while gadgets run on mains power."
    )
    assert "while" in _ask("Compare gizmos and gadgets.", src)


def test_one_focused_passage_is_preferred_over_a_mix() -> None:
    a = (
        "## Widgets\nWidget tuning changes the widget gain for quieter widgets.\n"
        "Widget tuning is repeated after every widget repair."
    )
    b = "## Other\nThe catalogue says widget tuning is popular with fans."
    answer = str(
        LocalModel(max_sentences=2)
        .invoke(
            rag_prompt().format_messages(
                question="What is widget tuning?",
                context=format_sources(
                    [
                        Document(page_content=t, metadata={"source": f"s{i}.md"})
                        for i, t in enumerate((a, b))
                    ]
                ),
            )
        )
        .content
    )
    assert "[2]" not in answer and answer.count("[1]") == 2


def test_says_when_part_of_the_question_is_not_covered() -> None:
    src = "## Widgets\nWidget calibration is done by running the calibrate command."
    answer = _ask("How is widget calibration done, and what does the zorblax cost?", src)
    assert "calibrate command" in answer
    assert answer.endswith(PARTIAL["en"].format(terms="zorblax, cost"))
    covered = _ask("How is widget calibration done?", src)
    assert "do not mention" not in covered


def test_the_asked_language_wins_when_the_question_has_none() -> None:
    from llmops.llm.local import NOT_COVERED

    assert _ask("Xyzzy?", "## A\nWidgets are small.", lang="es") == NOT_COVERED["es"]
