"""Evaluators: functions that score one answer in [0, 1] and say why.

The registry (``llmops.evals.registry``, re-exported here) maps names to ``Evaluator`` specs;
the built-ins below register themselves and a user adds one with the decorator::

    from llmops.evals.evaluators import Score, evaluator

    @evaluator("mentions_docs", description="The answer points to the documentation.")
    def mentions_docs(case):
        return Score(1.0 if "docs" in case.answer else 0.0, "looked for 'docs'")

An evaluator takes the ``EvalInput`` (and optionally the ``EvalContext``, for embeddings, the
judge model and per-run parameters) and returns a ``Score``, a number or a bool. A score of
``None`` means "does not apply" (no expected answer, no retrieved context, ...): it is left
out of the averages instead of counting as 0.

An evaluator that raises, or returns something that is not a score in [0, 1], is recorded as
an *error*, not as "does not apply": no value, ``Score.error`` set, and the explanation
``"error: <Type>: <message>"`` (``ERROR_PREFIX``; ``error_of`` reads it back from a stored
result). A run counts errors per evaluator next to the mean, and the CI gate fails a check
over a metric whose evaluator errored. An error never stops a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from llmops.evals.registry import (
    ERROR_PREFIX,
    KINDS,
    REGISTRY,
    EvalContext,
    EvalInput,
    Evaluator,
    EvaluatorFn,
    Score,
    all_evaluators,
    default_names,
    error_of,
    evaluator,
    get_evaluator,
    online_names,
    resolve,
    score_all,
    strip_citations,
)
from llmops.text import declines, split_sentences, terms, words

__all__ = [
    "ERROR_PREFIX",
    "KINDS",
    "REGISTRY",
    "EvalContext",
    "EvalInput",
    "Evaluator",
    "EvaluatorFn",
    "Score",
    "all_evaluators",
    "default_names",
    "error_of",
    "evaluator",
    "get_evaluator",
    "normalize",
    "online_names",
    "resolve",
    "score_all",
    "strip_citations",
]

# -- text helpers ------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: folded words joined by one space."""
    return " ".join(words(strip_citations(text)))


def _claims(answer: str) -> list[tuple[str, set[str]]]:
    """Sentences of the answer that state something (three content words or more)."""
    out = []
    for sentence in split_sentences(strip_citations(answer)):
        t = set(terms(sentence))
        if len(t) >= 3:
            out.append((sentence, t))
    return out


def _support(sentence: set[str], passages: Sequence[set[str]]) -> float:
    """Share of a sentence's content words found in the passage that supports it best."""
    if not sentence or not passages:
        return 0.0
    return max(len(sentence & p) / len(sentence) for p in passages)


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# -- built-in evaluators -----------------------------------------------------------------------
@evaluator("exact_match", kind="heuristic")
def exact_match(case: EvalInput) -> Score | None:
    """The answer equals the expected answer, ignoring case, accents, punctuation and
    citation markers. Suits short factual answers."""
    if not case.expected:
        return None
    same = normalize(case.answer) == normalize(case.expected)
    return Score(1.0 if same else 0.0, "equal" if same else "differs from the expected answer")


@evaluator("contains_all", kind="heuristic", default=True)
def contains_all(case: EvalInput) -> Score | None:
    """Every ``must_include`` phrase occurs in the answer (case-, accent- and
    punctuation-insensitive). 1 when all are there, else 0; the explanation lists the
    missing ones. ``must_include_recall`` gives the share found."""
    if not case.must_include:
        return None
    answer = normalize(case.answer)
    missing = [p for p in case.must_include if normalize(p) not in answer]
    if not missing:
        return Score(1.0, f"all {len(case.must_include)} phrase(s) present")
    return Score(0.0, "missing: " + "; ".join(repr(m) for m in missing))


@evaluator("must_include_recall", kind="heuristic", default=True)
def must_include_recall(case: EvalInput) -> Score | None:
    """Share of the ``must_include`` phrases that occur in the answer (partial credit)."""
    if not case.must_include:
        return None
    answer = normalize(case.answer)
    found = [p for p in case.must_include if normalize(p) in answer]
    missing = [p for p in case.must_include if p not in found]
    note = f"{len(found)}/{len(case.must_include)} present"
    if missing:
        note += "; missing: " + "; ".join(repr(m) for m in missing)
    return Score(len(found) / len(case.must_include), note)


@evaluator("regex", kind="heuristic")
def regex(case: EvalInput, ctx: EvalContext) -> Score | None:
    """The answer matches the item's ``metadata.regex`` (or the run's ``regex.pattern``)."""
    pattern = case.metadata.get("regex") or ctx.param("regex", "pattern", None)
    if not pattern:
        return None
    hit = re.search(pattern, case.answer)
    if hit:
        return Score(1.0, f"matches {pattern!r} at {hit.start()}")
    return Score(0.0, f"does not match {pattern!r}")


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.S | re.I)


