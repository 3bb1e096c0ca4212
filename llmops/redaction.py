"""Redaction of personal data and credentials before anything reaches the store.

The trace writer applies it to every input, output, attribute and guard excerpt (in its
own thread, never in the chat turn); feedback comments go through it too. On by default;
``LLMOPS_REDACT_PII=false`` turns it off.

What is found (``find``), each replaced by its placeholder:

- personal data with a format or checksum (``llmops.guards.pii``): ``<EMAIL>``, ``<PHONE>``,
  ``<CREDIT_CARD>``, ``<IBAN>``, ``<IP_ADDRESS>``, ``<US_SSN>``, ``<ES_DNI>``, ``<ES_NIE>``;
- credentials (``llmops.guards.secrets``): ``<SECRET>``;
- person names (``LLMOPS_REDACT_NAMES``): ``context`` (the default) finds names introduced as
  such in English and Spanish (``llmops.guards.person_context``); ``ner`` adds the English
  named-entity model on English text (``llmops.guards.names``, 2-5 ms a message); ``off``
  keeps names. ``<PERSON>``.

All detectors look at the original text; overlapping findings are merged into one span, so a
value two detectors see differently is never left half masked. The phrase lists and tables
the detectors use are data, in ``llmops/guards/redaction_rules.toml`` (``llmops.guards.rules.rules()``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger(__name__)

# when two findings overlap, the merged span takes the label that comes first here
_PRIORITY = (
    "SECRET", "CREDIT_CARD", "IBAN", "US_SSN", "ES_DNI", "ES_NIE", "IP_ADDRESS", "EMAIL", "PHONE",
    "PERSON",
)  # fmt: skip


@dataclass(frozen=True)
class Span:
    label: str  # the placeholder's name: EMAIL, SECRET, PERSON, ...
    start: int
    end: int


def find(text: str, names: str | None = None) -> list[Span]:
    """Every sensitive span of ``text``, merged where they overlap, in text order.

    ``names`` is the person-name mode (``context`` | ``ner`` | ``off``); by default the
    ``redact_names`` setting."""
    from llmops.guards import pii, secrets

    if not text:
        return []
    if names is None:
        from llmops.config import get_settings

        names = get_settings().redact_names
    found = [Span(e.label, e.start, e.end) for e in pii.scanner().find(text, overlapping=True)]
    found += [Span("SECRET", s.start, s.end) for s in secrets.find(text)]
    if names != "off":
        found += [Span("PERSON", a, b) for a, b in _person_spans(text, names)]
    return _merge(found)


def _person_spans(text: str, mode: str) -> list[tuple[int, int]]:
    from llmops.guards.person_context import find_person_names

    spans = [(n.start, n.end) for n in find_person_names(text)]
    if mode == "ner":
        from llmops.errors import LLMOpsError
        from llmops.guards.names import find_names, may_have_names

        if may_have_names(text):
            try:
                spans += [(n.start, n.end) for n in find_names(text)]
            except LLMOpsError as exc:  # model missing: context names still apply
                _warn_once(str(exc))
    return spans


@lru_cache(maxsize=1)
def _warn_once(message: str) -> None:
    log.warning("Person-name NER unavailable, using context rules only: %s", message)


def _rank(label: str) -> int:
    return _PRIORITY.index(label) if label in _PRIORITY else len(_PRIORITY)


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if s.end <= s.start:
            continue
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            label = min(last.label, s.label, key=_rank)
            merged[-1] = Span(label, last.start, max(last.end, s.end))
        else:
            merged.append(s)
    return merged


def redact(text: str) -> str:
    """``text`` with every sensitive span replaced by ``<LABEL>``."""
    from llmops.config import get_settings

    return _redact(text, get_settings().redact_names)


@lru_cache(maxsize=4096)  # the same prompt text appears in several spans of a turn
def _redact(text: str, names: str) -> str:
    out = text
    for s in reversed(find(text, names)):
        out = f"{out[: s.start]}<{s.label}>{out[s.end :]}"
    return out
