"""OpenTelemetry-compatible ids: 128-bit time-ordered trace ids, 64-bit span ids."""

from __future__ import annotations

import secrets
import time
import uuid

_SPAN_MASK = (1 << 64) - 1


def new_trace_id() -> str:
    """32 hex chars; the first 12 are milliseconds since the epoch, so ids sort by time."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.randbits(80):020x}"


def new_span_id() -> str:
    return f"{secrets.randbits(64) or 1:016x}"


def span_id_for_run(run_id: uuid.UUID) -> str:
    """A span id derived from a LangChain run id (both halves folded together).

    LangChain's run ids are UUIDv7: time in the high half, counter and random bits in the
    low half; folding keeps ids unique within a process and spread across the id space.
    """
    return span_id_for_int(run_id.int)


def span_id_for_int(value: int) -> str:
    return f"{((value >> 64) ^ value) & _SPAN_MASK or 1:016x}"
