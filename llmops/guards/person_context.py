"""Person names introduced as such, in English and Spanish, without a model.

A statistical model is the only way to find every name, and the one that runs offline here is
English and slow (``llmops.guards.names``). Most names people type into a chat, though, come
with a cue that says so: "my name is John Smith", "me llamo María José Pérez", "I'm Ana",
"call me Ann", "Name: …", "Dr. House", "Regards, John". This module finds those: a cue
phrase, then one to four name-shaped words right after it. The cue decides how much the
words must prove:

- strong introductions ("my name is", "me llamo", "mi nombre es") take the words that follow,
  capitalised or not ("me llamo juan"), stopping at a function word;
- "call me", "se llama", "his name is" and courtesy titles ("Dr.", "Sra.") need capitalised
  words;
- weak introductions ("I'm", "soy", "this is") also need the name to end the clause (end of
  line, punctuation, or "from"/"de"/"and") or to have two words, and not be a known non-name
  word ("I'm Spanish", "this is Python.", "soy Ingeniero");
- form fields ("Name:", "Nombre:") at the start of a line or a sentence, after a comma or
  an opening bracket, take capitalised or ALL-CAPS words;
- greetings ("Hi Freddy,", "Querida Ana:") at the start of a clause take capitalised words
  that end the clause; not inside quotes, where they name a persona ('start your message
  with "Hey Anarchy:"');
- sign-offs ("Regards,", "Saludos,") take capitalised words that end the line or the text.

The phrase lists are data (``[names]`` in ``redaction_rules.toml``). Cost: one search of one
regex over the lowercased text finds every cue (a text without one costs nothing more), then a
few token checks per cue found, looking back at most ``_LOOKBACK`` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from llmops.guards.rules import phrase_pattern, rules


@dataclass(frozen=True)
class PersonName:
    start: int
    end: int
    text: str


_TOKEN = re.compile(r"[^\W\d_]\.|[^\W\d_]+(?:['’\-](?!s\b)[^\W\d_]+)*")
_GAP = re.compile(r"[ \t]+")
_MC = re.compile(r"(?:Mc|Mac|O['’])[^\W\d_]")  # McDonald, MacLeod, O'Brien
# after a name: a continuation that makes it part of something else (an e-mail, a file
# name, an identifier), not a name
_GLUED = re.compile(r"[\w@/\\]|[.\-][^\W_]|['’](?!s\b)[^\W_]")
_CLAUSE_END = re.compile(r"[ \t]*(?:$|\n|[.,!?;:)\]»\"”…—–]|-[ \t])")
_SIGN_GAP = re.compile(r"[ \t]*[,!.]?[ \t]*(?:\r?\n[ \t]*){0,3}")  # "Regards,\n\nJohn"
_FIELD_COLON = re.compile(r"[ \t]*:")
_GREET_GAP = re.compile(r"[ \t]*,?")  # "Hello John", "Hello, John"
_LINE_END = re.compile(r"[ \t]*[.!]?[ \t]*(?:$|\n|\r)")
# where a clause opens: the text start, a line, a sentence (a greeting too, see _Rules.opening)
_CLAUSE_START = r"(?:^|[\n.!?¡¿;:,(\[\"“«])[ \t*>•\-]*"
# its characters, for ``_opens``'s look back (the two sets share none)
_CLAUSE_MARKS = frozenset('\n.!?¡¿;:,(["“«')
_CLAUSE_FILL = frozenset(" \t*>•-")
# a greeting opens a clause, but not a quoted one: 'start with "Hey Anarchy:"' names a persona
_GREETING_START = re.compile(r"(?:^|[\n.!?¡¿;:,(\[])[ \t*>•\-]*$")
_OPENING_CUES = {"this is", "aquí", "aqui", "habla"}
# a field starts a line or a sentence, or follows a comma or an opening bracket or quote
_FIELD_START = re.compile(r"(?:^|[\n,;|(\[«\"“]|[.!?][ \t])[ \t>*•\-]*$")
_LOOKBACK = 48  # how far before a cue its opening is looked for


def _by_lang(table: dict[str, list[str]]) -> list[str]:
    return [w for words in table.values() for w in words]


@dataclass(frozen=True)
class _Rules:
    cues: re.Pattern[str]  # matched on the lowercased text: one pass finds every kind of cue
    kinds: dict[str, str]  # cue phrase (spaces normalised) -> intro, call, self, sign, ...
    opening: re.Pattern[str]  # a clause opens right before: line, sentence or greeting
    after: frozenset[str]
    particles: frozenset[str]
    not_names: frozenset[str]
    not_lower: frozenset[str]
    titles: frozenset[str]


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    r = rules()["names"]
    lower = {k: [w.lower() for w in v] for k, v in (
        ("intro", _by_lang(r["intro"])), ("call", _by_lang(r["call"])),
        ("self", _by_lang(r["self"])), ("sign", _by_lang(r["signoffs"])),
        ("field", _by_lang(r["fields"])), ("title", r["titles"]),
        ("greet", _by_lang(r["greetings"])),
    )}  # fmt: skip
    kinds: dict[str, str] = {}
    for kind, phrases in lower.items():  # a phrase in two lists keeps the first kind
        for phrase in phrases:
            kinds.setdefault(" ".join(phrase.split()), kind)
    # one trie of every cue: ~3x faster than one alternation per kind, and the kind is a
    # dict lookup of the phrase found
    cues = re.compile(r"\b(?:" + phrase_pattern(kinds) + r")(?![^\W_])")
    greeting = rf"\b(?:{phrase_pattern(lower['greet'])})[ \t]*[,!]?[ \t]*"
    return _Rules(
        cues=cues,
        kinds=kinds,
        opening=re.compile(rf"(?:{_CLAUSE_START}|{greeting})$", re.I),
        after=frozenset(w.casefold() for w in _by_lang(r["after"])),
        particles=frozenset(w.casefold() for w in r["particles"]),
        not_names=frozenset(w.casefold() for w in r["not_names"]),
        not_lower=frozenset(w.casefold() for w in r["not_lower_names"]),
        titles=frozenset(lower["title"]),
    )


def _lower(text: str) -> str:
    """``text`` lowercased with its offsets kept (``"İ".lower()`` is two characters)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _is_title(tok: str) -> bool:
    """``Ana``, ``José``, ``O'Brien``, ``Jean-Luc``, ``McDonald``, an initial ``J.``."""
    if len(tok) == 2 and tok[1] == ".":
        return tok[0].isupper()
    for part in re.split(r"[\-'’]", tok):
        if not part:
            return False
        if _MC.match(part) and part[-1].islower():
            continue
        if not (part[0].isupper() and (len(part) == 1 or part[1:].islower())):
            return False
    return len(tok) > 1


