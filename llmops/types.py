"""Type aliases for values whose shape is only "what JSON can hold".

``JSONValue`` is exact about the leaves: what ``json.dumps`` can write. Its containers are
``Sequence`` and ``Mapping`` (read-only, so a ``list[str]`` or a ``dict[str, int]`` is one).
Use it for values we build and hand on (an audit entry's details, a field's value in a diff)
so mypy checks that they stay serialisable.

``JSONDict`` is a JSON object as read back from the store or a file and then read by key
(``config["model"]``, ``details.get("rate")``): its values are arbitrary JSON, so they are
``Any`` and a reader need not narrow the union at every step. Prefer a ``TypedDict`` or a
dataclass wherever the keys are known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = "JSONScalar | Sequence[JSONValue] | Mapping[str, JSONValue]"
JSONDict: TypeAlias = dict[str, Any]

__all__ = ["JSONDict", "JSONScalar", "JSONValue"]
