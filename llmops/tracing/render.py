"""Turn LangChain objects into bounded, JSON-safe text and values for the store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

MAX_TEXT = 16_000


def _message_text(msg: Any) -> str:
    content = getattr(msg, "content", "")
    if not isinstance(content, str):
        content = json.dumps(content, default=str, ensure_ascii=False)
    role = getattr(msg, "type", "message")
    return f"{role}: {content}"


def to_jsonable(obj: Any, depth: int = 0) -> Any:
    """A JSON-safe view of ``obj`` (messages, documents, pydantic models, containers)."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if depth > 6:
        return repr(obj)[:200]
    if hasattr(obj, "page_content") and hasattr(obj, "metadata"):
        return {"page_content": obj.page_content, "metadata": to_jsonable(obj.metadata, depth + 1)}
    if hasattr(obj, "content") and hasattr(obj, "type"):
        return _message_text(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, bytes | bytearray):
        return [to_jsonable(v, depth + 1) for v in obj]
    if hasattr(obj, "model_dump"):
        try:
            return to_jsonable(obj.model_dump(), depth + 1)
        except Exception:  # noqa: BLE001 - rendering must never fail
            return repr(obj)[:500]
    if hasattr(obj, "to_string"):
        try:
            return str(obj.to_string())
        except Exception:  # noqa: BLE001 - rendering must never fail
            return repr(obj)[:500]
    return repr(obj)[:500]


def to_text(obj: Any, limit: int = MAX_TEXT) -> str | None:
    """Readable text for an input or output, truncated to ``limit`` characters."""
    if obj is None:
        return None
    if isinstance(obj, str):
        text = obj
    else:
        value = to_jsonable(obj)
        if isinstance(value, str):
            text = value
        elif isinstance(value, Mapping) and len(value) == 1:
            (only,) = value.values()
            text = only if isinstance(only, str) else json.dumps(only, ensure_ascii=False)
        else:
            text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > limit:
        return text[:limit] + f"… [truncated, {len(text)} chars]"
    return text