def _is_caps(tok: str) -> bool:
    return len(tok) >= 2 and tok.replace("-", "").replace("'", "").isupper()


def _scan(
    text: str, pos: int, *, lower: bool = False, caps: bool = False, max_words: int = 4
) -> tuple[int, int, int] | None:
    """The name starting at ``pos`` (after spaces): (start, end, words), or None.

    ``lower`` accepts lowercase names (after "my name is"), ``caps`` ALL-CAPS ones (forms)."""
    r = _rules()
    pos = _skip_gap(text, pos)
    start, end, words, style = pos, pos, 0, ""  # a particle only counts before a name word
    lead: int | None = None  # where leading particles start ("Sr. de la Cruz")
    while words < max_words:
        m = _TOKEN.match(text, pos)
        if m is None:
            break
        tok = m.group()
        folded = tok.casefold()
        kind = (
            "title"
            if _is_title(tok)
            else "caps"
            if caps and _is_caps(tok)
            else "lower"
            if lower and tok.islower() and len(tok) > 1
            else ""
        )
        if folded in r.particles and (style != "lower" or len(folded) > 1):
            # "Juan de la Cruz", "juan de la cruz" (not "juan y tengo"): kept only if a name
            # word follows (``end`` waits)
            if words == 0 and lead is None:
                lead = m.start()
        elif (
            not kind
            or (words and kind != style)
            or folded in r.not_names
            or (kind == "lower" and folded in r.not_lower)
        ):
            break
        elif folded in r.titles and text.startswith(".", m.end()):
            break  # "Dear Ms. Smith": the title is not the name (the title cue finds it)
        else:
            if words == 0:
                if lead is not None and kind == "lower":
                    break  # "me llamo de verdad …"
                start, style = (m.start() if lead is None else lead), kind
            words += 1
            end = m.end()
        gap = _GAP.match(text, m.end())
        if gap is None:
            break
        pos = gap.end()
    if words == 0:
        return None
    if _GLUED.match(text, end):
        return None
    return start, end, words


