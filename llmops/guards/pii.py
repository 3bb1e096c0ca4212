"""PII detection and redaction with Presidio's pattern recognizers, no NLP model.

Presidio's checksum-validated pattern recognizers, run as its analyzer ran them with the
no-op NLP engine but without importing its package (which loads spaCy;
``llmops.guards.recognizers``): e-mail, credit cards (Luhn), IP addresses and US SSN, each
only on text that can hold its entity (``_PRESIDIO``). Phone numbers (Spanish, US, UK and
other European and Latin American formats, ``PHONE_REGIONS``) are what Presidio's phone
recognizer found, found for a fraction of its cost by libphonenumber's matcher
(``_phones``).

IBANs and Spanish DNI/NIE are ours: Presidio's recognizers miss a lowercase IBAN
("es91 2100 0418 …", "de8937…") and a DNI/NIE written with a space or a dash ("12345678 Z",
"X-1234567-L", which it masked as ``X-<ES_DNI>``). Ours take any case and the usual
separators and keep a match only when its checksum holds: mod-97 with the country's length
for an IBAN, the check letter for a DNI/NIE. Their patterns and the IBAN lengths are data
(``[iban]``, ``[es_id]`` in ``redaction_rules.toml``). A number written with its country code
("+44 7911 522258", "0034 612 …") is a phone when libphonenumber finds it possible for that
country (Presidio wants it valid, and missed or half-masked such numbers). Person names are
not found here (``llmops.guards.person_context``, ``llmops.guards.names``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Presidio entity → our label (also the placeholder: <EMAIL>, <PHONE>, ...); IBAN, ES_DNI and
# ES_NIE come from our own recognizers (``_own``)
LABELS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
}
# the label names of ../shared/datasets (pii:<name>)
DATASET_LABELS = {
    "EMAIL": "pii:email",
    "PHONE": "pii:phone",
    "CREDIT_CARD": "pii:credit_card",
    "IBAN": "pii:iban",
    "IP_ADDRESS": "pii:ip_address",
    "US_SSN": "pii:us_ssn",
    "ES_DNI": "pii:es_dni",
    "ES_NIE": "pii:es_nie",
}
MIN_SCORE = {"PHONE": 0.4, "US_SSN": 0.3, "IP_ADDRESS": 0.5}
PHONE_REGIONS = ("ES", "US", "GB", "DE", "FR", "IT", "PT", "MX", "AR", "CO", "CL", "PE", "IN")
_QUICK = re.compile(r"[@\d]")  # every supported entity contains a digit or an @
# Where an entity could be: an @, six or more digits in a run (separators allowed), an
# IPv4/IPv6-looking group. Presidio and libphonenumber cost ~0.5 ms a text with a candidate,
# so long texts are analysed only in windows around these candidates; a text without any
# (most knowledge-base passages) is not analysed at all.
# A digit run inside a longer word (a hex hash, an id) is not one: at most one letter may
# lead or trail it (Spanish NIE X1234567L, DNI 12345678Z); a NIE's letter may be set off by
# separators ("X.1234567.L").
# An IBAN in any case is a candidate by its start (country code, check digits, two groups):
# a compact lowercase one ("de8937…") has no digit run standing alone.
_CANDIDATE = re.compile(
    r"@|(?<![\w.,])[A-Za-z]?\+?\(?\d(?:[ .\-()/]{0,2}\d){5,}(?![A-Za-z]{2}|\d)|"
    r"\b[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]{4}){2}|\b(?:\d{1,3}\.){3}\d{1,3}\b|"
    r"\b[XYZxyz]\W{1,3}\d{7,8}|"
    r"\b[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7}\b"
)
# What every match of ``_CANDIDATE`` holds, tested first: ``_CANDIDATE`` is an alternation
# behind look-behinds, which the regex engine tries at every position of a text (~15 µs for a
# 100-character one), while these start with a character class or a literal it skips ahead
# to. A necessary condition, branch by branch: an "@"; a digit run (six digits, each at most
# two separators after the last; a NIE's seven or eight digits are one); an IBAN's start
# (its two check digits, then two groups of four); an IPv4 address ("." between four digit
# groups); an IPv6 one (two colons with at most four hex digits between). A text matching
# none has no candidate. ``tests/guards/test_redaction_prefilters.py`` holds it to
# ``_CANDIDATE``.
_MAY_CANDIDATE = re.compile(
    r"\d(?:(?:[ .\-()/]{0,2}\d){5}|\d(?:[ \-]?[A-Za-z0-9]{4}){2}|\.\d{1,3}\.\d{1,3}\.\d)"
)
_MAY_IPV6 = re.compile(r":[0-9a-fA-F]{0,4}:")
_DECIMAL = re.compile(r"[A-Za-z]?\d{1,4}[.,]\d{4,}")  # 0.7342156: a score, not an identifier
_WINDOW = 80  # characters of context kept on each side of a candidate
_WHOLE = 600  # texts up to this long are analysed whole
# A number that follows a phone cue ("call me at", "Phone:", "llámame al") is a phone number
# even when libphonenumber cannot place it in a region (short or oddly grouped numbers).
_PHONE_CUE = re.compile(
    r"(?i)\b(?:phone|tel(?:ephone)?|mobile|cell(?:phone)?|call(?:ing)?(?: me)?(?: on| at)?|"
    r"text(?: me)?(?: on| at)|reach me(?: on| at)?|answering(?: at| on)?|whatsapp|fax|"
    r"tel[eé]fono|tlf|tfno|m[oó]vil|celular|ll[aá]ma(?:me|nos)?(?: al)?|ll[aá]meme(?: al)?|"
    r"contacto|whats)\b[^\d\n]{0,12}?(\+?\(?\d[\d ().\-]{4,18}\d)"
)
# What a number ``_PHONE_CUE`` keeps holds (tested first, as ``_MAY_CANDIDATE``): six digits or
# more, with only " ().-" between them, at most 18 characters apart (the number is a digit,
# 4-18 of those characters, a digit). Most texts have no such run, and skip the cue search.
_MAY_CUED_PHONE = re.compile(r"\d(?:[ ().\-]{0,18}\d){5}")
# Any match of ``_PHONE_CUE``, kept or not, holds its number pattern, which starts at most
# _CUE_REACH characters after the match does (the longest cue, "calling me on", 13; up to 12
# characters; "+("), so none starts before the first such number minus _CUE_REACH: the search
# starts there, and finds the same matches.
_CUED_NUMBER = re.compile(r"\d[\d ().\-]{4,18}\d")
_CUE_REACH = 27


@dataclass(frozen=True)
class Entity:
    label: str
    start: int
    end: int
    score: float


class PiiScanner:
    """Thread-safe, lazily built analyzer (``llmops.guards.recognizers``)."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        from llmops.guards.recognizers import Analyzer

        return Analyzer(phone_regions=())  # phones: ``_phones``

    @property
    def engine(self) -> Any:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._build()
        return self._engine

    def _presidio(self, text: str, entities: list[str]) -> list[Any]:
        """What Presidio's ``AnalyzerEngine.analyze(text, entities=entities)`` returned: the
        recognizers of those entities, then its de-duplication. Its score floor (0) is below
        ours (``MIN_SCORE``)."""
        from llmops.guards.recognizers import remove_duplicates

        results: list[Any] = []
        for recognizer in self.engine.recognizers:
            if recognizer.entity == "EMAIL_ADDRESS" and recognizer.entity in entities:
                results += _at_runs(recognizer, text)
            elif recognizer.entity in entities:
                results += recognizer.analyze(text)
        return remove_duplicates(results)

    def find(self, text: str, *, overlapping: bool = False) -> list[Entity]:
        """Entities in ``text``, in text order. Where two overlap, the higher-scoring (then
        longer) one is kept, unless ``overlapping``: redaction merges them instead, so a
        value two recognizers see differently is never left half masked."""
        if not text or not _QUICK.search(text):
            return []
        found = []
        for start, end in _windows(text):
            window = text[start:end]
            candidates = _Candidates(window)  # libphonenumber's, for both phone passes
            entities = [e for e, gate in _PRESIDIO.items() if gate.search(window)]
            if entities:
                for r in self._presidio(window, entities):
                    label = LABELS.get(r.entity_type)
                    if label is None or r.score < MIN_SCORE.get(label, 0.5):
                        continue
                    found.append(Entity(label, start + r.start, start + r.end, float(r.score)))
            found += [
                Entity(e.label, start + e.start, start + e.end, e.score)
                for e in _phones(window, candidates) + _own(window, candidates)
            ]
        for m in _cued_phones(text):
            digits = sum(c.isdigit() for c in m.group(1))
            if 6 <= digits <= 15:
                found.append(Entity("PHONE", m.start(1), m.end(1), 0.45))
        if overlapping:
            return sorted(set(found), key=lambda e: (e.start, -e.end))
        return _dedupe(found)

    def redact(self, text: str) -> str:
        entities = self.find(text)
        for e in sorted(entities, key=lambda e: e.start, reverse=True):
            text = f"{text[: e.start]}<{e.label}>{text[e.end :]}"
        return text


