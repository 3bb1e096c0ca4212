"""What the rule-based detectors share: findings, normalisation of obfuscated text, decoding
of hidden payloads, and the helpers their rule tables are built with."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from llmops.guards.rules import lexicon

THRESHOLD = 1.0


@dataclass(frozen=True)
class Finding:
    detector: str
    label: str
    score: float
    start: int
    end: int
    reason: str


# -- normalisation ---------------------------------------------------------------------------
_INVISIBLE = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
_LEX = lexicon()  # the keyword and character tables: llmops/guards/data/lexicon.toml
_LEET = _LEX.leet
_LEET_L = _LEX.leet_l
# Cyrillic and Greek letters that look Latin ("Іgnоrа" spelled with Cyrillic і, о, а)
_HOMOGLYPHS = _LEX.homoglyphs
_MIXED_SCRIPT = re.compile(r"\w*[a-zA-Z]\w*")
_SPACED = re.compile(r"(?<![^\W_])(?:[a-zñ0-9@$!|] ){2,}[a-zñ0-9@$!|](?![^\W_])")
_DOTTED = re.compile(r"(?<![^\W_])(?:[a-zñ0-9@$!|][.\-_*])+[a-zñ0-9@$!|](?![^\W_])")
_REPEAT = re.compile(r"([a-z])\1{2,}")
_MASKED = re.compile(r"(?<=[a-z])[*#%]{1,3}(?=[a-z])")
_MASKED_WORD = re.compile(r"\b[a-z]+(?:[*#%]+[a-z]*)+")
# words people mask with symbols ("m*erda", "f**k"); each symbol stands for one letter
_MASKABLE = _LEX.maskable


def _unmask(word: str) -> str:
    pattern = re.compile(re.sub(r"[*#%]", "[a-z]", word) + r"\Z")
    for candidate in _MASKABLE:
        if pattern.match(candidate):
            return candidate
    return _MASKED.sub("", word)


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    if not text.isascii():
        text = _MIXED_SCRIPT.sub(lambda m: m.group(0).translate(_HOMOGLYPHS), text)
    text = text.casefold()
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=2048)
def normalize(text: str, one_is_l: bool = False) -> str:
    """Lower-case, accent-free, de-obfuscated text for matching (offsets are not kept).

    Leetspeak "1" reads as "i" ("1gn0r3"), or with ``one_is_l`` as "l" ("ru13s").
    """
    folded = fold(text)
    # spaced-out letters ("i g n 0 r e") first, so their leetspeak is seen as one word
    folded = _DOTTED.sub(lambda m: re.sub(r"[.\-_*]", "", m.group(0)), folded)
    folded = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), folded)
    # leetspeak only inside words that also contain letters ("1gn0r3" → "ignore", not "2024")
    folded = re.sub(
        r"\b(?=\w*[a-z])[\w@$!|€]+\b",
        lambda m: (
            m.group(0).translate(_LEET_L).translate(_LEET)
            if one_is_l
            else m.group(0).translate(_LEET)
        ),
        folded,
    )
    folded = _MASKED_WORD.sub(lambda m: _unmask(m.group(0)), folded)
    folded = re.sub(r"\s{2,}", " ", folded)
    return _REPEAT.sub(r"\1\1", folded)


_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4}){5,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){12,}\b")


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    visible = sum(c.isprintable() or c.isspace() for c in text)
    return text if text and visible / len(text) > 0.9 and re.search(r"[a-zA-Z]{3}", text) else None


def decoded_variants(text: str) -> list[str]:
    """Payloads hidden in the text: base64, hex and rot13 decodings that read as text."""
    out: list[str] = []
    for m in _B64.finditer(text):
        try:
            decoded = _printable(base64.b64decode(m.group(0), validate=True))
        except (binascii.Error, ValueError):
            decoded = None
        if decoded:
            out.append(decoded)
    for m in _HEX.finditer(text):
        decoded = _printable(bytes.fromhex(m.group(0)))
        if decoded:
            out.append(decoded)
    if re.search(r"\brot[- ]?13\b", text, re.I):
        out.append(codecs.decode(text, "rot13"))
    return out


# -- building and scoring rules --------------------------------------------------------------
def rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I | re.S)


# real words one typo away from an attack word: a statement, not a typo ("we forgot to ...")
_NOT_TYPOS = _LEX.not_typos


def typos(*words: str) -> str:
    """Alternation of ``words`` and their one-typo variants (a deleted, swapped or wrong
    letter), for the few words that attacks and abuse hinge on ("igmre", "ingore", "matra")."""
    out: set[str] = set()
    for w in words:
        out.add(re.escape(w))
        if len(w) < 5:
            continue
        for i in range(len(w)):
            out.add(re.escape(w[:i] + w[i + 1 :]))  # a deleted letter
            if i < len(w) - 1:
                out.add(re.escape(w[:i] + w[i + 1] + w[i] + w[i + 2 :]))  # swapped letters
            if 0 < i < len(w) - 1:
                out.add(re.escape(w[:i]) + "[a-z]" + re.escape(w[i + 1 :]))  # a wrong letter
    out -= {re.escape(w) for w in _NOT_TYPOS if w not in words}
    # a wrong-letter variant "forg[a-z]t" also matches "forgot": exclude the real words
    guard = "|".join(sorted(_NOT_TYPOS - set(words)))
    alternation = "|".join(sorted(out, key=len, reverse=True))
    return f"(?!(?:{guard})\\b)(?:{alternation})" if guard else alternation


QUOTATION = re.compile(
    r"'[^']{3,300}'|\"[^\"]{3,300}\"|“[^”]{3,300}”|«[^»]{3,300}»|‘[^’]{3,300}’|"
    r"(?<!`)`[^`\n]{3,300}`(?!`)"
)
QUOTED = re.compile(r"[\"“”«»'‘’`]")


def score_rules(
    rules: list[tuple[str, float, re.Pattern[str]]], text: str
) -> tuple[float, list[str]]:
    """Sum of the strongest matching weight of each kind of evidence."""
    best: dict[str, float] = {}
    for reason, weight, pattern in rules:
        if weight > best.get(reason, 0.0) and pattern.search(text):
            best[reason] = weight
    return sum(best.values()), list(best)
