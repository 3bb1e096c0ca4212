"""PII detection and redaction with Presidio's pattern recognizers, no NLP model.

Presidio's ``NoOpNlpEngine`` runs its checksum-validated pattern recognizers without loading a
spaCy model (which would have to come from a hub): e-mail, phone numbers (Spanish, US, UK and
other European and Latin American formats), credit cards (Luhn), IBAN (mod-97), IP addresses,
US SSN, Spanish DNI/NIF and NIE (check letter). Everything is analysed as "en" because the
recognizers are language-independent patterns; Spanish context words are added to the ones
that use context. Person names need a statistical model and are not detected here.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Presidio entity → our label (also the placeholder: <EMAIL>, <PHONE>, ...)
LABELS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "ES_NIF": "ES_DNI",
    "ES_NIE": "ES_NIE",
}
# the label names of ../shared/datasets (pii:<name>)
DATASET_LABELS = {
    "EMAIL": "pii:email",
    "PHONE": "pii:phone",
    "CREDIT_CARD": "pii:credit_card",
    "IBAN": "pii:iban",
    "IP_ADDRESS": "pii:ip_address",
    "US_SSN": "pii:us_ssn",
    "ES_DNI": "pii:es_dni",
    "ES_NIE": "pii:es_nie",
}
MIN_SCORE = {"PHONE": 0.4, "US_SSN": 0.3, "IP_ADDRESS": 0.5}
PHONE_REGIONS = ("ES", "US", "GB", "DE", "FR", "IT", "PT", "MX", "AR", "CO", "CL", "PE", "IN")
_QUICK = re.compile(r"[@\d]")  # every supported entity contains a digit or an @
# Where an entity could be: an @, six or more digits in a run (separators allowed), an
# IPv4/IPv6-looking group. Presidio (its phone matcher above all) costs ~1.5 ms per 1,000
# characters, so long texts are analysed only in windows around these candidates; a text
# without any (most knowledge-base passages) is not analysed at all.
# A digit run inside a longer word (a hex hash, an id) is not one: at most one letter may
# lead or trail it (Spanish NIE X1234567L, DNI 12345678Z).
_CANDIDATE = re.compile(
    r"@|(?<![\w.,])[A-Za-z]?\+?\(?\d(?:[ .\-()/]{0,2}\d){5,}(?![A-Za-z]{2}|\d)|"
    r"\b[A-Z]{2}\d{2}[A-Z0-9 ]{10,}|\b(?:\d{1,3}\.){3}\d{1,3}\b|"
    r"\b[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7}\b"
)
_DECIMAL = re.compile(r"[A-Za-z]?\d{1,4}[.,]\d{4,}")  # 0.7342156: a score, not an identifier
_WINDOW = 80  # characters of context kept on each side of a candidate
_WHOLE = 600  # texts up to this long are analysed whole
# A number that follows a phone cue ("call me at", "Phone:", "llámame al") is a phone number
# even when libphonenumber cannot place it in a region (short or oddly grouped numbers).
_PHONE_CUE = re.compile(
    r"(?i)\b(?:phone|tel(?:ephone)?|mobile|cell(?:phone)?|call(?:ing)?(?: me)?(?: on| at)?|"
    r"text(?: me)?(?: on| at)|reach me(?: on| at)?|answering(?: at| on)?|whatsapp|fax|"
    r"tel[eé]fono|tlf|tfno|m[oó]vil|celular|ll[aá]ma(?:me|nos)?(?: al)?|ll[aá]meme(?: al)?|"
    r"contacto|whats)\b[^\d\n]{0,12}?(\+?\(?\d[\d ().\-]{4,18}\d)"
)


@dataclass(frozen=True)
class Entity:
    label: str
    start: int
    end: int
    score: float


class PiiScanner:
    """Thread-safe, lazily built Presidio analyzer."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            EsNieRecognizer,
            EsNifRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UsSsnRecognizer,
        )

        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in (
            CreditCardRecognizer(supported_language="en"),
            EmailRecognizer(supported_language="en"),
            IbanRecognizer(supported_language="en"),
            IpRecognizer(supported_language="en"),
            PhoneRecognizer(
                supported_language="en",
                supported_regions=PHONE_REGIONS,
                context=["phone", "mobile", "call", "teléfono", "móvil", "llama", "llámame"],
            ),
            UsSsnRecognizer(supported_language="en"),
            EsNifRecognizer(supported_language="en"),
            EsNieRecognizer(supported_language="en"),
        ):
            registry.add_recognizer(recognizer)
        nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        nlp.load()
        return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])

    @property
    def engine(self) -> Any:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._build()
        return self._engine

    def find(self, text: str) -> list[Entity]:
        if not text or not _QUICK.search(text):
            return []
        found = []
        for start, end in _windows(text):
            for r in self.engine.analyze(text=text[start:end], language="en"):
                label = LABELS.get(r.entity_type)
                if label is None or r.score < MIN_SCORE.get(label, 0.5):
                    continue
                found.append(Entity(label, start + r.start, start + r.end, float(r.score)))
        for m in _PHONE_CUE.finditer(text):
            digits = sum(c.isdigit() for c in m.group(1))
            if 6 <= digits <= 15:
                found.append(Entity("PHONE", m.start(1), m.end(1), 0.45))
        return _dedupe(found)

    def redact(self, text: str) -> str:
        entities = self.find(text)
        for e in sorted(entities, key=lambda e: e.start, reverse=True):
            text = f"{text[: e.start]}<{e.label}>{text[e.end :]}"
        return text


def _windows(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` worth analysing: all of a short text, else merged windows around
    every candidate (nothing when there is no candidate)."""
    spans = [
        (max(0, m.start() - _WINDOW), m.end() + _WINDOW)
        for m in _CANDIDATE.finditer(text)
        if not _DECIMAL.fullmatch(m.group())
    ]
    if not spans:
        return []
    if len(text) <= _WHOLE:
        return [(0, len(text))]
    merged = [spans[0]]
    for a, b in spans[1:]:
        if a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return [(a, min(b, len(text))) for a, b in merged]


def _dedupe(entities: list[Entity]) -> list[Entity]:
    """Drop overlapping matches, keeping the higher-scoring (then longer) one."""
    kept: list[Entity] = []
    for e in sorted(entities, key=lambda e: (-e.score, -(e.end - e.start), e.start)):
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e.start)


@lru_cache(maxsize=1)
def scanner() -> PiiScanner:
    return PiiScanner()


def redact(text: str) -> str:
    """``text`` with every detected PII entity replaced by ``<LABEL>``."""
    return scanner().redact(text)