def _at_runs(recognizer: Any, text: str) -> list[Any]:
    """The e-mail recognizer's results on ``text``, from only the runs of ``text`` between
    spaces, tabs and newlines that hold an "@". Its pattern, tried at every word start,
    cost ~25 µs on a 150-character message; a match is an "@" with the characters around
    it, none of them a space, tab or newline, so it lies inside one such run, and finding it
    there is finding it in the text: the pattern looks one character past a match at most
    (its ``\b``), where a space, tab or newline reads as the run's edge does (no word
    character), and a match in one run never moves where the search goes on in another. The
    recognizer's de-duplication only drops a result inside another, so none across runs."""
    from dataclasses import replace

    found: list[Any] = []
    at = text.find("@")
    while at >= 0:
        start = max(text.rfind(" ", 0, at), text.rfind("\t", 0, at), text.rfind("\n", 0, at)) + 1
        end = min((i for i in (text.find(c, at) for c in " \t\n") if i >= 0), default=len(text))
        found += [
            replace(r, start=start + r.start, end=start + r.end)
            for r in recognizer.analyze(text[start:end])
        ]
        at = text.find("@", end)
    return found


def _cued_phones(text: str) -> Iterable[re.Match[str]]:
    """``_PHONE_CUE``'s matches in ``text`` (searched only from where one can start)."""
    if not _MAY_CUED_PHONE.search(text):
        return ()
    first = _CUED_NUMBER.search(text)
    if first is None:
        return ()
    return _PHONE_CUE.finditer(text, max(0, first.start() - _CUE_REACH))


