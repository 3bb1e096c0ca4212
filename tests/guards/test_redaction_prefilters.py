"""Every cheap test in front of a redaction detector is a necessary condition of it.

Redaction skips a detector (or a region's phone pass, or one of Presidio's recognizers) when a
cheap test says it cannot match: that must never lose a finding. Here each such test is held
to the full detector on a sample of the parity corpus (``redaction_corpus.py``: dataset
texts, test cases, docs, the benchmark's turns, phone numbers of every region in several
notations, generated identifiers and secrets) and on slices of it: wherever the cheap test
says "skip", the detector finds nothing. A change of a detector's pattern that the cheap test
no longer covers fails here. (``bench/redaction_parity.py`` compares every finding of two
checkouts on the whole corpus.)
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers
import pytest
from phonenumbers import Leniency

from llmops.guards import person_context, pii, secrets
from tests.guards.redaction_corpus import texts

# each branch of a candidate at its shortest, alone: what only that branch of a cheap test lets
# through
EDGES = (
    "host 10.0.0.1 down",
    "1.2.3.4",
    "ip 0.0.0.0/8",
    "fe80::1",
    "a:b:c",
    "::1",
    "x@y",
    "@",
    "X-1234567-L",
    "z.1234567.l",
    "es91 2100 0418 4502 0005 1332",
    "de89370400440532013000",
    "GB82WEST12345698765432",
    "GB82 WEST ABCD",
    "ab12-cdef-ghij",
    "12 34 56",
    "(1)(2)(3)(4)(5)(6)",
    "tel: 12.34.56",
    "fax (1) 2-3-4-5-6",
    "calling me on +(1) 2 3 4 5 6 7",
    "SSN 123-45-6789",
    "123456789",
    "12345-6789",
    "123-456789",
    "123 45 6789",
    "4111 1111 1111 1111",
)


@lru_cache(maxsize=1)
def _sample() -> tuple[str, ...]:
    """~600 corpus texts and the edge cases, and for each a random slice (a cut value, a cut
    cue)."""
    rnd = random.Random(7)
    chosen = texts(limit=600) + list(EDGES)
    slices = []
    for text in chosen:
        a = rnd.randrange(len(text))
        slices.append(text[a : a + rnd.randint(1, 120)])
    return tuple(dict.fromkeys(chosen + slices))


def _skips(verdicts: list[bool]) -> None:
    """The cheap test is not vacuous: it lets a good share of the sample skip."""
    assert sum(verdicts) > len(verdicts) // 10


def test_texts_without_a_candidate_skip_the_candidate_search() -> None:
    skipped = []
    for text in _sample():
        skip = (
            "@" not in text
            and not pii._MAY_CANDIDATE.search(text)
            and not pii._MAY_IPV6.search(text)
        )
        skipped.append(skip)
        if skip:
            assert list(pii._CANDIDATE.finditer(text)) == [], text
    _skips(skipped)


def _all_windows(text: str) -> list[tuple[int, int]]:
    """``pii._windows`` without its shortcuts: every candidate found, then merged."""
    spans = [
        (max(0, m.start() - pii._WINDOW), m.end() + pii._WINDOW)
        for m in pii._CANDIDATE.finditer(text)
        if not pii._DECIMAL.fullmatch(m.group())
    ]
    if not spans or len(text) <= pii._WHOLE:
        return [(0, len(text))] if spans else []
    return pii.merge_windows(spans, len(text))


def test_windows_are_those_of_every_candidate() -> None:
    for text in _sample():
        assert pii._windows(text) == _all_windows(text), text


def test_texts_without_a_digit_run_skip_the_phone_cue_search() -> None:
    skipped = []
    for text in _sample():
        skip = not pii._MAY_CUED_PHONE.search(text)
        skipped.append(skip)
        if skip:
            assert _kept(pii._PHONE_CUE.finditer(text)) == [], text
    _skips(skipped)


@pytest.mark.parametrize("entity", sorted(pii._PRESIDIO))
def test_a_recognizer_is_skipped_only_where_it_finds_nothing(entity: str) -> None:
    (recognizer,) = [r for r in pii.scanner().engine.recognizers if r.entity == entity]
    gate = pii._PRESIDIO[entity]
    skipped = []
    for text in _sample():
        skip = not gate.search(text)
        skipped.append(skip)
        if skip:
            assert recognizer.analyze(text) == [], text
    _skips(skipped)


def _kept(matches: Iterable[re.Match[str]]) -> list[tuple[int, int]]:
    """The cue matches ``PiiScanner.find`` keeps: a number of 6-15 digits."""
    return [m.span(1) for m in matches if 6 <= sum(c.isdigit() for c in m.group(1)) <= 15]


def test_the_cue_search_starts_before_any_match() -> None:
    for text in _sample():
        assert _kept(pii._cued_phones(text)) == _kept(pii._PHONE_CUE.finditer(text)), text


def test_candidate_search_from_the_next_digit_finds_libphonenumbers_candidates() -> None:
    from phonenumbers.phonenumbermatcher import _PATTERN  # type: ignore[attr-defined]

    for text in _sample()[:400]:
        candidates = pii._Candidates(text)
        for index in range(0, len(text) + 1, 3):
            m = _PATTERN.search(text, index)
            found = candidates.at(index)
            assert (found and found[0]) == (m and m.start()), (text, index)


def test_e_mail_recognizer_on_the_runs_with_an_at_finds_what_it_finds_on_the_text() -> None:
    from llmops.guards.recognizers import remove_duplicates

    (recognizer,) = [r for r in pii.scanner().engine.recognizers if r.entity == "EMAIL_ADDRESS"]
    with_at = [t for t in _sample() if "@" in t]
    assert len(with_at) > 100
    for text in with_at:
        runs = remove_duplicates(pii._at_runs(recognizer, text))
        assert runs == recognizer.analyze(text), text


def test_an_international_number_valid_whole_is_not_parsed_again() -> None:
    for text in _sample():
        if pii._INTERNATIONAL.search(text):
            candidates = pii._Candidates(text)
            pii._phones(text, candidates)  # fills ``candidates.valid``
            assert pii._international_phones(text, candidates) == pii._international_phones(text)


def _matcher_phones(text: str) -> list[tuple[int, int]]:
    """What ``pii._phones`` stands for: libphonenumber's matcher in every region, union, a
    match inside a longer one dropped."""
    spans = {
        (m.start, m.end)
        for region in pii.PHONE_REGIONS
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=Leniency.VALID)
    }
    return sorted(
        (a, b)
        for a, b in spans
        if not any(c <= a and b <= d and (c, d) != (a, b) for c, d in spans)
    )


def test_phone_passes_skipped_by_region_find_what_the_matcher_finds() -> None:
    with_digits = [t for t in _sample() if sum(c.isdigit() for c in t) >= 3][:300]
    assert len(with_digits) > 200
    found = 0
    for text in with_digits:
        ours = [(e.start, e.end) for e in pii._phones(text)]
        assert ours == _matcher_phones(text), text
        found += bool(ours)
    assert found > 20


def test_shared_candidates_change_nothing() -> None:
    for text in _sample()[:300]:
        candidates = pii._Candidates(text)
        assert pii._phones(text, candidates) == pii._phones(text)
        assert pii._own(text, candidates) == pii._own(text)


def test_secret_triggers_are_necessary() -> None:
    r = secrets._rules()
    skipped = []
    for text in _sample():
        low = secrets._lower(text)
        skip = not secrets._may_state(low, r)
        skipped.append(skip)
        if skip:
            assert secrets._statements(text, low, r) == [], text
    _skips(skipped)


def test_the_look_back_for_an_opening_clause_answers_as_the_pattern() -> None:
    r = person_context._rules()
    lookback = person_context._LOOKBACK
    opened = 0
    for text in _sample()[:500]:
        for pos in range(0, len(text) + 1, 2):
            full = r.opening.search(text, max(0, pos - lookback), pos) is not None
            assert person_context._opens(r.opening, text, pos) == full, (text, pos)
            opened += full
    assert opened > 1000


def test_ascii_digits_are_libphonenumbers_normalisation() -> None:
    from phonenumbers import normalize_digits_only

    ascii_chars = "".join(map(chr, range(128)))
    assert pii._NOT_DIGITS.sub("", ascii_chars) == normalize_digits_only(ascii_chars)
