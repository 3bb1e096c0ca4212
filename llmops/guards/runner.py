"""Runs a release's guard profile on the chat's input and output, as ``guard`` spans.

One guardrails-ai ``Guard`` per (profile, direction) is built once and reused. Validators
whose action is ``fix`` run with ``on_fail=fix`` (guardrails applies the fixes in order);
``block`` and ``flag`` run with ``noop`` and we decide. Violations are read from the outcome's
validation summaries (not ``validation_passed``, which is True when fix and noop mix) and
recorded as guard events through the tracer's writer, so the store is never on the hot path.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from langchain_core.documents import Document

from llmops.chat import GuardResult, Violation
from llmops.guards.profiles import Direction, Profile, Rule, get_profile
from llmops.releases import ReleaseInfo
from llmops.text import detect_lang
from llmops.tracing.records import GuardEventRecord
from llmops.tracing.tracer import TraceContext

log = logging.getLogger(__name__)

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


class GuardRunner:
    """The ``Guards`` seam of ``ChatService``, filled with guardrails-ai Guards."""

    def __init__(self, default_profile: str = "default") -> None:
        self.default_profile = default_profile
        # one Guard per thread: a Guard keeps the history of its calls, which we read back
        self._local = threading.local()

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

    def _guard(self, profile: Profile, direction: Direction) -> Any:
        key = (profile.name, direction)
        guards: dict[tuple[str, str], Any] = self._local.__dict__.setdefault("guards", {})
        guard = guards.get(key)
        if guard is None:
            from guardrails import Guard

            from llmops.guards.setup import configure
            from llmops.guards.validators import VALIDATORS

            configure()
            validators = [
                VALIDATORS[r.validator](on_fail="fix" if r.action == "fix" else "noop", **r.params)
                for r in profile.rules(direction)
            ]
            guard = Guard(name=f"llmops-{profile.name}-{direction}").use(*validators)
            guards[key] = guard
        return guard

    def run(
        self, text: str, direction: Direction, profile: Profile, metadata: dict[str, Any]
    ) -> tuple[str, list[tuple[Rule, str, str]]]:
        """Validate ``text``; returns the (fixed) text and the failures (rule, message, excerpt)."""
        from llmops.guards.validators import VALIDATORS

        # summaries name validators by class; a profile names them by key
        rules = {VALIDATORS[r.validator].__name__: r for r in profile.rules(direction)}
        if not rules or not text.strip():
            return text, []
        guard = self._guard(profile, direction)
        outcome = guard.validate(text, metadata=metadata)
        failures = []
        for summary in outcome.validation_summaries or []:
            if summary.validator_status != "fail":
                continue
            rule = rules.get(summary.validator_name)
            if rule is None:
                continue
            spans = summary.error_spans or []
            excerpt = text[spans[0].start : spans[0].end] if spans else text
            failures.append((rule, summary.failure_reason or "", excerpt[:300]))
        fixed = outcome.validated_output
        if not isinstance(fixed, str):
            # a failed noop validator leaves validated_output empty: take the value after
            # the last validator, which carries every fix
            logs = guard.history.last.iterations.last.validator_logs if guard.history else []
            fixed = logs[-1].value_after_validation if logs else text
        return str(fixed), failures

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
            try:
                fixed, failures = self.run(text, direction, profile, metadata)
            except Exception:
                log.exception("guard %s failed on a partial answer", direction)
                return GuardResult(text)
            blocking = [rule for rule, _, _ in failures if rule.action == "block"]
            return GuardResult(
                fixed,
                blocked=bool(blocking),
                reply=_reply(blocking[0], direction, lang) if blocking else None,
            )
        with trace.span(f"guard:{direction}", "guard", input=text) as span:
            span.set_attribute("llmops.guard.profile", profile.name)
            try:
                fixed, failures = self.run(text, direction, profile, metadata)
            except Exception as exc:  # a broken guard must not break the chat
                log.exception("guard %s failed; letting the text through, flagged", direction)
                span.set_status("error", f"{type(exc).__name__}: {exc}")
                return GuardResult(text)
            result = GuardResult(fixed)
            block_rule: Rule | None = None
            for rule, message, excerpt in failures:
                action = {"block": "blocked", "fix": "fixed", "flag": "flagged"}[rule.action]
                result.violations.append(Violation(rule.validator, direction, action, message))
                trace.record(
                    GuardEventRecord(
                        trace_id=trace.trace_id,
                        span_id=span.span_id,
                        validator=rule.validator,
                        direction=direction,
                        action=action,
                        message=message,
                        excerpt=excerpt,
                        release_id=release.id,
                    )
                )
                if rule.action == "block" and block_rule is None:
                    block_rule = rule
            if block_rule is not None:
                result.blocked = True
                result.reply = _reply(block_rule, direction, lang)
            span.set_output(result.reply if result.blocked else fixed)
            span.set_attribute("llmops.guard.violations", [v.validator for v in result.violations])
            span.set_attribute("llmops.guard.blocked", result.blocked)
            if result.violations:
                span.set_status("blocked" if result.blocked else "flagged")
            return result

    # -- the Guards protocol ----------------------------------------------------------------
    def check_input(self, text: str, trace: TraceContext, release: ReleaseInfo) -> GuardResult:
        return self._check(text, "input", trace, release, {})

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
