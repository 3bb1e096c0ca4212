"""Credentials in text: API keys, tokens, private keys, and "my password is …" statements.

Why our own and not ``guardrails-ai-secrets-present``: measured here, that package (built on
detect-secrets, which scans a temporary file per call) missed OpenAI ``sk-`` keys and every
Spanish statement ("mi contraseña es …"), and masked only the prefix of GitHub tokens,
leaving the secret itself visible. These patterns cover the formats people paste into chats
and replace the whole secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "PRIVATE_KEY",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
        ),
    ),
    ("OPENAI_KEY", re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{20,}")),
    ("AWS_ACCESS_KEY", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GITHUB_TOKEN", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("SLACK_TOKEN", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("GOOGLE_API_KEY", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("STRIPE_KEY", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("BEARER_TOKEN", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{20,})")),
    (
        "CONNECTION_STRING",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]{3,})@[^\s/]+", re.I),
    ),
    (
        "PASSWORD",
        re.compile(
            r"(?i)\b(?:password|passwd|pwd|passcode|pin|contraseña|contrasena|clave|"
            r"api[_ -]?key|secret|token|secreto)\b"
            r"(?:\s+(?:is|es|was|era|=|:)|\s*[:=])\s*[\"'`]?([^\s\"'`,;]{4,})"
        ),
    ),
]


@dataclass(frozen=True)
class Secret:
    kind: str
    start: int
    end: int


def find(text: str) -> list[Secret]:
    found: list[Secret] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            # when the pattern captures the value, only the value is the secret
            start, end = (m.start(1), m.end(1)) if m.groups() and m.group(1) else m.span()
            if all(end <= s.start or start >= s.end for s in found):
                found.append(Secret(kind, start, end))
    return sorted(found, key=lambda s: s.start)


def redact(text: str) -> str:
    for s in reversed(find(text)):
        text = f"{text[: s.start]}<SECRET>{text[s.end :]}"
    return text
