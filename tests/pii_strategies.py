"""Hypothesis strategies for personal data and credentials, written the ways people type them.

Each strategy draws a ``Sample``: the sensitive ``value`` and the ``snippet`` that carries it
into a message (the value itself, or the value with the cue that makes it sensitive: "my
password is …", "me llamo …"). Values are valid where the format has a checksum (Luhn, IBAN
mod-97, DNI/NIE check letter), in upper and lower case and with the separators people use.
``SAMPLES`` maps a kind to its strategy, ``CARRIERS`` are EN/ES sentences that put a snippet
at the start, the middle or the end (no digits in them, so any digit left in a redacted
carrier came from the value), and ``leaks`` says which forms of a value survived a redaction.

Used by tests/guards/test_redaction.py; any test that pushes personal data through the
product can draw from them.
"""

from __future__ import annotations

import re
import string
from typing import NamedTuple

from hypothesis import strategies as st


class Sample(NamedTuple):
    kind: str
    value: str  # what must not survive
    snippet: str  # how it appears in a message


def _plain(kind: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[Sample]:
    return values.map(lambda v: Sample(kind, v, v))


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=n, max_size=n)


def _group(value: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for size in sizes:
        out.append(value[i : i + size])
        i += size
    if i < len(value):
        out.append(value[i:])
    return sep.join(p for p in out if p)


def _cased(value: str, case: str) -> str:
    return value.upper() if case == "upper" else value.lower() if case == "lower" else value


# -- e-mail -------------------------------------------------------------------------------------
_local = st.builds(
    lambda first, last, sep, n, tag: f"{first}{sep}{last}{n}{tag}",
    st.sampled_from(["ana", "john", "maria", "li", "pkowalski", "o.brien", "jose"]),
    st.sampled_from(["garcia", "smith", "lopez", "wei", "nunez"]),
    st.sampled_from(["", ".", "_", "-"]),
    st.sampled_from(["", "7", "1984", "42"]),
    st.sampled_from(["", "+news", "+llmops", "+a1"]),
)
_domain = st.sampled_from(
    ["example.com", "correo.es", "mail.example.org", "uni.edu", "empresa.com.mx", "ACME.io"]
)
emails = _plain(
    "EMAIL",
    st.builds(
        lambda local, domain, case: _cased(f"{local}@{domain}", case),
        _local,
        _domain,
        st.sampled_from(["upper", "lower", "as is"]),
    ),
)

# -- phone --------------------------------------------------------------------------------------
_es_mobile = st.builds(
    lambda first, rest: (first + rest)[:9],  # 6xx xxx xxx, 71x-74x xxx xxx
    st.sampled_from(["6", "71", "72", "73", "74"]),
    _digits(8),
).flatmap(
    lambda n: st.sampled_from(
        [
            f"+34 {n[:3]} {n[3:6]} {n[6:]}",
            f"+34 {n[:3]} {n[3:5]} {n[5:7]} {n[7:]}",
            f"+34{n}",
            f"0034 {n[:3]} {n[3:6]} {n[6:]}",
            f"{n[:3]} {n[3:6]} {n[6:]}",
            f"{n[:3]}-{n[3:6]}-{n[6:]}",
        ]
    )
)
_us = st.builds(
    lambda area, first, rest: (area, f"{first}{rest}"),
    st.sampled_from(["212", "312", "415", "617", "646", "202", "305", "713"]),
    st.sampled_from("23456789"),
    _digits(6),
).flatmap(
    lambda p: st.sampled_from(
        [
            f"({p[0]}) {p[1][:3]}-{p[1][3:]}",
            f"{p[0]}-{p[1][:3]}-{p[1][3:]}",
            f"+1 {p[0]} {p[1][:3]} {p[1][3:]}",
            f"+1 ({p[0]}) {p[1][:3]}-{p[1][3:]}",
        ]
    )
)
_uk = _digits(6).map(lambda n: f"+44 7911 {n}")
phones = _plain("PHONE", st.one_of(_es_mobile, _us, _uk))


# -- credit card (Luhn) -------------------------------------------------------------------------
def luhn(body: str) -> str:
    """``body`` with its Luhn check digit appended."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


_card_numbers = st.one_of(
    _digits(14).map(lambda b: (luhn("4" + b), [4, 4, 4, 4])),  # Visa
    st.builds(
        lambda p, b: (luhn(p + b), [4, 4, 4, 4]), st.sampled_from(["51", "53", "55"]), _digits(13)
    ),  # Mastercard
    st.builds(
        lambda p, b: (luhn(p + b), [4, 6, 5]), st.sampled_from(["34", "37"]), _digits(12)
    ),  # Amex
    _digits(11).map(lambda b: (luhn("6011" + b), [4, 4, 4, 4])),  # Discover
)
cards = _plain(
    "CREDIT_CARD",
    st.builds(
        lambda n, sep: _group(n[0], n[1], sep), _card_numbers, st.sampled_from(["", " ", "-"])
    ),
)


# -- IBAN (mod-97) ------------------------------------------------------------------------------
def iban(country: str, bban: str) -> str:
    """The compact IBAN of ``bban`` in ``country``, with its check digits."""
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    return f"{country}{check:02d}{bban}"


_letters = st.text(string.ascii_uppercase, min_size=4, max_size=4)
_bbans = st.one_of(
    _digits(20).map(lambda b: ("ES", b)),
    _digits(18).map(lambda b: ("DE", b)),
    st.builds(lambda bank, rest: ("GB", bank + rest), _letters, _digits(14)),
    st.builds(lambda bank, rest: ("NL", bank + rest), _letters, _digits(10)),
    _digits(23).map(lambda b: ("FR", b)),
    st.builds(lambda cin, rest: ("IT", cin + rest), st.sampled_from("XAZ"), _digits(22)),
    _digits(21).map(lambda b: ("PT", b)),
)
ibans = _plain(
    "IBAN",
    st.builds(
        lambda cb, sep, case: _cased(_group(iban(*cb), [4] * 9, sep), case),
        _bbans,
        st.sampled_from(["", " ", "-"]),
        st.sampled_from(["upper", "lower"]),
    ),
)

# -- Spanish DNI / NIE (check letter) -----------------------------------------------------------
ES_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni(n: int, form: str, lower: bool) -> str:
    number, letter = f"{n:08d}", ES_LETTERS[n % 23]
    letter = letter.lower() if lower and form in ("", "-") else letter
    if form == "dots":
        return f"{number[:2]}.{number[2:5]}.{number[5:]}-{letter}"
    return f"{number}{form}{letter}"


def _nie(prefix: str, n: int, sep: str, lower: bool) -> str:
    letter = ES_LETTERS[int(f"{'XYZ'.index(prefix)}{n:07d}") % 23]
    value = f"{prefix}{sep}{n:07d}{sep}{letter}"
    return value.lower() if lower and sep != " " else value


dnis = _plain(
    "ES_DNI",
    st.builds(
        _dni,
        st.integers(1_000_000, 99_999_999),
        st.sampled_from(["", "-", " ", "dots"]),
        st.booleans(),
    ),
)
nies = _plain(
    "ES_NIE",
    st.builds(
        _nie,
        st.sampled_from("XYZ"),
        st.integers(0, 9_999_999),
        st.sampled_from(["", "-", " "]),
        st.booleans(),
    ),
)

# -- US SSN -------------------------------------------------------------------------------------
_SAMPLE_SSNS = {"123456789", "987654320", "078051120"}  # published examples, not anyone's
ssns = _plain(
    "US_SSN",
    st.builds(
        lambda a, g, s, sep: f"{a:03d}{sep}{g:02d}{sep}{s:04d}",
        st.integers(1, 899).filter(lambda a: a != 666),
        st.integers(1, 99),
        st.integers(1, 9999),
        st.sampled_from(["-", " "]),
    ).filter(lambda v: re.sub(r"\D", "", v) not in _SAMPLE_SSNS and len(set(v) - set(" -")) > 1),
)

# -- AWS secret access key ----------------------------------------------------------------------
_B64 = string.ascii_letters + string.digits + "/+"
aws_secret_keys = st.text(_B64, min_size=40, max_size=40).filter(
    lambda v: (
        any(c.isupper() for c in v)
        and any(c.islower() for c in v)
        and any(not c.isalpha() for c in v)
    )
)
aws_secrets = st.builds(
    lambda v, fmt: Sample("SECRET", v, fmt.format(v=v)),
    aws_secret_keys,
    st.sampled_from(
        [
            "{v}",
            "aws_secret_access_key = {v}",
            "AWS_SECRET_ACCESS_KEY={v}",
            '"SecretAccessKey": "{v}"',
            "the secret key is {v}",
        ]
    ),
)

# -- passwords and PINs named by their cue ------------------------------------------------------
password_values = st.builds(
    lambda word, n, symbol: f"{word}{n}{symbol}",
    st.sampled_from(["Tr0ub4dor", "perro", "Sunshine", "qwerty", "Zx", "hunter", "gato"]),
    st.integers(10, 99_999),
    st.sampled_from(["", "!", "#", "$", "&*"]),
)
passwords = st.builds(
    lambda v, fmt: Sample("SECRET", v, fmt.format(v=v)),
    password_values,
    st.sampled_from(
        [
            "my password is {v}",
            "My Password is {v}",
            "the password for the wifi is {v}",
            "password: {v}",
            "Password = {v}",
            "DB_PASSWORD={v}",
            '"password": "{v}"',
            "mi contraseña es {v}",
            "la contraseña del router es {v}",
            "Contraseña: {v}",
            "{v} is my password",
            "{v} es mi contraseña",
        ]
    ),
)
pins = st.builds(
    lambda v, fmt: Sample("SECRET", v, fmt.format(v=v)),
    st.integers(1000, 999_999).map(str),
    st.sampled_from(["my PIN is {v}", "el pin es {v}", "PIN: {v}", "my pin code is {v}"]),
)

# -- person names introduced as such ------------------------------------------------------------
_first = st.sampled_from(
    ["John", "Mary", "Olivia", "Hannah", "Peter", "María José", "Lucía", "Javier", "Álvaro", "Nuria",
     "Antti", "Jean-Luc", "Siobhan"]
)  # fmt: skip
_last = st.sampled_from(
    ["Smith", "O'Brien", "García", "Pérez", "Fernández", "Núñez", "MacLeod", "de la Cruz",
     "Poutiainen", "Kowalski"]
)  # fmt: skip
_full = st.builds(lambda f, last: f"{f} {last}", _first, _last)
person_names = st.one_of(
    st.builds(
        lambda n, fmt: Sample("PERSON", n, fmt.format(n=n)),
        _full,
        st.sampled_from(
            [
                "my name is {n}",
                "My name is {n}",
                "I'm {n}",
                "I am {n}",
                "me llamo {n}",
                "Me llamo {n}",
                "mi nombre es {n}",
                "soy {n}",
                "Soy {n}",
                "Name: {n}",
                "Nombre: {n}",
                "\nName: {n}\n",
                "Dr. {n}",
                "Sra. {n}",
                "Dña. {n}",
            ]
        ),
    ),
    st.builds(
        lambda n, fmt: Sample("PERSON", n, fmt.format(n=n)),
        _first,
        st.sampled_from(
            [
                "call me {n}",
                "Call me {n},",
                "I'm {n}, and",
                "soy {n}, y",
                "me llamo {n}",
                "\n\nRegards,\n{n}\n",
                "\n\nSaludos,\n{n}\n",
                "\nBest regards,\n\n{n}\n",
                "\nHi {n},\n",
                "\nHola {n},\n",
                "\nDear {n},\n",
            ]
        ),
    ),
    st.builds(
        lambda n, fmt: Sample("PERSON", n, fmt.format(n=n)),
        _last,
        st.sampled_from(
            [
                "Mr. {n}",
                "Mrs. {n}",
                "Ms {n}",
                "Sr. {n}",
                "Don {n}",
            ]
        ),
    ),
    st.builds(lambda n: Sample("PERSON", n.lower(), f"me llamo {n.lower()}"), _full),
)

SAMPLES: dict[str, st.SearchStrategy[Sample]] = {
    "email": emails,
    "phone": phones,
    "card": cards,
    "iban": ibans,
    "dni": dnis,
    "nie": nies,
    "ssn": ssns,
    "aws_secret": aws_secrets,
    "password": passwords,
    "pin": pins,
    "person": person_names,
}

# EN/ES sentences with the snippet at the start, the middle and the end; no digits in them
CARRIERS = [
    "{s}",
    "{s}. What is LLMOps?",
    "{s} — ¿qué es una release canary?",
    "Hello, {s} and I have a question about tracing.",
    "Hola, {s} y quería saber cómo se mide la latencia.",
    "How do I roll back a release? {s}",
    "Gracias de antemano. {s}",
    "Please answer in English ({s}).",
    "Te lo paso: «{s}». ¿Lo ves?",
    "First line\n{s}\nlast line",
    'The form said "{s}" and then failed.',
    "{s}\n\nCan you summarise the canary rules?",
]


_PLACEHOLDER = re.compile(r"<[A-Z_]+>")


def forms(value: str) -> list[str]:
    """What of ``value`` must not survive: the value, its lowercase form, its letters and
    digits without separators, and for numbers its digits alone."""
    out = {value, value.casefold()}
    alnum = re.sub(r"[\W_]", "", value).casefold()
    if len(alnum) >= 6:
        out.add(alnum)
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 6:
        out.add(digits)
    return sorted(out)


def leaks(value: str, redacted: str) -> list[str]:
    """The forms of ``value`` still in ``redacted``, compared as written, casefolded, without
    separators and as digits alone (so a half-masked number counts as a leak), and any of its
    words of four or more characters left standing ("Mary <PERSON>", "ES91 2100 <IBAN>")."""
    redacted = _PLACEHOLDER.sub(" ", redacted)
    folded = redacted.casefold()
    alnum = re.sub(r"[\W_]", "", folded)
    digits = re.sub(r"\D", "", redacted)
    found = [f for f in forms(value) if f in redacted or f in folded or f in alnum or f in digits]
    words = value.split()
    if len(words) > 1:
        found += [
            w
            for w in words
            if len(w) >= 4 and re.search(rf"(?<!\w){re.escape(w.casefold())}(?!\w)", folded)
        ]
    return found
