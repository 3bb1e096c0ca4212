"""Presidio's e-mail, phone, credit-card, IP and US SSN recognizers, without its package.

``import presidio_analyzer`` runs the package ``__init__``, which imports spaCy (for its NLP
engine, even the no-op one) and compiles every predefined recognizer of every country: ~0.8 s
of CPU before a text is looked at, most of a ``llmops guard check``'s start-up beyond
guardrails. We only ever ran five pattern recognizers with the no-op NLP engine, so this module
runs the same five the same way: Presidio's patterns, scores, validation and invalidation
(``presidio-analyzer`` 2.2.366, MIT), matched with the ``regex`` module and the flags Presidio
uses, and the analyzer's merge of their results (``EntityRecognizer.remove_duplicates``).
With no NLP artifacts Presidio's context enhancement never changes a score, so there is none
here. ``tests/guards/test_recognizers.py`` checks that the results equal Presidio's own
``AnalyzerEngine`` on the labelled guard cases and generated values, so an upgrade of Presidio
that changes a pattern shows up there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

import regex

_FLAGS = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE  # PatternRecognizer's defaults
_TIMEOUT = 60  # seconds a pattern may run (Presidio's REGEX_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class Result:
    """One match: what ``AnalyzerEngine.analyze`` returns (``RecognizerResult``'s fields)."""

    entity_type: str
    start: int
    end: int
    score: float


def _email_domain_ok(value: str) -> bool:
    import tldextract

    return tldextract.extract(value).fqdn != ""


def _luhn(value: str) -> bool:
    digits = [int(c) for c in value.replace("-", "").replace(" ", "")]
    total = sum(digits[-1::-2])
    for d in digits[-2::-2]:
        total += sum(int(c) for c in str(d * 2))
    return total % 10 == 0


def _not_ip(value: str) -> bool:
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return True
    return False


def _not_ssn(value: str) -> bool:
    if len({c for c in value if c in ".- "}) > 1:  # mismatched delimiters
        return True
    digits = "".join(c for c in value if c.isdigit())
    return (
        all(c == digits[0] for c in digits)
        or digits[3:5] == "00"
        or digits[5:] == "0000"
        or digits[:3] in ("000", "666")
        or digits in ("123456789", "987654320", "078051120")
    )


@dataclass
class _PatternRecognizer:
    """Presidio's ``PatternRecognizer.analyze``: every pattern's matches, scored, validated
    (True: score 1.0; False: 0), invalidated (score 0), zero scores dropped, deduplicated."""

    entity: str
    patterns: Sequence[tuple[str, float]]
    validate: Callable[[str], bool] | None = None
    invalidate: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        self._compiled = [(regex.compile(p, flags=_FLAGS), s) for p, s in self.patterns]

    def analyze(self, text: str) -> list[Result]:
        results = []
        for pattern, score in self._compiled:
            try:
                matches = list(pattern.finditer(text, timeout=_TIMEOUT))
            except TimeoutError:
                continue  # Presidio logs and skips a pattern that timed out
            for m in matches:
                start, end = m.span()
                if start == end:
                    continue
                value = text[start:end]
                s = score
                if self.validate is not None:
                    s = 1.0 if self.validate(value) else 0.0
                if self.invalidate is not None and self.invalidate(value):
                    s = 0.0
                if s > 0:
                    results.append(Result(self.entity, start, end, s))
        return remove_duplicates(results)


@dataclass
class _PhoneRecognizer:
    """Presidio's ``PhoneRecognizer``: libphonenumber's matcher for each region, score 0.4."""

    regions: Sequence[str]
    leniency: int = 1
    entity: str = "PHONE_NUMBER"

    def analyze(self, text: str) -> list[Result]:
        import phonenumbers

        return remove_duplicates(
            [
                Result("PHONE_NUMBER", m.start, m.end, 0.4)
                for region in self.regions
                for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=self.leniency)
            ]
        )