def _skip_gap(text: str, pos: int) -> int:
    gap = _GAP.match(text, pos)
    return gap.end() if gap else pos


def _clause_ends(text: str, end: int) -> bool:
    """The name at ``text[..end]`` ends its clause: punctuation, the end of a line, or a word
    such as "from"/"de"/"and" ("I'm Ana from sales", "soy Ana de Madrid")."""
    if _CLAUSE_END.match(text, end):
        return True
    nxt = _TOKEN.match(text, _skip_gap(text, end))
    return nxt is not None and nxt.group().casefold() in _rules().after


def _opens(pattern: re.Pattern[str], text: str, pos: int) -> bool:
    """A clause opens right before ``pos`` (looking back at most ``_LOOKBACK`` characters).

    ``pattern`` (``_Rules.opening``) is tried at each of those positions (~5 µs); its first
    branch, ``_CLAUSE_START`` at the end, is answered first by walking back over the
    characters it allows at the end ("Thanks" after "? ") and looking at the one before:
    where that says yes the pattern matches there, else the pattern is searched."""
    low = max(0, pos - _LOOKBACK)
    start = pos
    while start > low and text[start - 1] in _CLAUSE_FILL:
        start -= 1
    if (start > low and text[start - 1] in _CLAUSE_MARKS) or start == 0:
        return True
    return pattern.search(text, low, pos) is not None


def find_person_names(text: str) -> list[PersonName]:
    """Names introduced as such in ``text`` (English and Spanish cues)."""
    if not text:
        return []
    r = _rules()
    found: list[tuple[int, int]] = []
    for m in r.cues.finditer(_lower(text)):
        cue = " ".join(m.group().split())
        kind, end = r.kinds[cue], m.end()
        hit: tuple[int, int, int] | None = None
        if kind == "field":  # "Name:"
            colon = _FIELD_COLON.match(text, end)
            if colon is None:
                continue
            end = colon.end()
        elif kind == "title":  # "Dr." or "Dr "
            if text.startswith(".", end):
                end += 1
            elif not text.startswith((" ", "\t"), end):
                continue
        if kind == "intro":
            hit = _scan(text, end, lower=True)
        elif kind == "call":
            hit = _scan(text, end)
        elif kind == "self":
            if cue in _OPENING_CUES and not _opens(r.opening, text, m.start()):
                continue
            hit = _scan(text, end)
            if hit and not (hit[2] >= 2 or _clause_ends(text, hit[1])):
                hit = None
        elif kind == "sign":
            if not _opens(r.opening, text, m.start()):
                continue
            gap = _SIGN_GAP.match(text, end)
            hit = _scan(text, gap.end() if gap else end, max_words=3)
            if hit and not _LINE_END.match(text, hit[1]):
                hit = None
        elif kind == "field":
            if not _FIELD_START.search(text, max(0, m.start() - 8), m.start()):
                continue
            hit = _scan(text, end, caps=True)
            if hit and not (hit[2] >= 2 or _CLAUSE_END.match(text, hit[1])):
                hit = None
        elif kind == "title":
            if not text[m.start()].isupper():
                continue  # "ms", "don", "miss" as ordinary words
            hit = _scan(text, end, max_words=3)
        elif kind == "greet":
            if _GREETING_START.search(text, max(0, m.start() - _LOOKBACK), m.start()) is None:
                continue  # "say hello Monday", "the dear John letter"
            gap = _GREET_GAP.match(text, end)
            hit = _scan(text, gap.end() if gap else end, max_words=3)
            if hit and not _CLAUSE_END.match(text, hit[1]):
                hit = None
        if hit:
            found.append(hit[:2])
    return [PersonName(a, b, text[a:b]) for a, b in _dedupe(found)]


def _dedupe(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(set(spans)):
        if out and a < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
