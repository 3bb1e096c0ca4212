"""Two releases side by side, field by field; the system prompts as a text diff."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass

from llmops.releases.core import ReleaseConfig
from llmops.types import JSONDict, JSONValue


@dataclass
class FieldChange:
    path: str  # dotted: model.name, retrieval.k, system_prompt
    a: JSONValue
    b: JSONValue

    def as_dict(self) -> JSONDict:
        return asdict(self)


def flatten(data: JSONDict, prefix: str = "") -> JSONDict:
    out: JSONDict = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def changes(a: ReleaseConfig, b: ReleaseConfig) -> list[FieldChange]:
    """Every field whose value differs, in a stable order (prompt first)."""
    fa, fb = flatten(a.model_dump(mode="json")), flatten(b.model_dump(mode="json"))
    keys = sorted(set(fa) | set(fb), key=lambda k: (k != "system_prompt", k))
    return [FieldChange(k, fa.get(k), fb.get(k)) for k in keys if fa.get(k) != fb.get(k)]


def prompt_diff(a: str, b: str, *, names: tuple[str, str] = ("a", "b")) -> str:
    """A unified diff of two system prompts ("" when they are the same)."""
    return "".join(
        difflib.unified_diff(
            a.splitlines(keepends=True),
            b.splitlines(keepends=True),
            fromfile=names[0],
            tofile=names[1],
            lineterm="\n",
        )
    )
