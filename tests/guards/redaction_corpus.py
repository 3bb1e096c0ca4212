"""Texts that exercise every redaction detector and the cheap tests in front of them.

``texts()`` builds a deterministic corpus (the same texts on every run and every checkout):
the labelled guard datasets, the string literals of the guard tests, the benchmark's turns,
the docs' paragraphs, every example phone number of ``PHONE_REGIONS`` in several notations
inside sentences, random digit groupings, e-mail addresses, IBANs, DNI/NIE, card numbers, IP
addresses and secret-looking strings, alone and mixed. ``bench/redaction_parity.py`` prints
every finding of every detector on it (run it on two checkouts and compare); the tests in
``tests/guards/test_redaction_prefilters.py`` take a sample of it.
"""

from __future__ import annotations

import ast
import json
import random
import string
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = (ROOT / ".." / "shared" / "datasets", Path("/work/shared/datasets"))

_SENTENCES = (
    "call me at {} tomorrow",
    "Phone: {}",
    "llámame al {} por la tarde",
    "ref {}, page 12",
    "{}",
    "Ticket {}: the export failed",
    "my number is {} and my e-mail is {}",
    "Contacto: {}.",
    "El importe fue {} euros",
    "score {} at step 3",
    "whatsapp {}",
    "Tel. {} (oficina)",
    "(+{})",
    "ID {} / order {}",
    "mi DNI es {} y mi teléfono {}",
    "reach me on {} or at {}",
    "The key is {}",
    "password: {}",
    "my password is {}",
    "{} is my password",
    'DB_PASSWORD={} and api_key: "{}"',
    "IBAN {}",
    "Send it to {} please",
    "Regards,\nJohn {}",
    "Hi Ana, el número {} no funciona",
    "fax {}\n",
    "address {} port 8080",
    "version {} released on {}",
)


def _dataset_texts() -> Iterator[str]:
    for folder in (*SHARED, ROOT / "tests" / "data"):
        for path in sorted(folder.glob("guard_*.jsonl")) if folder.is_dir() else ():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    yield json.loads(line)["text"]


def _test_literals() -> Iterator[str]:
    """Every string constant of the guard, privacy and tracing tests (their cases)."""
    paths = [
        *sorted((ROOT / "tests" / "guards").glob("*.py")),
        ROOT / "tests" / "test_privacy.py",
        ROOT / "tests" / "test_no_pii_stored.py",
    ]
    for path in paths:
        if not path.is_file() or path.name == "redaction_corpus.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
                yield node.value


def _doc_paragraphs() -> Iterator[str]:
    for path in sorted((ROOT / "docs").glob("*.md")):
        for para in path.read_text(encoding="utf-8").split("\n\n"):
            if para.strip():
                yield para


def _bench_texts(n: int) -> Iterator[str]:
    from bench.ingest_concurrent import question

    for i in range(n):
        q = question(i, "Ticket" if i % 2 else "Case")
        yield q
        yield f"Here is what the manual says about {q[:60]}"
        yield f"human: {q}"


def _phone_notations() -> Iterator[str]:
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    from llmops.guards.pii import PHONE_REGIONS

    for region in PHONE_REGIONS:
        for kind in (
            PhoneNumberType.MOBILE,
            PhoneNumberType.FIXED_LINE,
            PhoneNumberType.TOLL_FREE,
            None,
        ):
            number = (
                phonenumbers.example_number(region)
                if kind is None
                else phonenumbers.example_number_for_type(region, kind)
            )
            if number is None:
                continue
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            yield national
            yield national.replace(" ", "")
            yield national.replace(" ", "-")
            yield national.replace(" ", ".")
            yield intl
            yield intl.replace(" ", "-")
            yield e164
            yield "00" + intl[1:]
            yield "011 " + intl[1:]
            yield f"({intl})"
            yield "+" + intl[1:].replace(" ", "")[:-2]  # one digit or two short


def _digits(rnd: random.Random, lo: int, hi: int) -> str:
    return "".join(rnd.choice(string.digits) for _ in range(rnd.randint(lo, hi)))


def _grouping(rnd: random.Random) -> str:
    digits = _digits(rnd, 2, 20)
    sep = rnd.choice(["", " ", "-", ".", "/", " - ", "  ", "(", ")", ", ", ":"])
    size = rnd.randint(1, 5)
    value = sep.join(digits[i : i + size] for i in range(0, len(digits), size))
    prefix = rnd.choice(["", "", "", "+", "+(", "(", "00", "x", "X-", "Y.", "a", "ab", "v", "#"])
    suffix = rnd.choice(["", "", "", ")", "Z", "L", "k", "ms", "%", ".5", "ab", "-"])
    return prefix + value + suffix


def _iban(rnd: random.Random) -> str:
    country, length = rnd.choice(
        [("ES", 24), ("DE", 22), ("FR", 27), ("GB", 22), ("IT", 27), ("NL", 18), ("PT", 25)]
    )
    letters = country in ("GB", "NL", "IT") and rnd.random() < 0.7
    bban = (
        "".join(rnd.choice(string.ascii_uppercase) for _ in range(4)) if letters else ""
    ) + _digits(rnd, length - 4 - (4 if letters else 0), length - 4 - (4 if letters else 0))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    if rnd.random() < 0.2:
        check = (check + 1) % 100
    value = f"{country}{check:02d}{bban}"
    style = rnd.random()
    if style < 0.4:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    elif style < 0.5:
        value = "-".join(value[i : i + 4] for i in range(0, len(value), 4))
    if rnd.random() < 0.3:
        value = value.lower()
    return value


