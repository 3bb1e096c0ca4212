"""Turn LangChain objects into bounded, JSON-safe text and values for the store."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence

from llmops.types import JSONValue

MAX_TEXT = 16_000
_SURROGATE = re.compile("[\ud800-\udfff]")


def sanitize(text: str) -> str:
    """``text`` as every backend stores it: no NUL (PostgreSQL refuses it in text) and no
    lone surrogates (not encodable as UTF-8; Python makes them of invalid bytes in argv),
    each replaced by U+FFFD. The common case, ASCII without NUL, costs two C-level scans."""
    if text.isascii():
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def sanitize_json(doc: str) -> str:
    """A JSON document as every backend stores it: escaped NULs become U+FFFD as well."""
    doc = sanitize(doc)
    return doc.replace("\\u0000", "\\ufffd") if "\\u0000" in doc else doc


def fit(text: str | None, limit: int) -> str | None:
    """Sanitised and cut to a column's length."""
    if text is None:
        return None
    if len(text) <= limit and text.isascii() and "\x00" not in text:
        return text  # the common case, without a call
    text = sanitize(text)
    return text if len(text) <= limit else text[:limit]


def fit_id(text: str | None, limit: int) -> str | None:
    """An identifier (session, user) fitted to its column: an over-long one keeps a prefix
    and a digest of the whole, so two long ids that share a prefix stay apart."""
    if text is None:
        return None
    text = sanitize(text)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{text[: limit - 17]}~{digest}"


def _message_text(msg: object) -> str:
    content = getattr(msg, "content", "")
    if not isinstance(content, str):
        content = json.dumps(content, default=str, ensure_ascii=False)
    role = getattr(msg, "type", "message")
    return f"{role}: {content}"


def to_jsonable(obj: object, depth: int = 0) -> JSONValue:
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


def to_text(obj: object, limit: int = MAX_TEXT) -> str | None:
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
