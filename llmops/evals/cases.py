"""Evaluation cases and the files they come in (JSONL, CSV): parsed and validated whole.

A bad line yields a per-line error and nothing is imported — that includes text no store can
hold (a lone surrogate such as the JSON escape ``"\\ud800"``, named with its field) and a CSV
quote that is never closed (which Python's csv module would otherwise read as one cell holding
the rest of the file). Storage is ``llmops.evals.datasets``; cases mined from traces,
``llmops.evals.mining``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from llmops.errors import InvalidInputError, NotFoundError
from llmops.text import clean_control, detect_lang
from llmops.types import JSONDict

FIELDS = ("input", "expected", "must_include", "lang", "tags", "metadata", "origin_trace_id")
FORMATS = ("jsonl", "csv")
MAX_INPUT_CHARS = 100_000
MAX_CASES = 100_000
MAX_PHRASE_CHARS = 500
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
MAX_LANG_CHARS = 10  # dataset_items.lang
_SURROGATE = re.compile("[\ud800-\udfff]")
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


class InvalidFileError(InvalidInputError):
    """A dataset file with invalid lines; ``errors`` lists (line number, message)."""

    def __init__(self, source: str, errors: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"line {n}: {m}" for n, m in errors[:5])
        more = f"; …and {len(errors) - 5} more" if len(errors) > 5 else ""
        super().__init__(
            f"{source}: {len(errors)} invalid line(s), nothing imported — {shown}{more}"
        )
        self.errors = errors


@dataclass
class Case:
    """One evaluation case as imported or edited (no identity yet)."""

    input: str
    expected: str | None = None
    must_include: list[str] = field(default_factory=list)
    lang: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: JSONDict = field(default_factory=dict)
    origin_trace_id: str | None = None

    def key(self) -> str:
        """Identity by content: used to sync a dataset with its file."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    def as_record(self) -> JSONDict:
        """The import/export shape (empty optional fields left out)."""
        out: JSONDict = {"input": self.input}
        for name in FIELDS[1:]:
            value = getattr(self, name)
            if value not in (None, [], {}):
                out[name] = value
        return out


@dataclass
class Item(Case):
    """A stored case at some dataset version."""

    id: int = 0
    added_in: int = 0

    def case(self) -> Case:
        return Case(
            self.input,
            self.expected,
            list(self.must_include),
            self.lang,
            list(self.tags),
            dict(self.metadata),
            self.origin_trace_id,
        )