def _es_id(rnd: random.Random) -> str:
    letters = "TRWAGMYFPDXBNJZSQVHLCKE"
    if rnd.random() < 0.5:
        number = _digits(rnd, 8, 8)
        value, letter = number, letters[int(number) % 23]
    else:
        prefix = rnd.choice("XYZ")
        number = _digits(rnd, 7, 7)
        letter = letters[int(str("XYZ".index(prefix)) + number) % 23]
        value = prefix + rnd.choice(["", "", "-", " ", "."]) + number
    if rnd.random() < 0.2:
        letter = rnd.choice(letters)
    if rnd.random() < 0.2:
        value = f"{value[:-6]}.{value[-6:-3]}.{value[-3:]}"
    sep = rnd.choice(["", "", "-", " "])
    out = value + sep + letter
    return out.lower() if rnd.random() < 0.2 else out


def _card(rnd: random.Random) -> str:
    first = rnd.choice(["4", "51", "55", "37", "6011", "2221", "35", "1"])
    length = rnd.choice([13, 15, 16, 16, 16, 19])
    body = first + _digits(rnd, length - len(first) - 1, length - len(first) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (1 if i % 2 else 2)
        total += d - 9 if d > 9 else d
    number = body + str((10 - total % 10) % 10)
    if rnd.random() < 0.2:
        number = number[:-1] + str((int(number[-1]) + 1) % 10)
    sep = rnd.choice(["", " ", "-", "."])
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def _ip(rnd: random.Random) -> str:
    r = rnd.random()
    if r < 0.5:
        return ".".join(str(rnd.randint(0, 300)) for _ in range(rnd.choice([3, 4, 4, 5])))
    if r < 0.6:
        return "::1" if rnd.random() < 0.5 else "::ffff:10.0.0." + str(rnd.randint(0, 255))
    groups = [format(rnd.randint(0, 0xFFFF), "x") for _ in range(rnd.randint(2, 8))]
    if rnd.random() < 0.4:
        groups[rnd.randrange(len(groups))] = ""
    return ":".join(groups)


def _email(rnd: random.Random) -> str:
    user = "".join(rnd.choice(string.ascii_letters + string.digits + "._+-") for _ in range(8))
    domain = rnd.choice(
        ["example.com", "mail.co.uk", "empresa.es", "x", "localhost", "a.b", "ex-ample.org", "a..b"]
    )
    return f"{user}@{domain}"


def _secret(rnd: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits
    kind = rnd.randrange(8)
    if kind == 0:
        return "sk-" + "".join(rnd.choice(alphabet) for _ in range(rnd.choice([20, 32, 48])))
    if kind == 1:
        return "AKIA" + "".join(
            rnd.choice(string.ascii_uppercase + string.digits) for _ in range(16)
        )
    if kind == 2:
        return "ghp_" + "".join(rnd.choice(alphabet) for _ in range(36))
    if kind == 3:
        return "".join(rnd.choice(alphabet + "/+") for _ in range(40))
    if kind == 4:
        return "eyJ" + "".join(rnd.choice(alphabet) for _ in range(20)) + ".eyJ" + "x" * 10 + ".abc"
    if kind == 5:
        return "".join(rnd.choice("0123456789abcdef") for _ in range(40))
    if kind == 6:
        return rnd.choice(["hunter2", "s3cr3t!", "Tr0ub4dor&3", "1234", "correct horse", "pw"])
    return "".join(rnd.choice(alphabet + "!@#$%") for _ in range(rnd.randint(4, 16)))


def _email_context(rnd: random.Random) -> str:
    """An address glued to punctuation, quotes, other addresses, tabs and newlines."""
    left = rnd.choice(["", " ", "(", "<", '"', "mailto:", "x", "@", "\t", "\n", "é", "_", "-", "."])
    right = rnd.choice(["", " ", ")", ">", '"', ",", ".", "@", "\t", "\n", "ñ", "_", "-", ".com"])
    middle = rnd.choice(["", "", ",", ";", "/", "@", " "])
    second = _email(rnd) if rnd.random() < 0.3 else ""
    return f"Contact{left}{_email(rnd)}{middle}{second}{right} please"


_VALUES = (_grouping, _grouping, _iban, _es_id, _card, _ip, _email, _secret, _email_context)


def _generated(rnd: random.Random, n: int) -> Iterator[str]:
    for i in range(n):
        sentence = rnd.choice(_SENTENCES)
        values = [rnd.choice(_VALUES)(rnd) for _ in range(sentence.count("{}"))]
        text = sentence.format(*values)
        if i % 7 == 0:
            text = (
                "The release notes cover retrieval, tracing and guards. " * rnd.randint(1, 14)
                + text
            )
        if i % 11 == 0:
            text = text + " " + rnd.choice(_SENTENCES).replace("{}", _grouping(rnd))
        yield text


def texts(limit: int | None = None, seed: int = 17) -> list[str]:
    """The corpus, de-duplicated, in a fixed order; ``limit`` keeps an evenly spread sample."""
    rnd = random.Random(seed)
    out: list[str] = []
    out += _dataset_texts()
    out += _test_literals()
    out += _doc_paragraphs()
    out += _bench_texts(600)
    phones = list(_phone_notations())
    out += phones
    for number in phones:
        out += [s.format(number, number) for s in rnd.sample(_SENTENCES, 3)]
    out += [_grouping(rnd) for _ in range(1500)]
    out += [f(rnd) for f in _VALUES for _ in range(150)]
    out += _generated(rnd, 5000)
    unique = list(dict.fromkeys(t for t in out if t))
    if limit is None or limit >= len(unique):
        return unique
    step = len(unique) / limit
    return [unique[int(i * step)] for i in range(limit)]
