"""The evaluator registry: what an evaluator takes and returns, and the name -> spec map.

Evaluator modules import this one and register with ``@evaluator``; the registry imports the
built-in modules (``BUILTIN_MODULES``) by name on first look-up, so no evaluator module is
imported by the registry's own imports (no cycle between the heuristic evaluators and the
LLM-as-judge ones). ``llmops.evals.evaluators`` re-exports everything here, so user code keeps
writing ``from llmops.evals.evaluators import Score, evaluator``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from llmops.errors import InvalidInputError
from llmops.types import JSONDict

if TYPE_CHECKING:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.embeddings import Embeddings

    from llmops.chat import Turn

# modules whose evaluators register themselves when imported (loaded on first look-up)
BUILTIN_MODULES = ("llmops.evals.evaluators", "llmops.evals.judge", "llmops.redteam.fairness")

JUDGE_HINT = (
    "LLM-as-judge needs a real model and only the offline LocalModel is configured; set "
    "LLMOPS_EVAL_JUDGE_PROVIDER and LLMOPS_EVAL_JUDGE_MODEL (and LLMOPS_EVAL_JUDGE_BASE_URL "
    "for an OpenAI-compatible server)"
)


class Judge(Protocol):
    """What an evaluator run needs of a judge (``llmops.evals.judge.Judge`` is one)."""

    name: str

    def grade(self, rubric: str, case: EvalInput) -> Score: ...


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
    metadata: JSONDict = field(default_factory=dict)
    # LangChain callbacks for model calls an evaluator makes (the runner passes a handler
    # bound to the item's trace, so a judge's call shows up as a span with its tokens)
    callbacks: list[BaseCallbackHandler] = field(default_factory=list)


class EvalContext:
    """Shared by the evaluators of a run: embeddings (with a small cache, so the question and
    the expected answer are embedded once for every evaluator), the judge, parameters."""

    def __init__(
        self,
        *,
        embeddings: Embeddings | None = None,
        judge: Judge | None = None,
        params: dict[str, JSONDict] | None = None,
        cache_size: int = 4096,
        ask: Callable[[str], Turn] | None = None,
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
    """Import the modules whose evaluators register themselves (by name: they import this
    module, so it never imports them)."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


_CITATION = re.compile(r"\s*\[\d{1,3}\]")


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text)