@dataclass(frozen=True)
class _Own:
    iban: re.Pattern[str]
    iban_lengths: dict[str, int]
    iban_digit_share: float
    es_id: re.Pattern[str]
    es_id_cue: re.Pattern[str]  # matches when a cue ends the text before a value
    es_id_window: int
    card: re.Pattern[str]


def _cue_pattern(phrases: list[str]) -> re.Pattern[str]:
    """A cue phrase at the end of the text before a value, then punctuation ("NIE: ", "nº")."""
    from llmops.guards.rules import phrase_pattern

    return re.compile(
        rf"(?<!\w)(?:{phrase_pattern(phrases)})(?:\s+(?:no|nº|n\.º|number|número|numero|es|is|de))?[\s:#.\-=]*\Z"
    )


@lru_cache(maxsize=1)
def _own_rules() -> _Own:
    from llmops.guards.rules import rules

    r = rules()
    return _Own(
        iban=re.compile(r["iban"]["pattern"]),
        iban_lengths={k.upper(): int(v) for k, v in r["iban"]["lengths"].items()},
        iban_digit_share=float(r["iban"]["min_digit_share"]),
        es_id=re.compile(r["es_id"]["pattern"]),
        es_id_cue=_cue_pattern(r["es_id"]["cues"]),
        es_id_window=int(r["es_id"]["cue_window"]),
        card=re.compile(r["cards"]["pattern"]),
    )


def _cued(text: str, start: int, cue: re.Pattern[str], window: int) -> bool:
    """Whether a cue phrase ends right before ``start`` (within ``window`` characters)."""
    return bool(cue.search(text[max(0, start - window) : start].lower()))


