"""Redaction of personal data and credentials before anything reaches the store.

The trace writer applies it to every input, output, attribute and guard excerpt (in its
own thread, never in the chat turn); feedback comments go through it too. On by default;
``LLMOPS_REDACT_PII=false`` turns it off.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)  # the same prompt text appears in several spans of a turn
def redact(text: str) -> str:
    from llmops.guards import pii, secrets

    return secrets.redact(pii.redact(text))
