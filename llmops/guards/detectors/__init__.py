"""Rule-based detectors for prompt injection and abuse, in English and Spanish.

Why rules: the official guardrails-ai validators for these need a hub model or a remote API,
and nothing may be fetched at run time. The rules describe attack and abuse *phenomena* —
instruction overrides, jailbreak personas, system-prompt extraction, fake role tags,
encoded payloads; insults aimed at a person, threats, slurs, dehumanisation of a group — not
particular sentences. Matching runs on a normalised copy of the text (case, accents,
leetspeak, zero-width characters, spaced-out letters, repeated letters) and on decoded
base64/hex payloads. Each detector takes well under a millisecond on a chat message.
"""

from __future__ import annotations

from llmops.guards.detectors.common import THRESHOLD, Finding, decoded_variants, normalize
from llmops.guards.detectors.injection import detect_injection, mentioned_only
from llmops.guards.detectors.toxicity import detect_toxicity

__all__ = [
    "THRESHOLD",
    "Finding",
    "decoded_variants",
    "detect_all",
    "detect_injection",
    "detect_toxicity",
    "mentioned_only",
    "normalize",
]


def detect_all(text: str) -> list[Finding]:
    return detect_injection(text) + detect_toxicity(text)