# What each of the Presidio recognizers we run needs before it can match (from their
# patterns): an e-mail address an @; a card 13+ digits, with at most one "-" or " " between
# two digits; an SSN 9 digits in one of its patterns' groupings (5-4 or 3-6 with a "-",
# 3-2-4 with "-", " " or ".", or 9 in a row; its patterns take ASCII digits, a subset of
# ``\d``); an IPv4 address three dots between digits, an IPv6 one two colons with only hex
# digits between. A window is analysed only for the entities it can hold, and not at all when
# it can hold none. ``tests/guards/test_redaction_prefilters.py`` holds each to its
# recognizer.
_PRESIDIO = {
    "EMAIL_ADDRESS": re.compile(r"@"),
    "CREDIT_CARD": re.compile(r"\d(?:[- ]?\d){12}"),
    "US_SSN": re.compile(r"\d{3}(?:\d{6}|\d{2}-\d{4}|-\d{6}|[- .]\d{2}[- .]\d{4})"),
    "IP_ADDRESS": re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]*:"),
}


@lru_cache(maxsize=1)
def _phone_tables() -> tuple[dict[str, int], dict[str, re.Pattern[str]]]:
    """For each of ``PHONE_REGIONS``: the fewest digits a number written in that region's
    national format can have and still be valid there (the shortest possible length of any
    region sharing its country code, one less when the region's parsing rule inserts a digit,
    as Argentina's mobile "9"), and its international dialling prefix ("00", "011", ...)."""
    import phonenumbers
    from phonenumbers import PhoneMetadata

    def lengths(region: str) -> tuple[int, ...]:
        meta = PhoneMetadata.metadata_for_region(region)
        desc = None if meta is None else meta.general_desc
        return tuple((desc.possible_length if desc is not None else None) or (1,))

    floors: dict[str, int] = {}
    idd: dict[str, re.Pattern[str]] = {}
    for region in PHONE_REGIONS:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None or meta.country_code is None:  # a region libphonenumber lacks
            raise ValueError(f"no phone metadata for {region}")
        shortest = min(
            min(lengths(r)) for r in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[meta.country_code]
        )
        floors[region] = max(1, shortest - (1 if meta.national_prefix_transform_rule else 0))
        idd[region] = re.compile(meta.international_prefix or r"(?!)")
    return floors, idd


_FEWEST_DIGITS = 3  # no valid number in any region has fewer (written in any format)
_DIGIT = re.compile(r"\d")
_NOT_DIGITS = re.compile(r"[^0-9]")
# the most characters libphonenumber's candidate pattern takes before its first digit: two
# leading "(" or "+", each followed by up to four punctuation characters
_LEAD = 10


@lru_cache(maxsize=1)
def _matcher_parts() -> tuple[Any, Any, Callable[[str], str]]:
    """libphonenumber's candidate pattern, its cut before a second number, and its digit
    normalisation (imported once: an import statement in ``_Candidates.at`` cost ~2 µs a call)."""
    from phonenumbers import normalize_digits_only
    from phonenumbers.phonenumbermatcher import (  # type: ignore[attr-defined]
        _PATTERN,
        _SECOND_NUMBER_START_PATTERN,
    )

    return _PATTERN, _SECOND_NUMBER_START_PATTERN, normalize_digits_only