def remove_duplicates(results: Iterable[Result]) -> list[Result]:
    """Presidio's ``EntityRecognizer.remove_duplicates``: drop repeats, zero scores and any
    result another of the same type contains with an equal or higher score."""
    ordered = sorted(
        set(results), key=lambda r: (r.entity_type, r.start, r.start - r.end, -r.score)
    )
    kept: list[Result] = []
    for _, group in groupby(ordered, key=lambda r: r.entity_type):
        active: list[Result] = []
        for r in group:
            if r.score == 0:
                continue
            active = [k for k in active if k.end >= r.start]
            if not any(
                r.start >= k.start and r.end <= k.end and r.score <= k.score for k in active
            ):
                kept.append(r)
                active.append(r)
    return sorted(kept, key=lambda r: (-r.score, r.start, r.start - r.end))


_EMAIL = (
    r"\b((([!#$%&'*+\-/=?^_`{|}~\w])|([!#$%&'*+\-/=?^_`{|}~\w][!#$%&'*+\-/=?^_`{|}~\.\w]{0,}"
    r"[!#$%&'*+\-/=?^_`{|}~\w]))[@]\w+(?:-+\w+)*(?:\.\w+(?:-+\w+)*)+)\b"
)
_CARD = (
    r"\b(?!1\d{12}(?!\d))((4\d{3})|(5[0-5]\d{2})|(6\d{3})|(1\d{3})|(3\d{3}))[- ]?(\d{3,4})"
    r"[- ]?(\d{3,4})[- ]?(\d{3,5})\b"
)
_IP = (  # IPv4-mapped, IPv4-embedded, IPv4, IPv6, IPv6 unspecified
    (
        r"(?<![\w:])::(?:ffff(?::0{1,4})?:)?(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?\b",
        0.6,
    ),
    (
        r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){1,5}:(?:[0-9A-Fa-f]{1,4}:){0,4}|(?:[0-9A-Fa-f]{1,4}:){6})(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?\b",
        0.6,
    ),
    (
        r"\b(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)(?:/(?:[0-2]?\d|3[0-2]))?\b",
        0.6,
    ),
    (
        r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|:(?::[0-9A-Fa-f]{1,4}){1,7}|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?::[0-9A-Fa-f]{1,4}){1,6})(?:%[0-9a-zA-Z]+)?(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?(?![\w:]|\.\d)",
        0.6,
    ),
    (r"(?<![\w:])::(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?(?![\w:])", 0.1),
)
_SSN = (
    (r"\b([0-9]{5})-([0-9]{4})\b", 0.05),
    (r"\b([0-9]{3})-([0-9]{6})\b", 0.05),
    (r"\b(([0-9]{3})-([0-9]{2})-([0-9]{4}))\b", 0.05),
    (r"\b[0-9]{9}\b", 0.05),
    (r"\b([0-9]{3})[- .]([0-9]{2})[- .]([0-9]{4})\b", 0.5),
)


class Analyzer:
    """The five recognizers in the order Presidio's registry held them (the phone one only
    with ``phone_regions``: ``llmops.guards.pii`` finds phones its own, cheaper way);
    ``analyze`` has ``AnalyzerEngine.analyze``'s signature for what we used of it."""

    def __init__(self, phone_regions: Sequence[str]) -> None:
        phones = [_PhoneRecognizer(tuple(phone_regions))] if phone_regions else []
        self.recognizers: list[_PatternRecognizer | _PhoneRecognizer] = [
            _PatternRecognizer("CREDIT_CARD", [(_CARD, 0.3)], validate=_luhn),
            _PatternRecognizer("EMAIL_ADDRESS", [(_EMAIL, 0.5)], validate=_email_domain_ok),
            _PatternRecognizer("IP_ADDRESS", _IP, invalidate=_not_ip),
            *phones,
            _PatternRecognizer("US_SSN", _SSN, invalidate=_not_ssn),
        ]

    def analyze(self, text: str, language: str = "en") -> list[Result]:
        found: list[Result] = []
        for recognizer in self.recognizers:
            found += recognizer.analyze(text)
        return remove_duplicates(found)
