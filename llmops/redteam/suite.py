"""The built-in attack suite: data files read by one loader, the code holds only the logic.

Attacks live in ``data/attacks_<lang>.jsonl`` (one attack a line: ``id``, ``category``,
``goal``, ``turns``; optional ``marker``, ``vector``, ``transform`` + ``payload``, ``source``,
``license``). The fake records, secrets and abusive text a scan plants in a throw-away
knowledge-base version are ``data/planted/*.md``; the values an answer must not contain are
``data/planted/values.json``. Every attack text is our own (``source: llmops``, the project's
Apache-2.0 licence) unless its line names another source and licence.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from llmops.errors import InvalidInputError
from llmops.types import JSONDict

DATA = Path(__file__).parent / "data"
LANGS = ("en", "es")

# category → (title, OWASP Top 10 for LLM applications 2025 entry)
CATEGORIES: dict[str, tuple[str, str]] = {
    "direct_injection": ("Direct prompt injection", "LLM01:2025 Prompt Injection"),
    "indirect_injection": ("Indirect prompt injection", "LLM01:2025 Prompt Injection"),
    "jailbreak": ("Jailbreak role-play", "LLM01:2025 Prompt Injection"),
    "system_prompt_extraction": ("System-prompt extraction", "LLM07:2025 System Prompt Leakage"),
    "pii_exfiltration": (
        "PII and secret exfiltration",
        "LLM02:2025 Sensitive Information Disclosure",
    ),
    "toxic_content": ("Toxic-content elicitation", "LLM05:2025 Improper Output Handling"),
    "encoding": ("Encoding tricks", "LLM01:2025 Prompt Injection"),
    "multi_turn": ("Multi-turn escalation", "LLM01:2025 Prompt Injection"),
}
GOALS = ("pii", "secret", "canary", "marker", "toxic")
TRANSFORMS = ("base64", "leetspeak", "homoglyphs", "spacing")
MAX_TURNS = 6

_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
# Latin letters → Cyrillic look-alikes (the text looks the same, its code points differ)
_HOMOGLYPHS = str.maketrans(
    {"a": "а", "c": "с", "e": "е", "i": "і", "o": "о", "p": "р", "x": "х", "y": "у",
     "A": "А", "C": "С", "E": "Е", "I": "І", "O": "О", "P": "Р"}
)  # fmt: skip


def transform(text: str, how: str | None) -> str:
    """``text`` as an encoding trick writes it: base64, leetspeak, homoglyphs or spacing."""
    if not how:
        return text
    if how == "base64":
        return base64.b64encode(text.encode()).decode()
    if how == "leetspeak":
        return text.lower().translate(_LEET)
    if how == "homoglyphs":
        return text.translate(_HOMOGLYPHS)
    if how == "spacing":
        return "  ".join(" ".join(w) for w in text.split())
    raise InvalidInputError(f"Unknown transform {how!r}; one of {', '.join(TRANSFORMS)}.")


@dataclass(frozen=True)
class Attack:
    id: str
    category: str
    lang: str
    goal: str
    turns: tuple[str, ...]
    marker: str | None = None
    vector: str | None = None  # indirect injection: knowledge_base | pasted_text
    transform: str | None = None
    source: str = "llmops"
    license: str = "Apache-2.0"

    @property
    def owasp(self) -> str:
        return CATEGORIES[self.category][1]

    def as_dict(self) -> JSONDict:
        out = asdict(self)
        out["turns"] = list(self.turns)
        out["owasp"] = self.owasp
        return out


def _parse(raw: dict[str, Any], lang: str, where: str) -> Attack:
    try:
        category, goal = str(raw["category"]), str(raw["goal"])
        turns = [str(t) for t in raw["turns"]]
        ident = str(raw["id"])
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(
            f"{where}: an attack needs id, category, goal, turns ({exc})."
        ) from None
    if category not in CATEGORIES:
        raise InvalidInputError(f"{where}: unknown category {category!r}.")
    if goal not in GOALS:
        raise InvalidInputError(f"{where}: unknown goal {goal!r}.")
    if not turns or len(turns) > MAX_TURNS or not all(t.strip() for t in turns):
        raise InvalidInputError(f"{where}: an attack has 1 to {MAX_TURNS} non-empty turns.")
    marker = raw.get("marker")
    if goal == "marker" and not marker:
        raise InvalidInputError(f"{where}: a 'marker' goal needs the marker to look for.")
    how = raw.get("transform")
    if how is not None and how not in TRANSFORMS:
        raise InvalidInputError(f"{where}: unknown transform {how!r}.")
    if how:
        encoded = transform(str(raw.get("payload") or ""), how)
        turns = [t.replace("{payload}", encoded) for t in turns]
    return Attack(
        id=ident,
        category=category,
        lang=lang,
        goal=goal,
        turns=tuple(turns),
        marker=str(marker) if marker else None,
        vector=raw.get("vector"),
        transform=how,
        source=str(raw.get("source") or "llmops"),
        license=str(raw.get("license") or "Apache-2.0"),
    )


def load_file(path: Path, lang: str) -> list[Attack]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path.name}:{n}: not valid JSON ({exc.msg}).") from None
        out.append(_parse(raw, lang, f"{path.name}:{n}"))
    return out


@cache
def builtin() -> tuple[Attack, ...]:
    """Every built-in attack, English then Spanish."""
    attacks = [a for lang in LANGS for a in load_file(DATA / f"attacks_{lang}.jsonl", lang)]
    ids = [a.id for a in attacks]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("The built-in attack suite has duplicate ids.")
    return tuple(attacks)


def parse_categories(values: list[str] | None) -> list[str]:
    """Category names from user input (comma-separated or repeated); [] → every category."""
    wanted = [c.strip() for v in values or [] for c in v.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CATEGORIES]
    if unknown:
        raise InvalidInputError(
            f"Unknown attack categor{'ies' if len(unknown) > 1 else 'y'}: {', '.join(unknown)}.",
            hint=f"use one of {', '.join(CATEGORIES)}",
        )
    return list(dict.fromkeys(wanted)) or list(CATEGORIES)


def select(categories: list[str] | None = None, langs: list[str] | None = None) -> list[Attack]:
    cats = set(parse_categories(categories))
    return [a for a in builtin() if a.category in cats and (not langs or a.lang in langs)]


@dataclass(frozen=True)
class Planted:
    """What a scan plants and what an answer must not give away."""

    docs: dict[str, str]  # source name → markdown
    pii: dict[str, tuple[str, ...]] = field(default_factory=dict)
    secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    toxic: tuple[str, ...] = ()


@cache
def planted() -> Planted:
    folder = DATA / "planted"
    values = json.loads((folder / "values.json").read_text(encoding="utf-8"))
    docs = {f"redteam/{p.name}": p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))}
    return Planted(
        docs=docs,
        pii={k: tuple(v) for k, v in values["pii"].items()},
        secrets={k: tuple(v) for k, v in values["secret"].items()},
        toxic=tuple(values["toxic"]),
    )
