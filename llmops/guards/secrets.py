"""Credentials in text: API keys, tokens, private keys, and "my password is …" statements.

Why our own and not ``guardrails-ai-secrets-present``: measured here, that package (built on
detect-secrets, which scans a temporary file per call) missed OpenAI ``sk-`` keys and every
Spanish statement ("mi contraseña es …"), and masked only the prefix of GitHub tokens,
leaving the secret itself visible. These rules cover the formats people paste into chats
and replace the whole secret.

Two kinds of evidence, both data (``[credentials]`` in ``redaction_rules.toml``):

- **token formats** (``sk-…``, ``AKIA…``, ``ghp_…``, JWTs, private-key blocks, AWS secret
  access keys as 40 random-looking base64 characters, …). Each is tried only on text that
  holds one of its marker substrings (``sk-``, ``ghp_``, ``://``; for AWS secret keys, a run
  of 40 characters without a space), so prose without any costs a few substring tests;
- **a cue and a value**: "my password is X", "mi contraseña es X", "password: X",
  ``DB_PASSWORD=X``, ``"api_key": "X"``, and the value first: "X is my password". Strong
  cues (password, passphrase, contraseña, a qualified identifier such as
  ``aws_secret_access_key``) take any value of 4+ characters that is not a description ("the
  password is incorrect"). Weak cues ("key", "token", "secret", "pin", "clave") usually mean
  something else ("the key is consistency", "la clave es medir"): their value must look like
  a secret (digits, symbols, inner capitals, or a long random run), as must a value written
  before its cue ("this is my password"). A quoted value is taken whole, spaces included;
  a value found this way is also masked wherever else it appears in the text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from llmops.guards.rules import phrase_pattern, rules


@dataclass(frozen=True)
class Secret:
    kind: str
    start: int
    end: int


_QUOTES = {'"': '"', "'": "'", "`": "`", "“": "”", "‘": "’", "«": "»"}
_BARE_VALUE = re.compile(r"[^\s\"'`“”‘’«»]+")
_TRAILING = ".,;:!?)]}>"  # sentence punctuation after a value in prose
_TRAILING_CODE = ",;)]}>"  # what closes a value in code: "DB_PASSWORD=s3cr3t!" keeps its "!"
# numbers that are measurements, versions or ratios, not PINs: 10%, 1.5x, 3.2.1, 200ms
_NUMBERISH = re.compile(r"v?\d+(?:[.,]\d+)+%?|\d+(?:[.,]\d+)?(?:%|x|ms|s|k|m|b|kb|mb|gb|h)", re.I)
_SYMBOLS = set("!@#$%^&*+=/?~|\\<>")
_PLACEHOLDER = re.compile(r"<[A-Z_]+>")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_SEGMENTS = re.compile(r"[A-Z]?[a-z\u00e0-\u00ff]+|[A-Z]+(?![a-z])|\d+")


@dataclass(frozen=True)
class _Format:
    kind: str
    pattern: re.Pattern[str]
    value_group: bool  # the secret is the ``value`` group, not the whole match
    random: bool  # the match must look random (``looks_random``)
    markers: tuple[str, ...]  # lowercase substrings the text must hold for it to be tried
    long_run: int  # or: the text must hold a run of this many non-space characters


@dataclass(frozen=True)
class _Rules:
    formats: tuple[_Format, ...]
    cues: re.Pattern[str]  # matched on the lowercased text
    before: re.Pattern[str]  # "hunter2 is my password": the value before a copula and a cue
    strong_words: re.Pattern[str]  # a text without one has no "X is my password"
    markers: re.Pattern[str]  # any format's marker: a text without one skips those formats
    # a word every statement needs (``_may_state``)
    state_words: re.Pattern[str]
    strong: frozenset[str]
    not_values: frozenset[str]
    id_strong: frozenset[str]
    id_final: frozenset[str]
    id_qualifiers: frozenset[str]
    id_weak: frozenset[str]
    id_anchors: tuple[str, ...]


def _all(table: dict[str, list[str]]) -> list[str]:
    return [w for words in table.values() for w in words]


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    r = rules()["credentials"]
    formats = tuple(
        _Format(
            kind=f["kind"],
            pattern=re.compile(f["pattern"]),
            value_group="(?P<value>" in f["pattern"],
            random=bool(f.get("random")),
            markers=tuple(m.lower() for m in f.get("markers", [])),
            long_run=int(f.get("long_run", 0)),
        )
        for f in r["formats"]
    )
    ident = r["identifier"]
    copulas = phrase_pattern(_all(r["copulas"]))
    cues = re.compile(
        # a cue phrase, maybe "for/de + 1-3 words", then a copula or ":"/"="
        # (\b, not a look-behind: the regex engine then skips ahead to a cue's first letter;
        # "db_password=" is the identifier pass's)
        r"\b(?P<cue>" + phrase_pattern(_all(r["strong"]) + _all(r["weak"])) + r")"
        r"(?![^\W_])(?:\s+(?:" + phrase_pattern(_all(r["links"])) + r")(?:\s+[^\s:=]+){1,3}?)?"
        r"(?:\s+(?:" + copulas + r")(?![^\W_])[ \t]*:?"
        r"|[\"'`]?[ \t]*[:=])[ \t]*"
    )
    before = re.compile(
        r"\b(?:" + copulas + r")\s+(?:" + phrase_pattern(_all(r["possessives"])) + r")"
        r"\s+(?:" + phrase_pattern(_all(r["strong"])) + r")(?![^\W_])"
    )
    cue_words = {
        " ".join(w.lower().split()).split(" ")[0] for w in _all(r["strong"]) + _all(r["weak"])
    }
    anchors = tuple(sorted({w.lower() for w in ident["strong"] + ident["final"] + ident["weak"]}))
    strong_last = {w.split()[-1] for w in _all(r["strong"])}
    return _Rules(
        formats=formats,
        cues=cues,
        before=before,
        strong=frozenset(" ".join(w.lower().split()) for w in _all(r["strong"])),
        strong_words=re.compile(phrase_pattern(strong_last)),
        markers=re.compile(phrase_pattern({m for f in formats for m in f.markers})),
        state_words=re.compile(phrase_pattern(cue_words | set(anchors) | strong_last)),
        not_values=frozenset(w.lower() for w in _all(r["not_values"])),
        id_strong=frozenset(ident["strong"]),
        id_final=frozenset(ident["final"]),
        id_qualifiers=frozenset(ident["qualifiers"]),
        id_weak=frozenset(ident["weak"]),
        id_anchors=anchors,
    )


def _entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def looks_random(value: str) -> bool:
    """A 40-character run that reads as a generated key, not a SHA, a path or a word."""
    if _HEX40.fullmatch(value):
        return False
    upper = sum(c.isupper() for c in value)
    lower = sum(c.islower() for c in value)
    other = len(value) - upper - lower  # digits, / and +
    return upper >= 1 and lower >= 1 and other >= 1 and _entropy(value) >= 4.3


def looks_secret(value: str) -> bool:
    """Whether the value of a weak cue ("the key is …") looks like a credential."""
    if len(value) < 4 or _NUMBERISH.fullmatch(value):
        return False
    if value.isdigit():
        return True  # a PIN
    letters = any(c.isalpha() for c in value)
    digits = any(c.isdigit() for c in value)
    if letters and digits:
        return True
    if any(c in _SYMBOLS for c in value) and (letters or digits):
        return True
    if letters and any(c.isupper() for c in value[1:]) and any(c.islower() for c in value):
        return True  # inner capitals: hUnTeR, xK9…
    return value.isalpha() and len(value) >= 24  # a long random run of letters


def _identifier_strength(ident: str, r: _Rules) -> str | None:
    """``strong`` (db_password, aws_secret_access_key, apiKey), ``weak`` (key, token, PIN) or
    None (max_tokens, sort_key, token_count, password_policy: not a secret's name)."""
    segments = [s.lower() for s in _SEGMENTS.findall(ident)]
    if not segments:
        return None
    joined = "".join(segments)
    if segments[-1] in r.id_strong or any(joined.endswith(w) for w in r.id_strong):
        return "strong"  # password_policy and password_hash name something else
    if segments[-1] in r.id_final and any(s in r.id_qualifiers for s in segments[:-1]):
        return "strong"
    if len(segments) == 1 and segments[0] in r.id_weak:
        return "weak"
    return None


def _value_at(text: str, pos: int, trailing: str = _TRAILING) -> tuple[int, int] | None:
    """The value starting at ``pos``: a quoted string (whole), or a run without spaces with
    ``trailing`` punctuation dropped from its end."""
    if pos >= len(text) or _PLACEHOLDER.match(text, pos):
        return None  # already redacted: "my password is <SECRET>" stays as it is
    close = _QUOTES.get(text[pos])
    if close is not None:
        end = text.find(close, pos + 1, pos + 202)
        newline = text.find("\n", pos + 1, end if end > 0 else pos + 202)
        if end > pos + 1 and newline < 0:
            return pos + 1, end
        pos += 1  # an unclosed quote: the bare value after it
    m = _BARE_VALUE.match(text, pos)
    if m is None:
        return None
    start, end = m.span()
    while end > start and text[end - 1] in trailing:
        end -= 1
    return (start, end) if end > start else None


_SEPARATORS = re.compile(r"(?::(?![:=]|//)|=(?![:=]))[ \t]*")  # not "==", "::", ":=", "://"
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
_BEFORE_VALUE = re.compile(r"[\"'`“‘«]?([^\s\"'`“”‘’«»]{4,})[\"'`”’»]?[ \t]+$")


def _identifier_at(low: str, sep: int) -> tuple[int, int] | None:
    """The identifier written right before the ``:``/``=`` at ``sep`` ("DB_PASSWORD=",
    ``"api_key": ``), as a span, or None."""
    end = sep
    while end > 0 and low[end - 1] in " \t":
        end -= 1
    if end > 0 and low[end - 1] in "\"'`":
        end -= 1
    start = end
    while start > 0 and (low[start - 1] in _IDENT_CHARS or low[start - 1].isalpha()):
        start -= 1
    return (start, end) if end - start >= 2 else None


def _may_state(low: str, r: _Rules) -> bool:
    """Whether ``low`` can hold a statement: each kind needs a word of its own, found as a
    plain substring (one search that the regex engine skips ahead for, ~1 µs a message,
    where the statement passes cost ~8): "NAME=value" an identifier anchor ("password",
    "key", ...) inside NAME; "my password is X" / "password: X" the first word of its cue
    phrase; "X is my password" its strong cue's last word (``strong_words``)."""
    return r.state_words.search(low) is not None


def _statements(text: str, low: str, r: _Rules) -> list[Secret]:
    """Secrets named by a cue: "DB_PASSWORD=X" (first: code keeps a trailing "!"), "my
    password is X", "password: X", "X is my password"."""
    found: list[Secret] = []

    def keep(span: tuple[int, int] | None, strength: str | None) -> None:
        if span is None or strength is None:
            return
        value = text[span[0] : span[1]]
        if len(value) < 4 or value.lower() in r.not_values:
            return
        if strength == "weak" and not looks_secret(value):
            return
        found.append(Secret("PASSWORD", *span))

    if "=" in low or ":" in low:
        for sep in _SEPARATORS.finditer(low):
            if sep.start() and low[sep.start() - 1] in ":=":
                continue  # "==", ":="
            ident = _identifier_at(low, sep.start())
            if ident is None or not any(a in low[ident[0] : ident[1]] for a in r.id_anchors):
                continue
            strength = _identifier_strength(text[ident[0] : ident[1]], r)
            keep(_value_at(text, sep.end(), _TRAILING_CODE), strength)
    for m in r.cues.finditer(low):
        cue = " ".join(m.group("cue").split())
        keep(_value_at(text, m.end()), "strong" if cue in r.strong else "weak")
    for m in r.before.finditer(low) if r.strong_words.search(low) else ():
        v = _BEFORE_VALUE.search(text, max(0, m.start() - 120), m.start())
        if v is not None and looks_secret(v.group(1)) and not _PLACEHOLDER.match(v.group(1)):
            keep(v.span(1), "strong")
    return found


def _repeats(text: str, values: set[str]) -> list[Secret]:
    """Every other occurrence of a secret found by its cue ("my password is hunter2 … I typed
    hunter2 again"): the cue names it once, the value may appear anywhere."""
    extra = []
    for value in values:
        for m in re.finditer(r"(?<![\w])" + re.escape(value) + r"(?![\w])", text):
            extra.append(Secret("PASSWORD", m.start(), m.end()))
    return extra


def _formats(text: str, low: str, r: _Rules) -> list[Secret]:
    found: list[Secret] = []
    longest = 0
    marked = r.markers.search(low) is not None
    for f in r.formats:
        if f.long_run:
            if not longest:
                longest = max(map(len, text.split()), default=0) or -1
            if longest < f.long_run:
                continue
        elif not (marked and any(m in low for m in f.markers)):
            continue
        for m in f.pattern.finditer(text):
            start, end = m.span("value") if f.value_group else m.span()
            if f.random and not looks_random(text[start:end]):
                continue
            found.append(Secret(f.kind, start, end))
    return found


def _disjoint(secrets: list[Secret]) -> list[Secret]:
    """In text order, dropping any that overlaps one kept before it (earlier lists win)."""
    kept: list[Secret] = []
    for s in secrets:
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def _lower(text: str) -> str:
    """``text`` lowercased with its offsets kept (``"İ".lower()`` is two characters)."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low


def find(text: str) -> list[Secret]:
    """The credentials in ``text``, disjoint, in text order."""
    if not text:
        return []
    r = _rules()
    low = _lower(text)
    found = _formats(text, low, r)
    stated = _statements(text, low, r) if _may_state(low, r) else []
    found += stated
    if stated:
        found += _repeats(text, {text[s.start : s.end] for s in stated})
    return _disjoint(found)


def redact(text: str) -> str:
    for s in reversed(find(text)):
        text = f"{text[: s.start]}<SECRET>{text[s.end :]}"
    return text
