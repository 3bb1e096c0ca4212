"""Canary assignment: a stable hash of the session id against the canary's weight.

A session's bucket is a number in [0, 1) fixed by its id (the first 8 bytes of its sha256);
it is on the canary when its bucket is below the weight. So one conversation never switches
release while the weight holds, and changing the weight moves only the sessions it must:
raising 10 % → 20 % keeps the first 10 % where they are and adds the next 10 %; lowering it
sends back only the sessions above the new weight.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def bucket(session_id: str) -> float:
    """The session's fixed position in [0, 1)."""
    digest = hashlib.sha256(session_id.encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_canary(session_id: str, weight: float) -> bool:
    return weight > 0 and bucket(session_id) < weight
