"""Spanish NIE and payment card numbers in the formats people type: generated values (valid
check letter / Luhn digit) in every separator and grouping, in EN and ES sentences, plus the
look-alikes that must stay."""

from __future__ import annotations

import random

import pytest

from llmops.guards import pii
from llmops.guards.pii import es_id_letter, luhn_valid

RNG = random.Random(20261206)
SENTENCES = [
    "Mi NIE es {}.",
    "el documento {} caduca en mayo",
    "My foreign ID is {}, thanks",
    "{}",
    "Te paso los datos: {} y nada más",
]


def nie(rng: random.Random) -> tuple[str, str, str]:
    prefix = rng.choice("XYZ")
    number = f"{rng.randrange(10_000_000):07d}"
    return prefix, number, es_id_letter(prefix + number)


def nie_formats(prefix: str, number: str, letter: str) -> list[str]:
    return [
        f"{prefix}{number}{letter}",
        f"{prefix}-{number}-{letter}",
        f"{prefix} {number} {letter}",
        f"{prefix}.{number}.{letter}",
        f"{prefix}/{number}/{letter}",
        f"{prefix}{number}-{letter}",
        f"{prefix}-{number}{letter}",
        f"{prefix} - {number} - {letter}",
        f"{prefix}0{number}{letter}",  # the old form: 8 digits, the first a 0
        f"{prefix}{number}{letter}".lower(),
        f"{prefix}-{number}-{letter}".lower(),
    ]


NIE_CASES = [
    (sentence.format(value), value)
    for _ in range(6)
    for value in nie_formats(*nie(RNG))
    for sentence in SENTENCES[:3]
]


def labels(text: str) -> list[tuple[str, str]]:
    return [(e.label, text[e.start : e.end]) for e in pii.scanner().find(text)]


@pytest.mark.parametrize(("text", "value"), NIE_CASES)
def test_nie_in_every_format(text: str, value: str) -> None:
    assert ("ES_NIE", value) in labels(text)


def test_lowercase_nie_with_spaces_after_a_cue() -> None:
    prefix, number, letter = nie(RNG)
    value = f"{prefix} {number} {letter}".lower()
    assert ("ES_NIE", value) in labels(f"mi nie: {value}")
    assert labels(f"compré {value}") == []  # without a cue it reads as prose


def test_a_nie_with_a_wrong_letter_stays_even_after_a_cue() -> None:
    prefix, number, letter = nie(RNG)
    wrong = next(c for c in "TRWAGMYFPD" if c != letter)
    value = f"{prefix}{number}{wrong}"
    assert labels(f"NIE: {value}") == []  # an example or a typo, as the labelled sets say
    assert labels(f"el modelo {value} está agotado") == []


# -- cards ------------------------------------------------------------------------------------
def card(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


IINS = {
    "4": (13, 16, 19),  # Visa
    "51": (16,), "55": (16,), "2221": (16,), "2720": (16,), "2200": (16,),  # MC, Mir
    "34": (15,), "37": (15,),  # Amex
    "36": (14,), "300": (14,),  # Diners
    "35": (16, 19),  # JCB
    "6011": (16, 19), "65": (16,),  # Discover
    "62": (16, 17, 18, 19),  # UnionPay
    "6759": (16, 19), "5018": (13, 16, 19),  # Maestro
}  # fmt: skip


def groupings(number: str) -> list[str]:
    fours = [number[i : i + 4] for i in range(0, len(number), 4)]
    out = [number, " ".join(fours), "-".join(fours), ".".join(fours)]
    if len(number) in (14, 15):  # Amex 4-6-5, Diners 4-6-4
        out += [
            f"{number[:4]} {number[4:10]} {number[10:]}",
            f"{number[:4]}-{number[4:10]}-{number[10:]}",
        ]
    return out


CARD_CASES = [
    value
    for prefix, lengths in IINS.items()
    for length in lengths
    for value in groupings(card(prefix, length, RNG))
]


@pytest.mark.parametrize("value", CARD_CASES)
def test_card_numbers_in_every_grouping(value: str) -> None:
    for sentence in ("Mi tarjeta es {}.", "card {} exp 12/27", "{}"):
        assert ("CREDIT_CARD", value) in labels(sentence.format(value)), sentence


def test_card_look_alikes_stay() -> None:
    valid = card("4", 16, RNG)
    broken = valid[:-1] + str((int(valid[-1]) + 1) % 10)  # Luhn fails
    assert not luhn_valid(broken)
    spaced = " ".join(broken[i : i + 4] for i in range(0, 16, 4))
    assert labels(f"order {spaced} shipped") == []
    assert labels("timestamp 20241231235959 and 2024-12-31") == []
    assert labels("ISBN 978-3-16-148410-0, tracking 1Z999AA10123456784") == []
    assert labels(f"{valid}12345 is too long for a card") == []
