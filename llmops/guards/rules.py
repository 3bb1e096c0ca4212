"""The rule tables as data: the redaction tables (``redaction_rules.toml``), the keyword
tables of the injection and toxicity detectors (``data/lexicon.toml``, typed as ``Lexicon``),
and the phrase-regex builder the detectors share (``llmops.guards.pii``, ``secrets``,
``person_context``)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

RULES_FILE = "redaction_rules.toml"
LEXICON_FILE = "data/lexicon.toml"


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """The redaction rule tables (``llmops/guards/redaction_rules.toml``), read once."""
    text = resources.files("llmops.guards").joinpath(RULES_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class Lexicon:
    """The detectors' keyword tables; each regex table is its alternatives joined by "|"."""

    toxicity: dict[str, str]  # insults_en, insults_es, slurs, groups, negative, violent_en/es
    injection: dict[str, str]  # override_verbs, instruction_nouns, self_nouns
    maskable: tuple[str, ...]
    not_typos: frozenset[str]
    leet: dict[int, str]
    leet_l: dict[int, str]
    homoglyphs: dict[int, int]


def _alternations(table: dict[str, object], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_alternations(value, f"{name}_"))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[name] = "|".join(value)
        else:
            raise ValueError(f"{LEXICON_FILE}: {name} must be a list of strings")
    return out


def parse_lexicon(data: dict[str, object]) -> Lexicon:
    norm = data["normalisation"]
    tox, inj = data["toxicity"], data["injection"]
    if not (isinstance(norm, dict) and isinstance(tox, dict) and isinstance(inj, dict)):
        raise ValueError(f"{LEXICON_FILE}: toxicity, injection, normalisation are tables")
    return Lexicon(
        toxicity=_alternations(tox),
        injection={k: f"(?:{v})" for k, v in _alternations(inj).items()},
        maskable=tuple(norm["maskable"]),
        not_typos=frozenset(norm["not_typos"]),
        leet=str.maketrans(norm["leet"]),
        leet_l=str.maketrans(norm["leet_l"]),
        homoglyphs=str.maketrans(norm["homoglyphs_from"], norm["homoglyphs_to"]),
    )


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The detectors' keyword tables (``llmops/guards/data/lexicon.toml``), read once."""
    text = resources.files("llmops.guards").joinpath(LEXICON_FILE).read_text(encoding="utf-8")
    return parse_lexicon(tomllib.loads(text))


def phrase_pattern(phrases: Iterable[str]) -> str:
    """A regex matching any of ``phrases`` (lowercased; a space matches any run of
    whitespace), longest first, for the lowercased text.

    The alternation is built as a trie ("d(?:r|on|ña)" rather than "dr|don|doña"): at each
    position the regex engine then tries one branch per distinct next letter instead of
    every phrase, which made the person-name cue search ~3x faster over the knowledge base."""
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for ch in " ".join(phrase.lower().split()):
            node = node.setdefault(ch, {})
        node[""] = {}  # a phrase ends here
    return _trie_pattern(trie)


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [
        (r"\s+" if ch == " " else re.escape(ch)) + _trie_pattern(child)
        for ch, child in sorted(node.items())
        if ch
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" not in node:
        return body
    return f"(?:{body})?" if len(branches) == 1 else f"{body}?"  # longer phrases first