@evaluator("json_valid", kind="heuristic")
def json_valid(case: EvalInput) -> Score:
    """The answer is valid JSON (a surrounding ```json fence is allowed); with
    ``metadata.json_keys``, an object that has those keys."""
    text = case.answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Score(0.0, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    keys = case.metadata.get("json_keys") or []
    if keys:
        if not isinstance(value, dict):
            return Score(0.0, f"JSON {type(value).__name__}, expected an object")
        missing = [k for k in keys if k not in value]
        if missing:
            return Score(0.0, f"JSON object without {', '.join(missing)}")
    return Score(1.0, "valid JSON")


@evaluator("semantic_similarity", kind="embedding", needs=("embeddings",), default=True)
def semantic_similarity(case: EvalInput, ctx: EvalContext) -> Score | None:
    """Cosine similarity of the answer and the expected answer embeddings
    (all-MiniLM-L6-v2), clipped at 0. An English model: Spanish pairs score lower."""
    if not case.expected:
        return None
    sim = max(0.0, ctx.similarity(strip_citations(case.answer), case.expected))
    return Score(min(1.0, sim), f"cosine {sim:.2f} to the expected answer")


@evaluator("answer_relevance", kind="embedding", needs=("embeddings",), default=True, online=True)
def answer_relevance(case: EvalInput, ctx: EvalContext) -> Score | None:
    """How much the answer is about the question: cosine similarity of their embeddings,
    clipped at 0; 0 when the answer declines to answer (a non-answer addresses nothing)."""
    if not case.answer.strip():
        return Score(0.0, "empty answer")
    if case.blocked:
        return None
    if declines(case.answer):
        return Score(0.0, "the answer declines to answer")
    sim = max(0.0, ctx.similarity(case.question, strip_citations(case.answer)))
    return Score(min(1.0, sim), f"cosine {sim:.2f} to the question")


@evaluator("groundedness", kind="rag", default=True, online=True)
def groundedness(case: EvalInput, ctx: EvalContext) -> Score | None:
    """Faithfulness: the share of the answer's sentences supported by the retrieved context —
    at least ``min_support`` (default 0.6) of a sentence's content words occur in one passage.
    Lexical, so fast and explainable; it checks support, not truth."""
    if case.blocked or not case.contexts or declines(case.answer):
        return None  # a refusal makes no claims: nothing to ground
    claims = _claims(case.answer)
    if not claims:
        return None
    threshold = float(ctx.param("groundedness", "min_support", 0.6))
    passages = [set(terms(c)) for c in case.contexts]
    weak = []
    for sentence, t in claims:
        support = _support(t, passages)
        if support < threshold:
            weak.append(f"{_short(sentence)!r} ({support:.0%})")
    ok = len(claims) - len(weak)
    note = f"{ok}/{len(claims)} sentence(s) supported by the retrieved context"
    if weak:
        note += "; unsupported: " + "; ".join(weak[:3])
    return Score(ok / len(claims), note)


@evaluator("context_recall", kind="rag", default=True)
def context_recall(case: EvalInput, ctx: EvalContext) -> Score | None:
    """Did retrieval find what the answer needs: the share of ``must_include`` phrases (or,
    without them, of the expected answer's sentences) present in the retrieved context."""
    if case.blocked:
        return None
    if case.must_include:
        joined = " ".join(normalize(c) for c in case.contexts)
        found = [p for p in case.must_include if normalize(p) in joined]
        missing = [p for p in case.must_include if p not in found]
        note = f"{len(found)}/{len(case.must_include)} required phrase(s) in the context"
        if missing:
            note += "; missing: " + "; ".join(repr(m) for m in missing)
        return Score(len(found) / len(case.must_include), note)
    if case.expected:
        facts = _claims(case.expected)
        if not facts:
            return None
        passages = [set(terms(c)) for c in case.contexts]
        threshold = float(ctx.param("context_recall", "min_support", 0.6))
        hits = sum(_support(t, passages) >= threshold for _, t in facts)
        return Score(hits / len(facts), f"{hits}/{len(facts)} expected sentence(s) in the context")
    return None


@evaluator("refusal", kind="heuristic", default=True)
def refusal(case: EvalInput) -> Score | None:
    """The answer declines exactly when it should: an item whose ``metadata.expect_decline``
    is true (out of scope) must decline, any other item must be answered — a false refusal
    scores 0 just like a made-up answer to an out-of-scope question."""
    if case.blocked or not case.answer.strip():
        return None
    said_no = declines(case.answer)
    if case.metadata.get("expect_decline"):
        return Score(1.0 if said_no else 0.0, "declined" if said_no else "answered out of scope")
    return Score(
        0.0 if said_no else 1.0, "declined an in-scope question" if said_no else "answered"
    )


@evaluator("guard_pass", kind="guard", default=True, online=True)
def guard_pass(case: EvalInput) -> Score:
    """The turn passed the guardrails with no violation — or, for an item whose
    ``metadata.expect_blocked`` is true (an attack), the guardrails blocked it."""
    names = sorted({f"{v.get('validator')} ({v.get('action')})" for v in case.violations})
    if case.metadata.get("expect_blocked"):
        if case.blocked:
            return Score(1.0, "blocked as expected: " + ", ".join(names))
        return Score(0.0, "expected a block; " + (", ".join(names) or "nothing was flagged"))
    if case.blocked:
        return Score(0.0, "blocked: " + ", ".join(names))
    if names:
        return Score(0.0, "violations: " + ", ".join(names))
    return Score(1.0, "no guardrail violation")


@evaluator("latency", kind="operational", default=True, online=True)
def latency(case: EvalInput, ctx: EvalContext) -> Score | None:
    """1 within the latency budget (``metadata.max_latency_ms``, or the run's
    ``latency.budget_ms``, default 3000 ms), else budget / latency."""
    if case.latency_ms is None:
        return None
    budget = float(case.metadata.get("max_latency_ms") or ctx.param("latency", "budget_ms", 3000))
    value = 1.0 if case.latency_ms <= budget else budget / case.latency_ms
    return Score(value, f"{case.latency_ms:.0f} ms (budget {budget:.0f} ms)")


@evaluator("cost", kind="operational", default=True, online=True)
def cost(case: EvalInput, ctx: EvalContext) -> Score:
    """1 within the cost budget per answer (the run's ``cost.budget_usd``, default $0.01),
    else budget / cost."""
    budget = float(ctx.param("cost", "budget_usd", 0.01))
    value = 1.0 if case.cost <= budget else budget / case.cost
    return Score(value, f"${case.cost:.6f} (budget ${budget:.4f})")
