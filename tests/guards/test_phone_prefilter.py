"""The cheap paths in front of the PII scan must not lose anything.

``llmops.guards.pii._phones`` replaces Presidio's ``PhoneRecognizer`` (13 matcher passes a
text) with one candidate walk that parses only where a match is possible; it is held here to
that recognizer, span for span, on every number format libphonenumber knows for the regions
we claim (national, international, E.164, with "00"/"011", compact) and on digit runs that
are not phones, inside long texts. Presidio itself is asked only for the entities a window
can hold, and texts without a candidate reach neither Presidio nor libphonenumber.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from llmops.guards import pii
from llmops.redaction import redact

PADDING = "The release notes for this version cover retrieval, tracing and guards. " * 10


def _presidio_phones(text: str) -> set[tuple[int, int]]:
    """What Presidio's phone recognizer, as we configured it before, finds in ``text``."""
    from presidio_analyzer import EntityRecognizer
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    recognizer = PhoneRecognizer(supported_language="en", supported_regions=pii.PHONE_REGIONS)
    results = recognizer.analyze(text, ["PHONE_NUMBER"], None)
    return {(r.start, r.end) for r in EntityRecognizer.remove_duplicates(results)}


def _numbers() -> Iterator[str]:
    """Every example number of the claimed regions in every way people write it, plus digit
    runs of 3-15 digits in groups (most of which are no phone anywhere)."""
    for region in pii.PHONE_REGIONS:
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            yield national
            yield national.replace(" ", "")
            yield intl
            yield phonenumbers.format_number(number, PhoneNumberFormat.E164)
            yield "00" + intl[1:]
            yield "011 " + intl[1:]
            yield f"({intl})"
    rnd = random.Random(17)
    for _ in range(150):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(3, 15)))
        sep = rnd.choice(["", " ", "-", "."])
        yield sep.join(digits[i : i + 3] for i in range(0, len(digits), 3))


@pytest.mark.parametrize("carrier", ["call me at {} tomorrow", "ref {}, page 12", "{}"])
def test_phones_are_found_as_presidio_found_them(carrier: str) -> None:
    for value in _numbers():
        for text in (carrier.format(value), PADDING + carrier.format(value) + PADDING):
            ours = {(e.start, e.end) for e in pii._phones(text)}
            assert ours == _presidio_phones(text), text[-200:]


@pytest.mark.parametrize(
    "number",
    [
        "+34 612 345 678",  # Spain
        "612 345 678",
        "+1 415 555 0123",  # US
        "(415) 555-0123",
        "+44 7911 123456",  # UK
        "07911 123456",
        "+49 1512 3456789",  # Germany
        "+33 6 12 34 56 78",  # France
        "06 12 34 56 78",
        "+39 312 345 6789",  # Italy
        "+351 912 345 678",  # Portugal
        "+52 55 1234 5678",  # Mexico
        "+54 9 11 2345-6789",  # Argentina
        "+57 321 1234567",  # Colombia
        "+56 9 6123 4567",  # Chile
        "+51 912 345 678",  # Peru
        "+91 81234 56789",  # India
        "0034 612 345 678",
    ],
)
def test_a_phone_in_a_long_text_is_redacted(number: str) -> None:
    text = f"{PADDING}Ticket 95: please call me at {number} about team 4. {PADDING}"
    assert redact(text) == f"{PADDING}Ticket 95: please call me at <PHONE> about team 4. {PADDING}"


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[object]]:
    """Every call that reaches Presidio's recognizers or libphonenumber's matcher."""
    from phonenumbers import PhoneNumberMatcher

    calls: dict[str, list[object]] = {"presidio": [], "phonenumbers": []}
    scanner = pii.PiiScanner()
    presidio = scanner._presidio

    def spy_presidio(text: str, entities: list[str]) -> list[object]:
        calls["presidio"].append(entities)
        return presidio(text, entities)

    extract = PhoneNumberMatcher._extract_match

    def spy_extract(self: PhoneNumberMatcher, candidate: str, offset: int) -> object:
        calls["phonenumbers"].append(candidate)
        return extract(self, candidate, offset)

    monkeypatch.setattr(scanner, "_presidio", spy_presidio)
    monkeypatch.setattr(PhoneNumberMatcher, "_extract_match", spy_extract)
    monkeypatch.setattr(pii, "scanner", lambda: scanner)
    return calls


@pytest.mark.parametrize(
    "text",
    [
        "Ticket 95: how do I rotate the API keys? Thanks, team 4.",
        "The p95 latency went from 1200 ms to 340 ms in version 2.3 (see issue 17).",
        PADDING * 3 + " Step 1 of 12.",
    ],
)
def test_text_without_candidates_reaches_neither_presidio_nor_libphonenumber(
    spies: dict[str, list[object]], text: str
) -> None:
    assert pii.scanner().find(text) == []
    assert redact(text) == text
    assert spies == {"presidio": [], "phonenumbers": []}


def test_presidio_is_asked_only_for_what_a_window_can_hold(spies: dict[str, list[object]]) -> None:
    found = pii.scanner().find("Ticket 95: write to ana@example.com, team 4.")
    assert [e.label for e in found] == ["EMAIL"]
    assert spies["presidio"] == [["EMAIL_ADDRESS"]]
    assert spies["phonenumbers"] == []  # "95" and "4" are too short to be a phone anywhere


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("ana@example.com", "EMAIL"),
        ("4111 1111 1111 1111", "CREDIT_CARD"),
        ("219-09-9999", "US_SSN"),
        ("192.168.10.12", "IP_ADDRESS"),
        ("2001:db8:85a3::8a2e:370:7334", "IP_ADDRESS"),
        ("fe80::1ff:fe23:4567:890a", "IP_ADDRESS"),
        ("::ffff:192.168.1.1", "IP_ADDRESS"),
    ],
)
def test_each_presidio_entity_still_reaches_presidio(text: str, label: str) -> None:
    assert redact(f"{PADDING}it is {text} ok {PADDING}") == f"{PADDING}it is <{label}> ok {PADDING}"
