"""Evaluators: functions that score one answer in [0, 1] and say why.

A registry maps names to ``Evaluator`` specs; the built-ins below register themselves and a
user adds one with the decorator::

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

import inspect
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from llmops.errors import InvalidInputError
from llmops.text import declines, split_sentences, terms, words

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from llmops.evals.judge import Judge

log = logging.getLogger(__name__)

KINDS = ("heuristic", "embedding", "rag", "guard", "operational", "judge", "custom")


ERROR_PREFIX = "error: "


@dataclass
class Score:
    value: float | None
    explanation: str = ""
    error: str | None = None  # the evaluator failed: "<Type>: <message>" (value is None)


def _failed(message: str) -> Score:
    return Score(None, f"{ERROR_PREFIX}{message}", error=message)


def error_of(value: float | None, explanation: str | None) -> str | None:
    """The error of a stored score (value and explanation), or None when it did not fail."""
    if value is None and explanation and explanation.startswith(ERROR_PREFIX):
        return explanation[len(ERROR_PREFIX) :]
    return None


@dataclass
class EvalInput:
    """What an evaluator sees: the case, the answer, and what the trace recorded."""

    question: str
    answer: str
    expected: str | None = None
    must_include: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    lang: str = "en"
    status: str = "ok"
    blocked: bool = False
    violations: list[dict[str, str]] = field(default_factory=list)
    latency_ms: float | None = None
    cost: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    # LangChain callbacks for model calls an evaluator makes (the runner passes a handler
    # bound to the item's trace, so a judge's call shows up as a span with its tokens)
    callbacks: list[Any] = field(default_factory=list)


class EvalContext:
    """Shared by the evaluators of a run: embeddings (with a small cache, so the question and
    the expected answer are embedded once for every evaluator), the judge, parameters."""

    def __init__(
        self,
        *,
        embeddings: Embeddings | None = None,
        judge: Judge | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        cache_size: int = 4096,
        ask: Callable[[str], Any] | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.judge = judge
        # asks the run's release another question (an evaluation turn): for evaluators that
        # compare answers, e.g. ``fairness``; None outside an evaluation run
        self.ask = ask
        self.params = params or {}
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def param(self, evaluator: str, key: str, default: Any) -> Any:
        return self.params.get(evaluator, {}).get(key, default)

    def embed(self, *texts: str) -> list[np.ndarray]:
        if self.embeddings is None:
            raise InvalidInputError("This evaluator needs the embedding model.")
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self.embeddings.embed_documents(missing)
            with self._lock:
                if len(self._cache) + len(missing) > self._cache_size:
                    self._cache.clear()
                for text, vec in zip(missing, vectors, strict=True):
                    self._cache[text] = np.asarray(vec, dtype=np.float32)
        with self._lock:
            found = [self._cache.get(t) for t in texts]
        # a concurrent clear can drop an entry between the two steps: embed it again
        return [
            v
            if v is not None
            else np.asarray(self.embeddings.embed_documents([t])[0], dtype=np.float32)
            for t, v in zip(texts, found, strict=True)
        ]

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.embed(a, b)
        denom = float(np.linalg.norm(va) * np.linalg.norm(vb)) or 1.0
        return float(np.dot(va, vb)) / denom


EvaluatorFn = Callable[..., Score | float | bool | None]


@dataclass(frozen=True)
class Evaluator:
    name: str
    fn: EvaluatorFn
    description: str
    kind: str = "custom"
    needs: tuple[str, ...] = ()  # "embeddings" and/or "judge"
    default: bool = False  # part of a run's evaluators unless the run names its own
    online: bool = False  # needs no reference answer: can score live traffic
    takes_context: bool = False

    def unavailable(self, ctx: EvalContext) -> str | None:
        """Why this evaluator cannot run with ``ctx`` (None when it can)."""
        if "judge" in self.needs and ctx.judge is None:
            from llmops.evals.judge import JUDGE_HINT

            return JUDGE_HINT
        if "embeddings" in self.needs and ctx.embeddings is None:
            return "needs the embedding model, which is not loaded here"
        if "chat" in self.needs and ctx.ask is None:
            return "asks the release more questions: only inside an evaluation run"
        return None

    def __call__(self, case: EvalInput, ctx: EvalContext) -> Score:
        try:
            out = self.fn(case, ctx) if self.takes_context else self.fn(case)
        except Exception as exc:  # noqa: BLE001 - an evaluator bug must not stop a run
            log.warning("evaluator %s failed: %s: %s", self.name, type(exc).__name__, exc)
            return _failed(f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:2000])
        return _as_score(self.name, out)


def _as_score(name: str, out: Score | float | bool | None) -> Score:
    if out is None:
        return Score(None, "not applicable")
    if isinstance(out, Score):
        score = out
    elif isinstance(out, bool):
        score = Score(1.0 if out else 0.0)
    elif isinstance(out, int | float):
        score = Score(float(out))
    else:
        return _failed(f"{name} returned {type(out).__name__}, not a score")
    if score.value is not None:
        if not isinstance(score.value, int | float) or isinstance(score.value, bool):
            return _failed(f"{name} returned {type(score.value).__name__}, not a score")
        if not (0.0 <= score.value <= 1.0) or score.value != score.value:
            return _failed(f"{name} returned {score.value}, outside [0, 1]")
        score.value = round(float(score.value), 6)
    elif score.error is not None:
        return _failed(score.error)  # stored with the "error: " explanation
    else:
        score.error = error_of(None, score.explanation)  # an evaluator reporting a failure
    return score


REGISTRY: dict[str, Evaluator] = {}


def evaluator(
    name: str | None = None,
    *,
    description: str | None = None,
    kind: str = "custom",
    needs: Sequence[str] = (),
    default: bool = False,
    online: bool = False,
) -> Callable[[EvaluatorFn], EvaluatorFn]:
    """Register ``fn`` as an evaluator (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")

    def register(fn: EvaluatorFn) -> EvaluatorFn:
        key = name or fn.__name__
        if not re.match(r"^[a-z][a-z0-9_]{0,63}$", key):
            raise ValueError(f"evaluator name {key!r}: lower-case letters, digits, '_'")
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        doc = (fn.__doc__ or "").strip().split("\n\n")[0]
        REGISTRY[key] = Evaluator(
            name=key,
            fn=fn,
            description=description or " ".join(doc.replace("``", "`").split()) or key,
            kind=kind,
            needs=tuple(needs),
            default=default,
            online=online,
            takes_context=len(params) >= 2,
        )
        return fn

    return register


def get_evaluator(name: str) -> Evaluator:
    _load_builtins()
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise InvalidInputError(f"Unknown evaluator {name!r}.", hint=f"known: {known}") from None


def all_evaluators() -> list[Evaluator]:
    _load_builtins()
    return list(REGISTRY.values())


def default_names() -> list[str]:
    return [e.name for e in all_evaluators() if e.default]


def online_names() -> list[str]:
    return [e.name for e in all_evaluators() if e.online and "judge" not in e.needs]


def resolve(names: Iterable[str] | None, ctx: EvalContext) -> list[Evaluator]:
    """The evaluators to run: named ones (each must be available), else the defaults that are."""
    if names is None:
        return [e for e in all_evaluators() if e.default and e.unavailable(ctx) is None]
    chosen = [get_evaluator(n.strip()) for n in dict.fromkeys(names) if n.strip()]
    if not chosen:
        raise InvalidInputError("Choose at least one evaluator.")
    for e in chosen:
        reason = e.unavailable(ctx)
        if reason:
            raise InvalidInputError(f"Evaluator {e.name!r} is disabled: {reason}")
    return chosen


def score_all(
    evaluators: Sequence[Evaluator], case: EvalInput, ctx: EvalContext
) -> dict[str, Score]:
    if ctx.embeddings is not None and any("embeddings" in e.needs for e in evaluators):
        # one batch for the texts the embedding evaluators compare, instead of one call each
        texts = [case.question, strip_citations(case.answer), case.expected or ""]
        try:
            ctx.embed(*[t for t in texts if t])
        except Exception:  # each evaluator then reports its own failure
            log.warning("could not embed the texts of a case", exc_info=True)
    return {e.name: e(case, ctx) for e in evaluators}


def _load_builtins() -> None:
    from llmops.evals import judge  # noqa: F401  (registers the LLM-as-judge evaluators)
    from llmops.redteam import fairness  # noqa: F401  (registers ``fairness``)


# -- text helpers ------------------------------------------------------------------------------
_CITATION = re.compile(r"\s*\[\d{1,3}\]")


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text)


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
