"""guardrails-ai validators for the chat's input and output.

Each is a small registered ``Validator``: ``validate()`` returns ``PassResult`` or a
``FailResult`` with error spans, a ``fix_value`` where a fix exists, and
``metadata["labels"]`` (the dataset labels it detected, for guard evaluation). A failing
result carries the incoming metadata too: guardrails hands a result's metadata on to the
next validator, and the context the grounding check needs must survive that. Constructor
arguments go to ``super().__init__`` so a Guard can serialise them. Why each one is ours and
not an official ``guardrails-ai-*`` package is said in its docstring; the official packages
that need a hub model or a remote API do not run offline (../shared/notes/offline-recipes.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from guardrails.validator_base import (
    ErrorSpan,
    FailResult,
    PassResult,
    ValidationResult,
    Validator,
    register_validator,
)

from llmops.guards import pii, secrets
from llmops.text import declines, split_sentences, terms

if TYPE_CHECKING:
    from llmops.guards.detectors import Finding

_CITATION = re.compile(r"\s*\[\d{1,2}\]")


@register_validator(name="llmops/pii", data_type="string")
class DetectPii(Validator):
    """Personal data: e-mail, phone, credit card (Luhn), IBAN (mod-97), IP, US SSN, Spanish
    DNI/NIE (check letter). Fix: each entity replaced by ``<EMAIL>``, ``<PHONE>``, ...

    Ours rather than ``guardrails-ai-detect-pii``: that package builds Presidio's default
    analyzer, which downloads a spaCy model on first use. We run Presidio's own pattern
    recognizers with its no-op NLP engine (``llmops.guards.pii``), which needs no model.
    """

    def __init__(self, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, **kwargs)

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        entities = pii.scanner().find(str(value))
        if not entities:
            return PassResult()
        text = str(value)
        fixed = text
        for e in reversed(entities):
            fixed = f"{fixed[: e.start]}<{e.label}>{fixed[e.end :]}"
        kinds = sorted({e.label for e in entities})
        return FailResult(
            error_message=f"Personal data found: {', '.join(kinds)}.",
            fix_value=fixed,
            error_spans=[ErrorSpan(start=e.start, end=e.end, reason=e.label) for e in entities],
            metadata={**metadata, "labels": sorted({pii.DATASET_LABELS[k] for k in kinds})},
        )


@register_validator(name="llmops/person_names", data_type="string")
class DetectPersonNames(Validator):
    """Person names in English text (spaCy's small English NER, offline). Fix: each name
    replaced by ``<PERSON>``.

    Ours because ``guardrails-ai-detect-pii`` would download its spaCy model at first use;
    this one loads the pinned, packaged model (``llmops.guards.names``). Not in the default
    profile: measured, it also flags persona names, product names and public figures.
    """

    def __init__(self, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, **kwargs)

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        from llmops.guards.names import find_names

        text = str(value)
        names = find_names(text)
        if not names:
            return PassResult()
        fixed = text
        for n in reversed(names):
            fixed = f"{fixed[: n.start]}<PERSON>{fixed[n.end :]}"
        return FailResult(
            error_message=f"Person name(s) found: {len(names)}.",
            fix_value=fixed,
            error_spans=[ErrorSpan(start=n.start, end=n.end, reason="PERSON") for n in names],
            metadata={**metadata, "labels": ["pii:person"]},
        )


@register_validator(name="llmops/secrets", data_type="string")
class DetectSecrets(Validator):
    """API keys, tokens, private keys, connection strings and "my password is …" (EN/ES).
    Fix: the secret replaced by ``<SECRET>``. See ``llmops.guards.secrets`` for why this is
    not ``guardrails-ai-secrets-present``.
    """

    def __init__(self, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, **kwargs)

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        text = str(value)
        found = secrets.find(text)
        if not found:
            return PassResult()
        fixed = text
        for s in reversed(found):
            fixed = f"{fixed[: s.start]}<SECRET>{fixed[s.end :]}"
        return FailResult(
            error_message=f"Credentials found: {', '.join(sorted({s.kind for s in found}))}.",
            fix_value=fixed,
            error_spans=[ErrorSpan(start=s.start, end=s.end, reason=s.kind) for s in found],
            metadata={**metadata, "labels": ["secret"]},
        )


def _findings_result(
    findings: list[Any], label: str, message: str, metadata: dict[str, Any]
) -> ValidationResult:
    if not findings:
        return PassResult()
    best = max(findings, key=lambda f: f.score)
    return FailResult(
        error_message=f"{message} ({best.reason}).",
        error_spans=[ErrorSpan(start=f.start, end=f.end, reason=f.reason) for f in findings],
        metadata={**metadata, "labels": [label], "score": best.score},
    )


@register_validator(name="llmops/prompt_injection", data_type="string")
class DetectPromptInjection(Validator):
    """Prompt injection and jailbreaks in English and Spanish, including obfuscations
    (spacing, leetspeak, zero-width characters, base64, fake role tags). No fix: block or flag.

    Ours because the official ``detect-prompt-injection`` needs a remote API and a vector
    database and ``detect-jailbreak`` a hub model; the rules are in ``llmops.guards.detectors``.
    When no rule fires, the learned detector (``llmops.guards.learned``: logistic regression on
    the MiniLM embedding the app already ships and on hashed character n-grams) decides with
    its validated threshold, reading a message that only quotes an attack to talk about it
    without the quotation; ``learned=False`` keeps the rules alone.
    """

    def __init__(self, learned: bool = True, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, learned=learned, **kwargs)
        self.learned = learned

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        from llmops.guards.detectors import detect_injection

        text = str(value)
        findings = detect_injection(text)
        if not findings and self.learned and text.strip():
            from llmops.guards import learned

            findings = _learned(text, "prompt_injection", "learned detector", learned.flags_message)
        return _findings_result(findings, "prompt_injection", "Prompt injection attempt", metadata)


@register_validator(name="llmops/toxicity", data_type="string")
class DetectToxicity(Validator):
    """Insults, threats, slurs and dehumanising language in English and Spanish, with
    obfuscations. No fix: block or flag.

    Ours because ``toxic-language`` needs a hub model and ``profanity-free`` is English-only
    (measured: it caught 0/4 Spanish insults and flagged a polite Spanish sentence).

    When no rule fires, a learned word model (``llmops.guards.learned_toxicity``:
    alt-profanity-check's model run with numpy) decides for a text that names a person or
    people; ``learned=False`` keeps the rules alone.
    """

    def __init__(self, learned: bool = True, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, learned=learned, **kwargs)
        self.learned = learned

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        from llmops.guards.detectors import detect_toxicity

        text = str(value)
        findings = detect_toxicity(text)
        if not findings and self.learned and text.strip():
            from llmops.guards import learned_toxicity

            findings = _learned(text, "toxicity", "learned word model", learned_toxicity.flags)
        return _findings_result(findings, "toxicity", "Abusive language", metadata)


def _learned(
    text: str, label: str, model: str, flags: Callable[[str], tuple[bool, float]]
) -> list[Finding]:
    """The learned model's verdict on a text no rule flagged, as a finding over the whole text."""
    from llmops.guards.detectors import Finding

    hit, score = flags(text)
    return (
        [Finding("learned", label, score, 0, len(text), f"{model}, score {score:.2f}")]
        if hit
        else []
    )


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = [w for w in re.findall(r"\w+", text.casefold())]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@register_validator(name="llmops/system_prompt_leak", data_type="string")
class DetectSystemPromptLeak(Validator):
    """The answer repeats the system prompt (``metadata["system_prompt"]``).

    Ours rather than ``guardrails-ai-detect-system-prompt-leakage``: that one scores the whole
    answer against the whole prompt, so an answer quoting two prompt sentences inside a longer
    reply stayed under its threshold. We count the prompt's word 6-grams found in the answer.
    """

    def __init__(self, threshold: float = 0.3, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, threshold=threshold, **kwargs)
        self.threshold = threshold

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        prompt = str(metadata.get("system_prompt") or "")
        prompt_grams = _ngrams(prompt, 6)
        if not prompt_grams:
            return PassResult()
        shared = prompt_grams & _ngrams(str(value), 6)
        share = len(shared) / len(prompt_grams)
        if share < self.threshold:
            return PassResult()
        return FailResult(
            error_message=f"The answer repeats {share:.0%} of the system prompt.",
            metadata={**metadata, "labels": ["system_prompt_leak"], "score": share},
        )


@register_validator(name="llmops/grounding", data_type="string")
class CheckGrounding(Validator):
    """Sentences of the answer that the retrieved context (``metadata["context"]``) does not
    support: less than ``min_support`` of the sentence's content words occur in any one
    context passage. Lexical, so it is fast and explainable; it flags, it cannot prove.

    Ours because the official grounding validators need an LLM or a hub model.
    """

    def __init__(self, min_support: float = 0.6, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, min_support=min_support, **kwargs)
        self.min_support = min_support

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        context = [set(terms(c)) for c in metadata.get("context") or []]
        text = str(value)
        if not context or declines(text):
            return PassResult()  # no sources, or an answer that says it cannot answer
        spans: list[ErrorSpan] = []
        pos = 0
        for sentence in split_sentences(text):
            start = text.find(sentence, pos)
            pos = max(pos, start + len(sentence)) if start >= 0 else pos
            words = set(terms(_CITATION.sub("", sentence)))
            if len(words) < 3:
                continue
            support = max(len(words & c) / len(words) for c in context)
            if support < self.min_support:
                spans.append(
                    ErrorSpan(
                        start=max(start, 0),
                        end=max(start, 0) + len(sentence),
                        reason=f"supported {support:.0%}",
                    )
                )
        if not spans:
            return PassResult()
        return FailResult(
            error_message=f"{len(spans)} sentence(s) not supported by the retrieved sources.",
            error_spans=spans,
            metadata={**metadata, "labels": ["ungrounded"]},
        )


VALIDATORS: dict[str, type[Validator]] = {
    "pii": DetectPii,
    "person_names": DetectPersonNames,
    "secrets": DetectSecrets,
    "prompt_injection": DetectPromptInjection,
    "toxicity": DetectToxicity,
    "system_prompt_leak": DetectSystemPromptLeak,
    "grounding": CheckGrounding,
}
