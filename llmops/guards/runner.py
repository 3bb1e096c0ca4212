"""Runs a release's guard profile on the chat's input and output, as ``guard`` spans.

Guardrails-ai ``Guard`` objects are built once per (profile, direction) and pooled: a call
borrows one for its validation and gives it back, so Streamlit's per-run threads reuse them
instead of building their own (``GuardPool``). Validators
whose action is ``fix`` run with ``on_fail=fix`` (guardrails applies the fixes in order);
``block`` and ``flag`` run with ``noop`` and we decide. Violations are read from the outcome's
validation summaries (not ``validation_passed``, which is True when fix and noop mix) and
recorded as guard events through the tracer's writer, so the store is never on the hot path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.errors import LLMOpsError
from llmops.guards.profiles import Direction, Profile, Rule, get_profile
from llmops.guards.results import GuardResult, Violation
from llmops.text import detect_lang
from llmops.tracing.records import GuardEventRecord

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from llmops.releases import ReleaseInfo
    from llmops.tracing.tracer import TraceContext

log = logging.getLogger(__name__)


class GuardError(LLMOpsError):
    """A guard validator raised instead of deciding."""


REPLIES = {
    "prompt_injection": {
        "en": "I can't follow instructions that try to change how I work or reveal my "
        "configuration. I'm happy to answer questions about LLMOps and this app.",
        "es": "No puedo seguir instrucciones que intentan cambiar cómo funciono o revelar mi "
        "configuración. Con gusto respondo preguntas sobre LLMOps y esta aplicación.",
    },
    "toxicity": {
        "en": "Let's keep the conversation respectful. I'm glad to help with questions about "
        "LLMOps and this app.",
        "es": "Mantengamos una conversación respetuosa. Con gusto te ayudo con preguntas sobre "
        "LLMOps y esta aplicación.",
    },
    "pii": {
        "en": "Your message contains personal data (such as an e-mail address, phone or card "
        "number). Please remove it and ask again.",
        "es": "Tu mensaje contiene datos personales (como un correo, un teléfono o una "
        "tarjeta). Elimínalos y vuelve a preguntar.",
    },
    "secrets": {
        "en": "Your message seems to contain a password or an access key. Please never share "
        "credentials; remove it and ask again.",
        "es": "Tu mensaje parece contener una contraseña o una clave de acceso. No compartas "
        "credenciales; elimínala y vuelve a preguntar.",
    },
    "error": {
        "en": "I couldn't check your message safely just now, so I didn't pass it on. Please "
        "try again in a moment.",
        "es": "No he podido revisar tu mensaje con seguridad en este momento, así que no lo he "
        "enviado. Inténtalo de nuevo en un momento.",
    },
    "output": {
        "en": "I can't show that answer because it did not pass our safety checks. Please "
        "rephrase your question.",
        "es": "No puedo mostrar esa respuesta porque no superó nuestros controles de "
        "seguridad. Reformula tu pregunta, por favor.",
    },
}


def _reply(rule: Rule, direction: Direction, lang: str) -> str:
    key = rule.validator if direction == "input" and rule.validator in REPLIES else "output"
    return REPLIES[key][lang]


ACTIONS = {"block": "blocked", "fix": "fixed", "flag": "flagged"}
ERROR = "error"  # the action of a guard event whose validator raised
# Validators that find sensitive values: their excerpt shows the context with the value
# masked, never the value (the writer's redaction cannot recognise a bare password).
_MASKS = {"pii": None, "secrets": "<SECRET>", "person_names": "<PERSON>"}
_CONTEXT = 40


def excerpt(rule: Rule, text: str, spans: list[Any]) -> str:
    """What a guard event keeps of the text: the match, or for sensitive validators the
    surrounding words with every match masked."""
    if not spans:
        return text[:300]
    first = spans[0]
    if rule.validator not in _MASKS:
        return text[first.start : first.end][:300]
    lo, hi = max(0, first.start - _CONTEXT), min(len(text), first.end + _CONTEXT)
    out, pos = [], lo
    for span in sorted(spans, key=lambda sp: sp.start):
        if span.end <= lo or span.start >= hi:
            continue
        out.append(text[pos : max(pos, span.start)])
        out.append(_MASKS[rule.validator] or f"<{span.reason or 'PII'}>")
        pos = max(pos, span.end)
    out.append(text[pos:hi] if pos < hi else "")
    return "".join(out)[:300]


@dataclass
class Verdict:
    """What a profile's validators made of a text: the (fixed) text, the violations found
    (rule, message, excerpt) and the rules whose validator raised (rule, error)."""

    text: str
    failures: list[tuple[Rule, str, str]] = field(default_factory=list)
    errors: list[tuple[Rule, str]] = field(default_factory=list)

    def fails_closed(self) -> bool:
        """A ``block`` or ``fix`` rule that could not run: the text must not go on."""
        return any(rule.action in ("block", "fix") for rule, _ in self.errors)


class GuardPool:
    """Built Guards, each lent to one caller at a time.

    A Guard keeps the history of its calls, which ``inspect`` reads back right after
    validating, so one Guard must not serve two threads at once; building one costs ~100 ms
    (guardrails validates and wires every validator). The pool lends a free Guard of the key,
    builds one only when all are busy, and takes it back afterwards: a new thread (Streamlit
    runs every script run in one) finds the Guards earlier threads built."""

    def __init__(self) -> None:
        self._free: dict[tuple[str, str], list[Any]] = {}
        self._lock = threading.Lock()
        self.built = 0

    @contextmanager
    def lend(self, key: tuple[str, str], build: Callable[[], Any]) -> Iterator[Any]:
        with self._lock:
            free = self._free.setdefault(key, [])
            guard = free.pop() if free else None
        if guard is None:
            guard = build()
            with self._lock:
                self.built += 1
        try:
            yield guard
        finally:
            with self._lock:
                self._free[key].append(guard)

    def size(self, key: tuple[str, str]) -> int:
        with self._lock:
            return len(self._free.get(key, []))


class GuardRunner:
    """The ``Guards`` seam of ``ChatService``, filled with guardrails-ai Guards.

    Guards fail closed: when a validator raises, a ``block`` or ``fix`` rule blocks the text
    (a crashed PII check must not pass raw data on), a ``flag`` rule lets it through; either
    way a guard event with action ``error`` is recorded.
    """

    def __init__(self, default_profile: str = "default") -> None:
        self.default_profile = default_profile
        self.pool = GuardPool()

    def profile(self, release: ReleaseInfo | None) -> Profile:
        name = release.config.guard_profile if release is not None else self.default_profile
        return get_profile(name or self.default_profile)

    def blocks_output(self, release: ReleaseInfo) -> bool:
        return self.profile(release).blocks("output")

    def warm_up(self) -> None:
        """Import guardrails and build Presidio (its e-mail check loads the public-suffix
        list on first use, ~0.8 s) before the first chat turn needs them."""
        profile = self.profile(None)
        sample = "Write to jane@example.com or call +34 612 345 678."
        for direction in ("input", "output"):
            self.run(sample, direction, profile, {"context": [sample], "system_prompt": ""})

    def preload(self, text: str, direction: Direction, profile: Profile) -> None:
        """Start loading, in a background thread, the one slow thing validating ``text`` will
        need: the learned injection detector's embedding model (``learned.preload``), when
        the profile runs ``prompt_injection`` with its model. For a process that checks one
        text (``llmops guard check``); a long-lived one warms up instead (``warm_up``). It
        predicts from the text as given: a fix applied before ``prompt_injection`` runs can
        only make the guess wrong, never the verdict."""
        if any(
            r.validator == "prompt_injection" and r.params.get("learned", True)
            for r in profile.rules(direction)
        ):
            from llmops.guards import learned

            learned.preload(text)

    def _validators(self, profile: Profile, direction: Direction) -> list[Any]:
        from llmops.guards.validators import VALIDATORS

        return [
            VALIDATORS[r.validator](on_fail="fix" if r.action == "fix" else "noop", **r.params)
            for r in profile.rules(direction)
        ]

    def _build_guard(self, profile: Profile, direction: Direction) -> Any:
        from guardrails import Guard

        from llmops.guards.setup import configure

        configure()
        validators = self._validators(profile, direction)
        return Guard(name=f"llmops-{profile.name}-{direction}").use(*validators)

    def run(
        self, text: str, direction: Direction, profile: Profile, metadata: dict[str, Any]
    ) -> tuple[str, list[tuple[Rule, str, str]]]:
        """Validate ``text``; returns the (fixed) text and the failures (rule, message,
        excerpt). Raises ``GuardError`` when a validator raised (see ``inspect``)."""
        verdict = self.inspect(text, direction, profile, metadata)
        if verdict.errors:
            names = ", ".join(f"{r.validator} ({e})" for r, e in verdict.errors)
            raise GuardError(f"guard validator failed: {names}")
        return verdict.text, verdict.failures

    def inspect(
        self, text: str, direction: Direction, profile: Profile, metadata: dict[str, Any]
    ) -> Verdict:
        """Run the profile's validators on ``text`` as one guardrails Guard. Never raises:
        if the Guard raises, each validator is run on its own to find which one failed."""
        from llmops.guards.validators import VALIDATORS

        # summaries name validators by class; a profile names them by key
        rules = {VALIDATORS[r.validator].__name__: r for r in profile.rules(direction)}
        if not rules or not text.strip():
            return Verdict(text)
        try:
            with self.pool.lend(
                (profile.name, direction), lambda: self._build_guard(profile, direction)
            ) as guard:
                return self._verdict(guard, text, metadata, rules)
        except Exception:  # noqa: BLE001 - find the validator that failed, below
            log.warning("guard %s raised; running its validators one by one", direction)
            return self._isolate(text, direction, profile, metadata)

    def _verdict(
        self, guard: Any, text: str, metadata: dict[str, Any], rules: dict[str, Rule]
    ) -> Verdict:
        outcome = guard.validate(text, metadata=metadata)
        verdict = Verdict(text)
        for summary in outcome.validation_summaries or []:
            if summary.validator_status != "fail":
                continue
            rule = rules.get(summary.validator_name)
            if rule is None:
                continue
            spans = summary.error_spans or []
            verdict.failures.append(
                (rule, summary.failure_reason or "", excerpt(rule, text, spans))
            )
        fixed = outcome.validated_output
        if not isinstance(fixed, str):
            # a failed noop validator leaves validated_output empty: take the value after
            # the last validator, which carries every fix
            logs = guard.history.last.iterations.last.validator_logs if guard.history else []
            fixed = logs[-1].value_after_validation if logs else text
        verdict.text = str(fixed)
        return verdict

    def _isolate(
        self, text: str, direction: Direction, profile: Profile, metadata: dict[str, Any]
    ) -> Verdict:
        """Each validator on its own, in profile order, each seeing the previous fix (what
        the Guard does with GUARDRAILS_RUN_SYNC); one that raises is an error, not a pass."""
        from guardrails.validator_base import FailResult

        verdict = Verdict(text)
        current = text
        try:
            validators = self._validators(profile, direction)
        except Exception as exc:  # noqa: BLE001 - no validator could be built
            verdict.errors = [(r, f"{type(exc).__name__}: {exc}") for r in profile.rules(direction)]
            return verdict
        for rule, validator in zip(profile.rules(direction), validators, strict=True):
            try:
                result = validator.validate(current, dict(metadata))
            except Exception as exc:
                log.exception("guard validator %s failed", rule.validator)
                verdict.errors.append((rule, f"{type(exc).__name__}: {exc}"))
                continue
            if isinstance(result, FailResult):
                spans = list(result.error_spans or [])
                message = result.error_message or ""
                verdict.failures.append((rule, message, excerpt(rule, current, spans)))
                if rule.action == "fix" and isinstance(result.fix_value, str):
                    current = result.fix_value
        verdict.text = current
        return verdict

    def _check(
        self,
        text: str,
        direction: Direction,
        trace: TraceContext,
        release: ReleaseInfo,
        metadata: dict[str, Any],
        record: bool = True,
    ) -> GuardResult:
        profile = self.profile(release)
        if not profile.rules(direction):
            return GuardResult(text)
        lang = detect_lang(text if direction == "input" else metadata.get("question") or text)
        if not record:  # an interim check of a streaming answer: decide, record nothing
            verdict = self._inspect_safely(text, direction, profile, metadata)
            blocking = [rule for rule, _, _ in verdict.failures if rule.action == "block"]
            if verdict.fails_closed():
                return GuardResult(text, blocked=True, reply=REPLIES["error"][lang])
            return GuardResult(
                verdict.text,
                blocked=bool(blocking),
                reply=_reply(blocking[0], direction, lang) if blocking else None,
            )
        with trace.span(f"guard:{direction}", "guard", input=text) as span:
            span.set_attribute("llmops.guard.profile", profile.name)
            verdict = self._inspect_safely(text, direction, profile, metadata)
            result = GuardResult(verdict.text)
            block_rule: Rule | None = None
            events: list[tuple[Rule, str, str, str | None]] = [
                (r, ACTIONS[r.action], m, x) for r, m, x in verdict.failures
            ]
            events += [(r, ERROR, f"The {r.validator} check failed: {e}", None)
                       for r, e in verdict.errors]  # fmt: skip
            for rule, action, message, excerpt_text in events:
                result.violations.append(Violation(rule.validator, direction, action, message))
                trace.record(
                    GuardEventRecord(
                        trace_id=trace.trace_id,
                        span_id=span.span_id,
                        validator=rule.validator,
                        direction=direction,
                        action=action,
                        message=message,
                        excerpt=excerpt_text,
                        release_id=release.id,
                    )
                )
                if action == "blocked" and block_rule is None:
                    block_rule = rule
            if verdict.fails_closed():
                result.blocked, result.text = True, text
                result.reply = REPLIES["error"][lang] if direction == "input" else None
                result.reply = result.reply or REPLIES["output"][lang]
            elif block_rule is not None:
                result.blocked = True
                result.reply = _reply(block_rule, direction, lang)
            span.set_output(result.reply if result.blocked else verdict.text)
            span.set_attribute("llmops.guard.violations", [v.validator for v in result.violations])
            span.set_attribute("llmops.guard.blocked", result.blocked)
            if verdict.errors:
                span.set_status(
                    "error", "; ".join(f"{r.validator}: {e}" for r, e in verdict.errors)
                )
            elif result.violations:
                span.set_status("blocked" if result.blocked else "flagged")
            return result

    def _inspect_safely(
        self, text: str, direction: Direction, profile: Profile, metadata: dict[str, Any]
    ) -> Verdict:
        try:
            return self.inspect(text, direction, profile, metadata)
        except Exception as exc:
            log.exception("guard %s failed", direction)
            return Verdict(text, errors=[(r, f"{type(exc).__name__}: {exc}")
                                         for r in profile.rules(direction)])  # fmt: skip

    # -- the Guards protocol ----------------------------------------------------------------
    def check_input(self, text: str, trace: TraceContext, release: ReleaseInfo) -> GuardResult:
        return self._check(text, "input", trace, release, {})

    def check_context(
        self, docs: list[Document], trace: TraceContext, release: ReleaseInfo
    ) -> list[Document]:
        """Retrieved chunks without instructions planted for the assistant (an indirect
        prompt injection), for profiles that block injections; recorded as a ``fixed``
        ``prompt_injection`` event when something was removed. Fails closed: a screen that
        raises keeps no chunk."""
        from llmops.guards import context

        if not docs or not context.screens(self.profile(release)):
            return docs
        try:
            screened = context.screen(docs)
        except Exception as exc:
            log.exception("context screen failed")
            with trace.span("guard:context", "guard") as span:
                span.set_status("error", f"{type(exc).__name__}: {exc}")
            return []
        if not screened.removed:
            return screened.docs
        with trace.span("guard:context", "guard", input=screened.removed) as span:
            message = (f"{len(screened.removed)} instruction(s) for the assistant removed from "
                       "the retrieved documents")  # fmt: skip
            trace.record(
                GuardEventRecord(
                    trace_id=trace.trace_id,
                    span_id=span.span_id,
                    validator="prompt_injection",
                    direction="input",
                    action=ACTIONS["fix"],
                    message=message,
                    excerpt=screened.removed[0][:200],
                    release_id=release.id,
                )
            )
            span.set_attribute("llmops.guard.context_removed", len(screened.removed))
            span.set_output(f"{len(screened.docs)} of {len(docs)} chunk(s) kept")
            span.set_status("flagged")
        return screened.docs

    def check_output(
        self,
        text: str,
        docs: list[Document],
        trace: TraceContext,
        release: ReleaseInfo,
        question: str = "",
        record: bool = True,
    ) -> GuardResult:
        metadata = {
            "context": [d.page_content for d in docs],
            "system_prompt": release.config.system_prompt,
            "question": question,
        }
        return self._check(text, "output", trace, release, metadata, record)
