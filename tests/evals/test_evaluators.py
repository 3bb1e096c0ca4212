"""Each built-in evaluator on a passing and a failing answer; the registry; real embeddings."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.errors import InvalidInputError
from llmops.evals import evaluators as ev
from llmops.evals.evaluators import EvalContext, EvalInput, Score

CTX = [
    "A canary deployment sends a small percentage of conversations to a candidate release. "
    "Canary assignment uses a sticky hash of the session identifier, so the same "
    "conversation always reaches the same release."
]


def _run(name: str, case: EvalInput, ctx: EvalContext | None = None) -> Score:
    return ev.get_evaluator(name)(case, ctx or EvalContext())


def test_exact_match_ignores_case_accents_punctuation_and_citations() -> None:
    ok = EvalInput("q", "Operaciones de LLM. [1]", expected="operaciones de llm")
    assert _run("exact_match", ok).value == 1.0
    assert _run("exact_match", EvalInput("q", "Operations", expected="other")).value == 0.0
    assert _run("exact_match", EvalInput("q", "anything")).value is None  # no expected


def test_contains_all_is_case_and_accent_insensitive_and_lists_what_is_missing() -> None:
    case = EvalInput("q", "La MONITORIZACION y la evaluacion [2].",
                     must_include=["monitorización", "Evaluación", "ajuste"])  # fmt: skip
    all_of = _run("contains_all", case)
    assert all_of.value == 0.0 and "'ajuste'" in all_of.explanation
    share = _run("must_include_recall", case)
    assert share.value == pytest.approx(2 / 3)
    case.must_include = case.must_include[:2]
    assert _run("contains_all", case).value == 1.0
    assert _run("contains_all", EvalInput("q", "x")).value is None


def test_regex_and_json_validity() -> None:
    case = EvalInput("q", "Order 12345 shipped", metadata={"regex": r"\b\d{5}\b"})
    assert _run("regex", case).value == 1.0
    assert _run("regex", EvalInput("q", "none", metadata={"regex": r"\d"})).value == 0.0
    params = EvalContext(params={"regex": {"pattern": "^Order"}})
    assert _run("regex", EvalInput("q", "Order 1"), params).value == 1.0
    assert _run("regex", EvalInput("q", "x")).value is None
    assert _run("json_valid", EvalInput("q", '```json\n{"a": 1}\n```')).value == 1.0
    bad = _run("json_valid", EvalInput("q", "{'a': 1}"))
    assert bad.value == 0.0 and "not JSON" in bad.explanation
    keyed = EvalInput("q", '{"a": 1}', metadata={"json_keys": ["a", "b"]})
    assert _run("json_valid", keyed).value == 0.0


def test_groundedness_scores_supported_sentences_and_skips_refusals() -> None:
    grounded = EvalInput(
        "q", "Canary assignment uses a sticky hash of the session identifier. [1]", contexts=CTX
    )
    assert _run("groundedness", grounded).value == 1.0
    mixed = EvalInput(
        "q",
        "A canary deployment sends a small percentage of conversations to a candidate "
        "release. [1] Canaries were invented by Belgian miners in 1902 for astronomy.",
        contexts=CTX,
    )
    score = _run("groundedness", mixed)
    assert score.value == 0.5 and "Belgian" in score.explanation
    refusal = EvalInput("q", "The knowledge base does not cover this question.", contexts=CTX)
    assert _run("groundedness", refusal).value is None
    assert _run("groundedness", EvalInput("q", "Some answer here today.")).value is None


def test_context_recall_from_phrases_or_expected_sentences() -> None:
    phrases = EvalInput("q", "a", must_include=["sticky hash", "rollback"], contexts=CTX)
    score = _run("context_recall", phrases)
    assert score.value == 0.5 and "rollback" in score.explanation
    expected = EvalInput(
        "q", "a", expected="The canary assignment uses a sticky session hash.", contexts=CTX
    )
    assert _run("context_recall", expected).value == 1.0
    assert _run("context_recall", EvalInput("q", "a", contexts=CTX)).value is None


def test_refusal_rewards_declining_only_out_of_scope_questions() -> None:
    no = "La base de conocimiento no cubre esta pregunta."
    assert _run("refusal", EvalInput("q", no, metadata={"expect_decline": True})).value == 1.0
    assert _run("refusal", EvalInput("q", no)).value == 0.0
    made_up = EvalInput("q", "Paris.", metadata={"expect_decline": True})
    assert _run("refusal", made_up).value == 0.0
    assert _run("refusal", EvalInput("q", "Canaries help.")).value == 1.0
    quoting = "La deriva es un cambio gradual. [1] Aparece con temas que la base no cubre. [1]"
    assert _run("refusal", EvalInput("q", quoting)).value == 1.0  # only the opening counts


def test_guard_pass_expects_a_block_only_for_attacks() -> None:
    blocked = [{"validator": "prompt_injection", "action": "blocked"}]
    attack = EvalInput("q", "no", blocked=True, violations=blocked,
                       metadata={"expect_blocked": True})  # fmt: skip
    assert _run("guard_pass", attack).value == 1.0
    attack.blocked, attack.violations = False, []
    assert _run("guard_pass", attack).value == 0.0
    assert _run("guard_pass", EvalInput("q", "fine")).value == 1.0
    flagged = EvalInput("q", "a", violations=[{"validator": "grounding", "action": "flagged"}])
    score = _run("guard_pass", flagged)
    assert score.value == 0.0 and "grounding (flagged)" in score.explanation


def test_latency_and_cost_budgets() -> None:
    assert _run("latency", EvalInput("q", "a", latency_ms=500)).value == 1.0
    slow = _run("latency", EvalInput("q", "a", latency_ms=6000))
    assert slow.value == 0.5 and "6000 ms" in slow.explanation
    tight = EvalContext(params={"latency": {"budget_ms": 250}})
    assert _run("latency", EvalInput("q", "a", latency_ms=500), tight).value == 0.5
    assert _run("cost", EvalInput("q", "a", cost=0.0)).value == 1.0
    assert _run("cost", EvalInput("q", "a", cost=0.04)).value == 0.25


def test_embedding_evaluators_with_the_real_model(embeddings: Any) -> None:
    ctx = EvalContext(embeddings=embeddings)
    q = "How does a canary deployment pick a release?"
    on_topic = _run("answer_relevance", EvalInput(q, CTX[0]), ctx)
    off_topic = _run("answer_relevance", EvalInput(q, "Bananas are rich in potassium."), ctx)
    assert on_topic.value is not None and off_topic.value is not None
    assert on_topic.value > off_topic.value + 0.2
    declined = _run("answer_relevance", EvalInput(q, "I don't know."), ctx)
    assert declined.value == 0.0
    same = _run("semantic_similarity", EvalInput(q, CTX[0], expected=CTX[0]), ctx)
    assert same.value == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(InvalidInputError, match="disabled"):
        ev.resolve(["semantic_similarity"], EvalContext())


def test_a_user_evaluator_registers_with_a_decorator_and_misbehaviour_is_contained() -> None:
    @ev.evaluator("mentions_docs", description="Points to the docs.")
    def mentions_docs(case: EvalInput) -> bool:
        return "docs" in case.answer

    @ev.evaluator("too_big")
    def too_big(case: EvalInput) -> float:
        return 3.0

    @ev.evaluator("crashes")
    def crashes(case: EvalInput, ctx: EvalContext) -> Score:
        raise RuntimeError("boom")

    try:
        chosen = ev.resolve(["mentions_docs", "too_big", "crashes"], EvalContext())
        scores = ev.score_all(chosen, EvalInput("q", "see the docs"), EvalContext())
        assert scores["mentions_docs"].value == 1.0
        assert scores["too_big"].value is None and "outside [0, 1]" in scores["too_big"].explanation
        assert scores["crashes"].value is None and "boom" in scores["crashes"].explanation
        assert ev.get_evaluator("mentions_docs").description == "Points to the docs."
    finally:
        for name in ("mentions_docs", "too_big", "crashes"):
            ev.REGISTRY.pop(name, None)
    with pytest.raises(ValueError):
        ev.evaluator("Bad-Name")(lambda case: 1.0)
    with pytest.raises(InvalidInputError, match="Unknown evaluator"):
        ev.get_evaluator("nope")


def test_defaults_skip_unavailable_ones_and_judges_explain_why() -> None:
    ctx = EvalContext()  # no embeddings, no judge
    names = [e.name for e in ev.resolve(None, ctx)]
    assert "contains_all" in names and "semantic_similarity" not in names
    judge = ev.get_evaluator("judge_correctness")
    reason = judge.unavailable(ctx)
    assert reason is not None and "LLMOPS_EVAL_JUDGE_MODEL" in reason
    with pytest.raises(InvalidInputError, match="disabled"):
        ev.resolve(["judge_helpfulness"], ctx)
    assert set(ev.online_names()) >= {"groundedness", "guard_pass", "latency"}
    assert "contains_all" not in ev.online_names()