# -- validation --------------------------------------------------------------------------------
def _check_text(value: object, where: str) -> None:
    """Reject a lone surrogate anywhere in a field: JSON can spell one (``"\ud800"``), but it
    is not Unicode text and no store can encode it."""
    if isinstance(value, str):
        m = _SURROGATE.search(value)
        if m:
            raise ValueError(
                f"'{where}' contains {m.group()!r} at character {m.start() + 1}, "
                "a lone surrogate (not valid Unicode text)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(str(key)):
                raise ValueError(f"'{where}' has a key with a lone surrogate ({key!r})")
            _check_text(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_text(item, f"{where}[{i}]")


def _str_list(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{name}' must be a list of strings")
    out = [clean_control(v).strip() for v in value]
    if any(not v for v in out):
        raise ValueError(f"'{name}' has an empty entry")
    if any(len(v) > MAX_PHRASE_CHARS for v in out):
        raise ValueError(f"'{name}' has an entry longer than {MAX_PHRASE_CHARS} characters")
    return out


def case_from_dict(obj: object) -> Case:
    """Validate one record of the import format; ``ValueError`` says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(FIELDS)})"
        )
    for name, value in obj.items():
        _check_text(value, name)
    text = obj.get("input")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("'input' is required and must be a non-empty string")
    text = clean_control(text).strip()
    if len(text) > MAX_INPUT_CHARS:
        raise ValueError(f"'input' is longer than {MAX_INPUT_CHARS:,} characters")
    expected = obj.get("expected")
    if expected is not None and not isinstance(expected, str):
        raise ValueError("'expected' must be a string")
    expected = (clean_control(expected).strip() or None) if expected is not None else None
    lang = obj.get("lang")
    if lang is not None:
        if (
            not isinstance(lang, str)
            or not _LANG.match(lang.strip().lower())
            or len(lang.strip()) > MAX_LANG_CHARS
        ):
            raise ValueError(f"'lang' must be a language code such as 'en' or 'es', not {lang!r}")
        lang = lang.strip().lower()
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError("'metadata' must be a JSON object")
    pattern = metadata.get("regex")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise ValueError("'metadata.regex' must be a string")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"'metadata.regex' is not a valid regular expression: {exc}") from None
    origin = obj.get("origin_trace_id")
    if origin is not None and (not isinstance(origin, str) or not TRACE_ID.match(origin)):
        raise ValueError("'origin_trace_id' must be a 32-character hex trace id")
    return Case(
        input=text,
        expected=expected,
        must_include=_str_list(obj.get("must_include"), "must_include"),
        lang=lang or detect_lang(text),
        tags=_str_list(obj.get("tags"), "tags"),
        metadata=metadata,
        origin_trace_id=origin,
    )


def _decode(data: bytes | str, source: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{source}: not UTF-8 text (byte {exc.start}); save the file as UTF-8."
        ) from None


def _finish(cases: list[Case], errors: list[tuple[int, str]], source: str) -> list[Case]:
    if errors:
        raise InvalidFileError(source, errors)
    if not cases:
        raise InvalidInputError(f"{source}: no cases found (one JSON object a line, or a CSV).")
    if len(cases) > MAX_CASES:
        raise InvalidInputError(f"{source}: {len(cases):,} cases; the limit is {MAX_CASES:,}.")
    return cases


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def _json(text: str) -> Any:
    """Strict JSON: Python's ``NaN`` / ``Infinity`` extensions are not accepted."""
    return json.loads(text, parse_constant=_no_constant)


def parse_jsonl(data: bytes | str, source: str = "input") -> list[Case]:
    cases: list[Case] = []
    errors: list[tuple[int, str]] = []
    # lines end at "\n" only: str.splitlines() would also split at U+2028 and other
    # separators, which JSON strings may hold as they are (our own exports do)
    for n, line in enumerate(_decode(data, source).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = _json(line)
        except json.JSONDecodeError as exc:
            errors.append((n, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        except ValueError as exc:
            errors.append((n, f"not valid JSON ({exc})"))
            continue
        try:
            cases.append(case_from_dict(obj))
        except ValueError as exc:
            errors.append((n, str(exc)))
    return _finish(cases, errors, source)


def _csv_list(cell: str) -> list[str] | Any:
    cell = cell.strip()
    if not cell:
        return None
    if cell.startswith("["):
        return _json(cell)
    return [p.strip() for p in cell.split("|")]


def parse_csv(data: bytes | str, source: str = "input") -> list[Case]:
    """A header row naming the fields; ``must_include`` and ``tags`` as ``a|b`` or a JSON
    list, ``metadata`` as a JSON object."""
    text = _decode(data, source)
    # strict: a quote that is never closed is an error, not one cell holding the rest
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise InvalidFileError(source, [(1, _csv_problem(exc))]) from None
    if "input" not in header:
        raise InvalidFileError(source, [(1, "the header row must name an 'input' column")])
    reader.fieldnames = header
    cases: list[Case] = []
    errors: list[tuple[int, str]] = []
    try:
        for row in reader:
            n = reader.line_num
            if None in row:
                errors.append((n, "more cells than header columns"))
                continue
            if not any((v or "").strip() for v in row.values()):
                continue
            try:
                obj: dict[str, Any] = {}
                for key, value in row.items():
                    value = value or ""
                    if key in ("must_include", "tags"):
                        obj[key] = _csv_list(value)
                    elif key == "metadata":
                        obj[key] = _json(value) if value.strip() else None
                    else:
                        obj[key] = value if value.strip() or key == "input" else None
                cases.append(case_from_dict(obj))
            except json.JSONDecodeError as exc:
                errors.append((n, f"a JSON cell is not valid JSON ({exc.msg})"))
            except ValueError as exc:
                errors.append((n, str(exc)))
    except csv.Error as exc:
        errors.append((_record_start(text, reader.line_num), _csv_problem(exc)))
    return _finish(cases, errors, source)


def _csv_problem(exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc):
        return "a quoted cell starts on this line and is never closed (a missing '\"')"
    return f"not valid CSV ({exc})"


def _record_start(text: str, last_good: int) -> int:
    """The line where the record after line ``last_good`` starts (blank lines skipped)."""
    for n, line in enumerate(io.StringIO(text, newline=""), start=1):
        if n > last_good and line.strip("\r\n"):
            return n
    return last_good + 1


def parse_cases(data: bytes | str, fmt: str, source: str = "input") -> list[Case]:
    if fmt not in FORMATS:
        raise InvalidInputError(f"Unknown dataset format {fmt!r}; use jsonl or csv.")
    return parse_jsonl(data, source) if fmt == "jsonl" else parse_csv(data, source)


def format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise InvalidInputError(f"{path.name}: use a .jsonl or .csv file.")


def read_cases(path: Path) -> list[Case]:
    path = Path(path)
    fmt = format_for(path)
    if not path.is_file():
        raise NotFoundError(f"Dataset file {str(path)!r} does not exist.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot read dataset file {str(path)!r}: {exc.strerror or exc}."
        ) from None
    return parse_cases(data, fmt, path.name)