class _Candidates:
    """libphonenumber's candidate numbers in a text, found once and shared by every region's
    pass (``PhoneNumberMatcher._find``: its pattern from a position, cut before a second
    number): start, text, digits (letters too: "1-800-FLOWERS") and the digits alone."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._at: dict[int, tuple[int, str, int, str] | None] = {}
        # "+" candidates the VALID passes matched whole: start -> (span, parsed number)
        self.valid: dict[int, tuple[tuple[int, int], Any]] = {}

    def at(self, index: int) -> tuple[int, str, int, str] | None:
        if index not in self._at:
            _PATTERN, _SECOND_NUMBER_START_PATTERN, normalize_digits_only = _matcher_parts()
            # The pattern is tried at every position (its optional lead defeats the regex
            # engine's skip-ahead); a match holds a digit at most _LEAD characters after its
            # start, so none starts before the next digit's position minus _LEAD.
            digit = _DIGIT.search(self.text, index)
            if digit is None:
                self._at[index] = None
                return None
            m = _PATTERN.search(self.text, max(index, digit.start() - _LEAD))
            if m is None:
                self._at[index] = None
            else:
                value = self.text[m.start() : m.end()]
                second = _SECOND_NUMBER_START_PATTERN.search(value)
                if second:
                    value = value[: second.start()]
                # libphonenumber's normalisation keeps an ASCII text's digits as they are
                digits = (
                    _NOT_DIGITS.sub("", value) if value.isascii() else normalize_digits_only(value)
                )
                size = len(digits) + sum(map(str.isalpha, value))
                self._at[index] = (m.start(), value, size, digits)
        return self._at[index]


def _matcher_pass(
    candidates: _Candidates,
    region: str,
    leniency: Any,
    worth: Callable[[str, int, str], bool],
    known: dict[int, tuple[int, int] | None] | None = None,
    whole: dict[int, tuple[tuple[int, int], Any]] | None = None,
) -> list[tuple[int, int]]:
    """What ``PhoneNumberMatcher(text, region, leniency)`` yields, as (start, end), walking
    the candidates as it does (after a match, on from its end; else past the candidate) but
    testing only those ``worth(value, size, digits)`` says can match. ``known``: results of
    "+" candidates that matched whole in an earlier region (the same in every region);
    ``whole`` gets the span and parsed number of each new one."""
    from phonenumbers import PhoneNumberMatcher

    matcher = PhoneNumberMatcher(candidates.text, region, leniency=leniency)
    spans: list[tuple[int, int]] = []
    index = 0
    while (found := candidates.at(index)) is not None:
        start, value, size, digits = found
        span: tuple[int, int] | None = None
        plus = "+" in value or "＋" in value
        if known is not None and plus and start in known:
            span = known[start]
        elif worth(value, size, digits):
            match = matcher._extract_match(value, start)
            span = None if match is None else (match.start, match.end)
            if known is not None and plus and span == (start, start + len(value)):
                known[start] = span
                if whole is not None and match is not None:
                    whole[start] = (span, match.number)
        if span is not None:
            spans.append(span)
            index = span[1]
        else:
            index = start + len(value)
    return spans


def _phones(text: str, candidates: _Candidates | None = None) -> list[Entity]:
    """Phone numbers exactly as Presidio's ``PhoneRecognizer`` finds them for
    ``PHONE_REGIONS`` (libphonenumber's matcher with VALID leniency, once a region), at a
    fraction of the cost. That recognizer ran the whole matcher 13 times, parsing every
    candidate (any digits: "Ticket 95", "team 4") once a region, ~2 ms a text with a number
    in it. Here the candidates are found once, and the matcher's own per-candidate test runs
    only where it can succeed:

    - a candidate with fewer digits than any valid number of a region can have (national
      format; written with "+" or that region's dialling prefix it may be any country's) is
      not parsed for that region: parsing only removes digits (a prefix, a country code),
      apart from the one digit Argentina's rule inserts, which the floor allows for;
    - a candidate written with "+" that parses whole in the first region is the same number,
      with the same span, in every region (the region is only used for numbers without a
      country code), so the other twelve reuse it; a region none of whose other candidates
      it could parse is not walked at all (its pass would find only those numbers again).

    Matches are the union over the regions, a match inside a longer one dropped (as Presidio
    does); score 0.4 (Presidio's; its context words never apply without an NLP model).
    ``tests/guards/test_phone_prefilter.py`` holds it to Presidio's recognizer."""
    if sum(map(str.isdigit, text)) < _FEWEST_DIGITS:
        return []
    from phonenumbers import Leniency

    floors, idd = _phone_tables()
    candidates = _Candidates(text) if candidates is None else candidates
    chain = []  # the candidates a pass visits until it finds a match (the same for all)
    index = 0
    while (found := candidates.at(index)) is not None:
        chain.append(found)
        index = found[0] + len(found[1])
    # a candidate with fewer digits than every region's floor and than an international
    # number's is worth no region's pass ("Ticket 95", "team 4")
    least = min(_FEWEST_DIGITS, *floors.values())
    chain = [found for found in chain if found[2] >= least]
    known: dict[int, tuple[int, int] | None] = {}
    spans: set[tuple[int, int]] = set()
    for region in PHONE_REGIONS:
        pending = [found for found in chain if found[0] not in known]
        if not pending:
            break  # ``known`` only grows: no later region has one either
        floor, prefix = floors[region], idd[region]

        def worth(
            value: str, size: int, digits: str, floor: int = floor, prefix: Any = prefix
        ) -> bool:
            international = "+" in value or "＋" in value or prefix.match(digits)
            return size >= (_FEWEST_DIGITS if international else floor)

        # nothing this region could parse but numbers matched whole in an earlier region
        # (``known``): its pass would walk the chain (such a match ends where the chain steps
        # to) and find only those again
        if not any(worth(value, size, digits) for _, value, size, digits in pending):
            continue
        spans.update(
            _matcher_pass(candidates, region, Leniency.VALID, worth, known, candidates.valid)
        )
    kept = [
        (a, b)
        for a, b in spans
        if not any(c <= a and b <= d and (c, d) != (a, b) for c, d in spans)
    ]
    return [Entity("PHONE", a, b, 0.4) for a, b in sorted(kept)]


# "+44 …" or "0034 …": a number written with its country code
_INTERNATIONAL = re.compile(r"(?:\+|(?<!\d)00)[1-9]")


def _international_phones(text: str, candidates: _Candidates | None = None) -> list[Entity]:
    """Numbers written with a country code ("+44 7911 522258", "0034 612 345 678") that
    libphonenumber finds *possible* for that country. Presidio asks for *valid* ones, and its
    number ranges are finer than what people type: it missed such numbers or masked only
    their tail ("+44 7911 <PHONE>"). The "+" or "00" is evidence enough that it is a phone.
    Only candidates with a "+" or a "00" in them are parsed (no match can start with either
    in one without).

    A "+" candidate the VALID passes (``_phones``, same ``candidates``) matched whole is not
    parsed again: the matcher's POSSIBLE test of the whole candidate makes the same checks
    but the VALID-only ones and parses it to the same number (a "+" number's parse does not
    depend on the region; libphonenumber's candidate pattern takes a "+" only before the
    first digit, where its parse starts), then asks ``is_possible_number`` of it, asked here
    of that number; only when that fails does the matcher go on to parse parts of it, as
    here."""
    if not _INTERNATIONAL.search(text):
        return []
    from phonenumbers import Leniency, is_possible_number

    def worth(value: str, size: int, digits: str) -> bool:
        return "+" in value or "＋" in value or "00" in digits

    candidates = _Candidates(text) if candidates is None else candidates
    possible: dict[int, tuple[int, int] | None] = {
        start: span
        for start, (span, number) in candidates.valid.items()
        if is_possible_number(number)
    }
    return [
        Entity("PHONE", a, b, 0.4)
        for a, b in _matcher_pass(candidates, "ES", Leniency.POSSIBLE, worth, possible)
        if text[a:b].lstrip("( ").startswith(("+", "00"))
    ]


def _own(text: str, candidates: _Candidates | None = None) -> list[Entity]:
    """IBANs and Spanish DNI/NIE with a valid checksum, any case, the usual separators;
    phone numbers with a country code (``candidates``: libphonenumber's in ``text``)."""
    r = _own_rules()
    found = _international_phones(text, candidates)
    for m in r.iban.finditer(text):
        end = _iban_end(text, m.start(), m.end(), r)
        if end is not None:
            found.append(Entity("IBAN", m.start(), end, 1.0))
    for m in r.es_id.finditer(text):
        entity = _es_id(m, _cued(text, m.start(), r.es_id_cue, r.es_id_window))
        if entity is not None:
            found.append(entity)
    for m in r.card.finditer(text):
        if _card(m.group()):
            found.append(Entity("CREDIT_CARD", m.start(), m.end(), 1.0))
    return found


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod-10) check of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card(value: str) -> bool:
    """A payment card number: 13-19 digits, one kind of separator in the usual groupings
    (fours with a shorter last group, or Amex/Diners 4-6-5 / 4-6-4), and the Luhn check."""
    seps = {c for c in value if not c.isdigit()}
    digits = "".join(c for c in value if c.isdigit())
    if not 13 <= len(digits) <= 19 or len(seps) > 1:
        return False
    if digits[0] == "2" and not (
        2200 <= int(digits[:4]) <= 2204 or 2221 <= int(digits[:4]) <= 2720
    ):
        return False  # the 2-series is only Mir and Mastercard (not "20241231...", a date)
    groups = [len(g) for g in re.split(r"[ \-.]", value)] if seps else [len(digits)]
    fours = all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4
    if seps and not (fours or groups in ([4, 6, 5], [4, 6, 4])):
        return False
    return luhn_valid(digits)


def _iban_end(text: str, start: int, end: int, r: _Own) -> int | None:
    """Where the IBAN starting at ``start`` ends (the match is cut at the country's length),
    or None when it is not one: wrong length, glued to a word, too few digits, bad mod-97."""
    length = r.iban_lengths.get(text[start : start + 2].upper())
    if length is None:
        return None
    compact: list[str] = []
    pos = start
    while pos < end and len(compact) < length:
        if text[pos].isalnum():
            compact.append(text[pos])
        pos += 1
    if len(compact) < length or (pos < len(text) and text[pos].isalnum()):
        return None
    value = "".join(compact).upper()
    bban = value[4:]
    if sum(c.isdigit() for c in bban) < r.iban_digit_share * len(bban):
        return None
    return pos if iban_valid(value) else None


def iban_valid(value: str) -> bool:
    """ISO 13616 mod-97 check of a compact, upper-case IBAN."""
    if len(value) < 5 or not value.isascii() or not value.isalnum():
        return False
    moved = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


_ES_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_id_letter(number: str) -> str:
    """The check letter of a DNI number, or of a NIE with its X/Y/Z prefix."""
    digits = number.upper()
    if digits[:1] and digits[0] in "XYZ":
        digits = str("XYZ".index(digits[0])) + digits[1:]
    return _ES_LETTERS[int(digits) % 23]


def _es_id(m: re.Match[str], cued: bool = False) -> Entity | None:
    """A DNI or NIE whose check letter holds (a wrong letter is an example or a typo, not an
    identifier: the labelled sets treat it so). A value written with a bare space needs
    capitals or a cue before it ("NIE: x 1234567 l"; "12345678 a year" is prose)."""
    prefix, letter = m.group("prefix"), m.group("letter")
    sep1, sep2 = m.group("sep1") or "", m.group("sep2") or ""
    number = m.group("number").replace(".", "")
    caps = letter.isupper()
    if prefix and "." not in m.group("number"):  # a NIE, or a DNI after "y"/"Y"
        spaced = sep1.isspace() or sep2.isspace()
        nie_digits = len(number) == 7 or (len(number) == 8 and number[0] == "0")
        if (
            nie_digits
            and (not spaced or (caps and prefix.isupper()) or cued)
            and es_id_letter(prefix + number[-7:]) == letter.upper()
        ):
            return Entity("ES_NIE", m.start(), m.end(), 1.0)
    if len(number) != 8:
        return None
    if sep2.isspace() and not caps and not cued:
        return None
    if es_id_letter(number) == letter.upper():
        return Entity("ES_DNI", m.start("number"), m.end(), 1.0)
    return None


def _windows(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` worth analysing: all of a short text, else merged windows around
    every candidate (nothing when there is no candidate)."""
    short = len(text) <= _WHOLE
    if "@" in text:
        if short:  # the "@" is a candidate, or inside one (no decimal holds an "@")
            return [(0, len(text))]
    elif not _MAY_CANDIDATE.search(text) and not _MAY_IPV6.search(text):
        return []  # no candidate can be there (``_MAY_CANDIDATE``)
    spans = []
    for m in _CANDIDATE.finditer(text):
        if _DECIMAL.fullmatch(m.group()):
            continue
        if short:  # one candidate is enough: the whole text is analysed
            return [(0, len(text))]
        spans.append((max(0, m.start() - _WINDOW), m.end() + _WINDOW))
    return merge_windows(spans, len(text))


def merge_windows(spans: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Windows (in start order) merged where they overlap or touch, cut at ``size``."""
    if not spans:
        return []
    merged = [spans[0]]
    for a, b in spans[1:]:
        if a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return [(a, min(b, size)) for a, b in merged]


def _dedupe(entities: list[Entity]) -> list[Entity]:
    """Drop overlapping matches, keeping the higher-scoring (then longer) one."""
    kept: list[Entity] = []
    for e in sorted(entities, key=lambda e: (-e.score, -(e.end - e.start), e.start)):
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e.start)


@lru_cache(maxsize=1)
def scanner() -> PiiScanner:
    return PiiScanner()


def redact(text: str) -> str:
    """``text`` with every detected PII entity replaced by ``<LABEL>``."""
    return scanner().redact(text)
