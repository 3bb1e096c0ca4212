"""``llmops.guards.recognizers`` finds what Presidio's analyzer found, as we configured it
(the five pattern recognizers, the no-op NLP engine): same entity types, spans and scores on
the labelled guard cases, on generated personal data in EN/ES sentences and on edge cases each
recognizer validates or rejects. The reference is Presidio itself, so an upgrade of Presidio
that changes a pattern or a rule fails here."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.guards.pii import PHONE_REGIONS
from llmops.guards.recognizers import Analyzer
from tests.pii_strategies import CARRIERS, SAMPLES

ROOT = Path(__file__).resolve().parents[2]
# labelled cases whose misses may be looked at (guard_holdout4.jsonl is held out)
CASES = [
    ROOT / "llmops/guards/eval_sets/guard_cases_en.jsonl",
    ROOT / "llmops/guards/eval_sets/guard_cases_es.jsonl",
    ROOT / "tests/data/guard_holdout.jsonl",
    ROOT / "tests/data/guard_holdout2.jsonl",
    ROOT / "tests/data/guard_holdout3.jsonl",
    ROOT.parent / "shared/datasets/guard_public.jsonl",
]
EDGES = [
    "write to ana@example.com or ana@example.invalidtld, a@b.c, x@localhost, bob@sub.example.co.uk",
    "user.name+tag@xn--80ak6aa92e.com and josé@correo.es",
    "card 4111 1111 1111 1111, 4111-1111-1111-1112, 378282246310005, 5500 0000 0000 0004",
    "not a card: 1234 5678 9012 3456, 6011111111111117, 4111 1111-1111 1111",
    "hosts 10.0.0.1, 256.1.1.1, 192.168.1.0/24, ::1, ::, fe80::1%eth0, ::ffff:10.0.0.1",
    "2001:db8::ff00:42:8329 and 2001:0db8:85a3:0000:0000:8a2e:0370:7334/64 and 1:2:3:4:5:6:1.2.3.4",
    "ssn 123-45-6789, 078-05-1120, 666-12-3456, 123 45 6789, 123.45.6789, 123-45.6789",
    "ssn 219-09-9999, 536 22 1234, 536-22-1234, 536.22.1234 and 536221234",
    "ssn 111-11-1111, 123-00-4567, 123-45-0000, 123456788, 12345-6789, 123-456789",
    "call +34 612 345 678, (212) 555-0147, +44 20 7946 0958, 06 12 34 56 78, 555-0147",
    "+1-202-555-0173 / +49 30 901820 / +52 55 1234 5678 / +91 98765 43210",
    "no personal data here, just 42 apples and version 1.2.3",
]


@lru_cache(maxsize=1)
def _presidio() -> Any:
    """Presidio's analyzer exactly as ``llmops.guards.pii`` built it before."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        CreditCardRecognizer(supported_language="en"),
        EmailRecognizer(supported_language="en"),
        IpRecognizer(supported_language="en"),
        PhoneRecognizer(
            supported_language="en",
            supported_regions=PHONE_REGIONS,
            context=["phone", "mobile", "call", "teléfono", "móvil", "llama", "llámame"],
        ),
        UsSsnRecognizer(supported_language="en"),
    ):
        registry.add_recognizer(recognizer)
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    nlp.load()
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


@lru_cache(maxsize=1)
def _ours() -> Analyzer:
    return Analyzer(PHONE_REGIONS)


def _same(text: str) -> None:
    theirs = [(r.entity_type, r.start, r.end, r.score) for r in _presidio().analyze(text, "en")]
    ours = [(r.entity_type, r.start, r.end, r.score) for r in _ours().analyze(text, "en")]
    assert ours == theirs, text


def test_the_patterns_are_presidios() -> None:
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    ours = {r.entity: list(r.patterns) for r in _ours().recognizers if hasattr(r, "patterns")}
    for cls, entity in [
        (CreditCardRecognizer, "CREDIT_CARD"),
        (EmailRecognizer, "EMAIL_ADDRESS"),
        (IpRecognizer, "IP_ADDRESS"),
        (UsSsnRecognizer, "US_SSN"),
    ]:
        assert ours[entity] == [(p.regex, p.score) for p in cls.PATTERNS], entity
    assert PhoneRecognizer.SCORE == 0.4


@pytest.mark.parametrize("text", EDGES)
def test_edge_cases_match_presidio(text: str) -> None:
    _same(text)


def test_labelled_cases_match_presidio() -> None:
    texts = [
        json.loads(line)["text"]
        for path in CASES
        if path.exists()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(texts) > 300
    for text in texts:
        _same(text)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), carrier=st.sampled_from(CARRIERS))
def test_generated_values_match_presidio(kind: str, data: st.DataObject, carrier: str) -> None:
    sample = data.draw(SAMPLES[kind])
    _same(carrier.format(s=sample.snippet))
