"""Evaluation datasets: named, versioned sets of cases.

Items are never updated in place. Every change (an import, an edit, a removal, cases added
from traces) bumps the dataset's version once and records it on the rows it adds
(``added_in``) and retires (``removed_in``), so a run can say exactly which cases it scored
and any earlier version can be read back. A new dataset is at version 0 (no items).

Files (JSONL, one case a line, or CSV with a header) are validated whole before anything is
written: a bad line yields a per-line error and nothing is imported — that includes text no
store can hold (a lone surrogate such as the JSON escape ``"\ud800"``, named with its field)
and a CSV quote that is never closed (which Python's csv module would otherwise read as one
cell holding the rest of the file). Importing adds only the cases a dataset does not hold
yet, so importing the same file twice adds it once (``import_cases``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.store.db import Database
from llmops.store.models import (
    AuditLog,
    Dataset,
    DatasetItem,
    Feedback,
    GuardEvent,
    Trace,
    live_filter,
    utcnow,
)
from llmops.store.queries import escape_like
from llmops.text import clean_control, detect_lang

FIELDS = ("input", "expected", "must_include", "lang", "tags", "metadata", "origin_trace_id")
FORMATS = ("jsonl", "csv")
MAX_INPUT_CHARS = 100_000
MAX_CASES = 100_000
MAX_PHRASE_CHARS = 500
_NAME = re.compile(r"^\w[\w .:\-]{0,199}$")
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
MAX_LANG_CHARS = 10  # dataset_items.lang
_SURROGATE = re.compile("[\ud800-\udfff]")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


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
    metadata: dict[str, Any] = field(default_factory=dict)
    origin_trace_id: str | None = None

    def key(self) -> str:
        """Identity by content: used to sync a dataset with its file."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    def as_record(self) -> dict[str, Any]:
        """The import/export shape (empty optional fields left out)."""
        out: dict[str, Any] = {"input": self.input}
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


@dataclass
class DatasetInfo:
    id: int
    name: str
    description: str
    version: int
    source: str | None
    items: int
    created_at: datetime
    updated_at: datetime
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat()
        d["updated_at"] = self.updated_at.isoformat()
        return d


# -- validation --------------------------------------------------------------------------------
def _check_text(value: Any, where: str) -> None:
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


def _str_list(value: Any, name: str) -> list[str]:
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


def case_from_dict(obj: Any) -> Case:
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
    if origin is not None and (not isinstance(origin, str) or not _TRACE_ID.match(origin)):
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


def _no_constant(name: str) -> Any:
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


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidInputError(
            f"Dataset name {name!r} is not valid.",
            hint="1-200 characters: letters, digits, spaces, '.', ':', '-' or '_'",
        )
    return name


# -- reads -------------------------------------------------------------------------------------
def _current(dataset_id: int, version: int) -> Any:
    return and_(
        DatasetItem.dataset_id == dataset_id,
        DatasetItem.added_in <= version,
        or_(DatasetItem.removed_in.is_(None), DatasetItem.removed_in > version),
    )


def _info(s: Session, row: Dataset) -> DatasetInfo:
    count = s.scalar(
        select(func.count()).select_from(DatasetItem).where(_current(row.id, row.version))
    )
    return _to_info(row, int(count or 0))


def _to_info(row: Dataset, items: int) -> DatasetInfo:
    return DatasetInfo(
        row.id,
        row.name,
        row.description,
        row.version,
        row.source,
        items,
        row.created_at,
        row.updated_at,
        row.created_by,
    )


def _find(s: Session, dataset: str | int) -> Dataset | None:
    if isinstance(dataset, int):
        return s.get(Dataset, dataset)
    return s.scalar(select(Dataset).where(Dataset.name == dataset.strip()))


def _get(s: Session, dataset: str | int) -> Dataset:
    row = _find(s, dataset)
    if row is None:
        raise NotFoundError(f"Dataset {dataset!r} does not exist.")
    return row


def get_dataset(db: Database, dataset: str | int) -> DatasetInfo:
    with db.session() as s:
        return _info(s, _get(s, dataset))


def find_dataset(db: Database, name: str) -> DatasetInfo | None:
    with db.session() as s:
        row = _find(s, name)
        return _info(s, row) if row is not None else None


def list_datasets(db: Database, *, limit: int = 100, offset: int = 0) -> list[DatasetInfo]:
    """Newest change first, each with its item count at the current version (one query)."""
    count = (
        select(func.count())
        .where(
            DatasetItem.dataset_id == Dataset.id,
            DatasetItem.added_in <= Dataset.version,
            or_(DatasetItem.removed_in.is_(None), DatasetItem.removed_in > Dataset.version),
        )
        .scalar_subquery()
    )
    stmt = (
        select(Dataset, count.label("n"))
        .order_by(Dataset.updated_at.desc(), Dataset.id.desc())
        .limit(max(1, min(limit, 500)))
        .offset(max(0, offset))
    )
    with db.session() as s:
        return [_to_info(row, int(n or 0)) for row, n in s.execute(stmt)]


def _item(row: DatasetItem) -> Item:
    return Item(
        input=row.input,
        expected=row.expected,
        must_include=list(row.must_include or []),
        lang=row.lang,
        tags=list(row.tags or []),
        metadata=dict(row.meta or {}),
        origin_trace_id=row.origin_trace_id,
        id=row.id,
        added_in=row.added_in,
    )


def list_items(
    db: Database,
    dataset: str | int,
    *,
    version: int | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Item], int]:
    """One page of the items at ``version`` (default: current), oldest first, and the total."""
    with db.session() as s:
        row = _get(s, dataset)
        v = row.version if version is None else version
        if not 0 <= v <= row.version:
            raise InvalidInputError(f"Dataset {row.name!r} has versions 0 to {row.version}.")
        cond = _current(row.id, v)
        if text and text.strip():
            pattern = f"%{escape_like(text.strip())}%"
            cond = and_(
                cond,
                or_(
                    DatasetItem.input.ilike(pattern, escape="\\"),
                    DatasetItem.expected.ilike(pattern, escape="\\"),
                ),
            )
        total = s.scalar(select(func.count()).select_from(DatasetItem).where(cond))
        rows = s.scalars(
            select(DatasetItem)
            .where(cond)
            .order_by(DatasetItem.id)
            .limit(max(1, min(limit, 500)))
            .offset(max(0, offset))
        ).all()
        return [_item(r) for r in rows], int(total or 0)


def all_items(db: Database, dataset_id: int, version: int) -> list[Item]:
    """Every item of one version, in id order (for runs and exports), read in pages."""
    out: list[Item] = []
    last = 0
    while True:
        with db.session() as s:
            rows = s.scalars(
                select(DatasetItem)
                .where(_current(dataset_id, version), DatasetItem.id > last)
                .order_by(DatasetItem.id)
                .limit(1000)
            ).all()
        if not rows:
            return out
        out.extend(_item(r) for r in rows)
        last = rows[-1].id


def export_cases(
    db: Database,
    dataset: str | int,
    *,
    version: int | None = None,
    fmt: str = "jsonl",
    actor: Actor | str = "system",
) -> str:
    """The items as an importable JSONL or CSV document (the export is audited)."""
    actor = require(db, actor, Capability.DATASETS, action="dataset.export")
    if fmt not in FORMATS:
        raise InvalidInputError(f"Unknown export format {fmt!r}; use jsonl or csv.")
    info = get_dataset(db, dataset)
    v = info.version if version is None else version
    if not 0 <= v <= info.version:
        raise InvalidInputError(f"Dataset {info.name!r} has versions 0 to {info.version}.")
    records = [i.case().as_record() for i in all_items(db, info.id, v)]
    with db.session() as s:
        _audit(s, actor, "dataset.export", info.name, version=v, format=fmt, items=len(records))
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow(
            {
                "input": r["input"],
                "expected": r.get("expected", ""),
                "must_include": json.dumps(r["must_include"], ensure_ascii=False)
                if r.get("must_include")
                else "",
                "lang": r.get("lang", ""),
                "tags": json.dumps(r["tags"], ensure_ascii=False) if r.get("tags") else "",
                "metadata": json.dumps(r["metadata"], ensure_ascii=False)
                if r.get("metadata")
                else "",
                "origin_trace_id": r.get("origin_trace_id", ""),
            }
        )
    return buf.getvalue()


# -- writes ------------------------------------------------------------------------------------
def _bump(s: Session, dataset_id: int) -> int:
    """Take the next version with one ``UPDATE … RETURNING``: concurrent writers queue on the
    row (PostgreSQL) or the database (SQLite) instead of both reading v and writing v+1."""
    table = cast(Table, Dataset.__table__)
    version = (
        s.connection()
        .execute(
            update(table)
            .where(table.c.id == dataset_id)
            .values(version=table.c.version + 1, updated_at=utcnow())
            .returning(table.c.version)
        )
        .scalar_one()
    )
    row = s.get(Dataset, dataset_id)
    if row is not None:
        s.expire(row, ["version", "updated_at"])
    return int(version)


def _row_for(case: Case, dataset_id: int, version: int) -> DatasetItem:
    return DatasetItem(
        dataset_id=dataset_id,
        input=case.input,
        expected=case.expected,
        must_include=list(case.must_include) or None,
        lang=case.lang or detect_lang(case.input),
        tags=list(case.tags) or None,
        meta=dict(case.metadata) or None,
        origin_trace_id=case.origin_trace_id,
        added_in=version,
    )


def _audit(s: Session, actor: str, action: str, target: str, **details: Any) -> None:
    s.add(AuditLog(actor=actor, action=action, target=target, details=details or None))


def _get_or_create(
    s: Session, name: str, *, description: str, actor: str, source: str | None, create: bool
) -> Dataset:
    row = _find(s, name)
    if row is not None:
        return row
    if not create:
        raise NotFoundError(f"Dataset {name!r} does not exist.")
    row = Dataset(
        name=check_name(name),
        description=description,
        version=0,
        source=source,
        created_by=actor,
    )
    s.add(row)
    s.flush()
    _audit(s, actor, "dataset.create", name)
    return row


def create_dataset(
    db: Database, name: str, *, description: str = "", actor: Actor | str = "system"
) -> DatasetInfo:
    actor = require(db, actor, Capability.DATASETS, action="dataset.create")
    name = check_name(name)
    with db.session() as s:
        if _find(s, name) is not None:
            raise InvalidInputError(f"Dataset {name!r} already exists.")
        return _info(
            s,
            _get_or_create(s, name, description=description, actor=actor, source=None, create=True),
        )


def import_cases(
    db: Database,
    dataset: str,
    cases: Sequence[Case],
    *,
    actor: Actor | str = "system",
    create: bool = True,
    description: str = "",
) -> tuple[DatasetInfo, int]:
    """Add the ``cases`` the dataset does not hold yet as one new version (creating the
    dataset if needed); all or nothing. Returns the dataset and how many cases were added.

    A case already in the current version (same content: ``Case.key``) is not added again,
    counted as a multiset (a file that lists a case twice adds it twice, once): importing
    the same file twice adds its cases once, and an import with nothing new makes no version.
    """
    actor = require(db, actor, Capability.DATASETS, action="dataset.import")
    name = check_name(dataset)
    if not cases:
        raise InvalidInputError("No cases to add.")
    with db.session() as s:
        row = _get_or_create(
            s, name, description=description, actor=actor, source=None, create=create
        )
        have = Counter(
            _item(i).case().key()
            for i in s.scalars(select(DatasetItem).where(_current(row.id, row.version)))
        )
        new = []
        for c in cases:
            if have[c.key()] > 0:
                have[c.key()] -= 1
            else:
                new.append(c)
        if not new:
            return _info(s, row), 0
        version = _bump(s, row.id)
        s.add_all(_row_for(c, row.id, version) for c in new)
        _audit(s, actor, "dataset.add", row.name, version=version, items=len(new),
               already_present=len(cases) - len(new))  # fmt: skip
        s.flush()
        return _info(s, row), len(new)


def add_cases(
    db: Database,
    dataset: str,
    cases: Sequence[Case],
    *,
    actor: Actor | str = "system",
    create: bool = True,
    description: str = "",
) -> DatasetInfo:
    """``import_cases`` for callers that only need the dataset."""
    actor = require(db, actor, Capability.DATASETS, action="dataset.add")
    info, _ = import_cases(db, dataset, cases, actor=actor, create=create, description=description)
    return info


def _current_row(s: Session, row: Dataset, item_id: int) -> DatasetItem:
    item = s.get(DatasetItem, item_id)
    if item is None or item.dataset_id != row.id or item.removed_in is not None:
        raise NotFoundError(f"Item {item_id} is not in the current version of {row.name!r}.")
    return item


def update_item(
    db: Database, dataset: str | int, item_id: int, case: Case, *, actor: Actor | str = "system"
) -> Item:
    """Replace an item: the old row is retired and the edited case added, in one version."""
    actor = require(db, actor, Capability.DATASETS, action="dataset.update_item")
    with db.session() as s:
        row = _get(s, dataset)
        old = _current_row(s, row, item_id)
        if case.origin_trace_id is None:
            case.origin_trace_id = old.origin_trace_id
        if _item(old).case().key() == case.key():
            return _item(old)
        version = _bump(s, row.id)
        old.removed_in = version
        new = _row_for(case, row.id, version)
        s.add(new)
        _audit(s, actor, "dataset.edit", row.name, version=version, item=item_id)
        s.flush()
        return _item(new)


def remove_items(
    db: Database, dataset: str | int, item_ids: Iterable[int], *, actor: Actor | str = "system"
) -> int:
    actor = require(db, actor, Capability.DATASETS, action="dataset.remove_items")
    ids = sorted(set(item_ids))
    if not ids:
        raise InvalidInputError("No items to remove.")
    with db.session() as s:
        row = _get(s, dataset)
        items = [_current_row(s, row, i) for i in ids]
        version = _bump(s, row.id)
        for item in items:
            item.removed_in = version
        _audit(s, actor, "dataset.remove", row.name, version=version, items=ids)
        return len(items)


def sync_from_file(
    db: Database, name: str, cases: Sequence[Case], *, source: str, actor: Actor | str = "system"
) -> tuple[DatasetInfo, bool]:
    """Make dataset ``name`` hold exactly ``cases`` (its file is the source of truth).

    Unchanged cases keep their ids (so runs over successive versions stay comparable);
    removed ones are retired and new ones added, as one version. Returns (info, changed).
    A dataset curated in the console is never overwritten by a file.
    """
    actor = require(db, actor, Capability.DATASETS, action="dataset.sync")
    name = check_name(name)
    with db.session() as s:
        row = _find(s, name)
        if row is not None and row.source != source:
            raise InvalidInputError(
                f"Dataset {name!r} already exists and does not come from {source!r}.",
                hint="pass the dataset's name instead of the file, or rename the file",
            )
        row = _get_or_create(
            s, name, description=f"Synced from {source}", actor=actor, source=source, create=True
        )
        current = s.scalars(
            select(DatasetItem).where(_current(row.id, row.version)).order_by(DatasetItem.id)
        ).all()
        wanted = Counter(c.key() for c in cases)
        keep: Counter[str] = Counter()
        retire = []
        for item in current:
            key = _item(item).case().key()
            if keep[key] < wanted[key]:
                keep[key] += 1
            else:
                retire.append(item)
        have = Counter(keep)
        add = []
        for c in cases:
            if have[c.key()] > 0:
                have[c.key()] -= 1
            else:
                add.append(c)
        if not retire and not add:
            return _info(s, row), False
        version = _bump(s, row.id)
        for item in retire:
            item.removed_in = version
        s.add_all(_row_for(c, row.id, version) for c in add)
        _audit(s, actor, "dataset.sync", name, version=version, added=len(add), removed=len(retire))
        s.flush()
        return _info(s, row), True


DEMO_PATH = Path(__file__).resolve().parent / "data" / "demo.jsonl"
DEMO_NAME = "demo"


def load_demo(db: Database, *, actor: Actor | str = "system") -> DatasetInfo:
    """Create (or bring up to date) the shipped demo dataset: English and Spanish questions
    about the default knowledge base."""
    actor = require(db, actor, Capability.DATASETS, action="dataset.load_demo")
    cases = parse_jsonl(DEMO_PATH.read_bytes(), DEMO_PATH.name)
    info, _ = sync_from_file(db, DEMO_NAME, cases, source="shipped:demo", actor=actor)
    return info


# -- from traces -------------------------------------------------------------------------------
def _normal_ids(trace_ids: Iterable[str]) -> list[str]:
    ids: list[str] = []
    for raw in trace_ids:
        tid = str(raw).strip().lower()
        if tid and tid not in ids:
            ids.append(tid)
    return ids


def add_from_traces(
    db: Database,
    dataset_name: str,
    trace_ids: list[str],
    *,
    actor: Actor | str,
    expected: dict[str, str] | None = None,
) -> int:
    """Add the (already redacted) inputs of traces as cases of ``dataset_name``.

    Creates the dataset if it is missing, keeps each trace as the item's origin, takes a
    corrected answer per trace from ``expected``, skips traces already in the dataset, and
    bumps the version once. Unknown trace ids raise ``NotFoundError`` and add nothing.
    Returns the number of items added.
    """
    actor = require(db, actor, Capability.DATASETS, action="dataset.add_from_traces")
    ids = _normal_ids(trace_ids)
    if not ids:
        raise InvalidInputError("No trace ids given.")
    fixes = {k.strip().lower(): v for k, v in (expected or {}).items()}
    with db.session() as s:
        traces = {t.id: t for t in s.scalars(select(Trace).where(Trace.id.in_(ids)))}
        missing = [t for t in ids if t not in traces]
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            raise NotFoundError(f"{len(missing)} trace(s) do not exist: {shown}")
        empty = [t for t in ids if not (traces[t].input or "").strip()]
        if empty:
            raise InvalidInputError(f"Trace {empty[0]} has no input to use as a case.")
        row = _get_or_create(
            s,
            dataset_name,
            description="Built from traces",
            actor=actor,
            source=None,
            create=True,
        )
        present = set(
            s.scalars(
                select(DatasetItem.origin_trace_id).where(
                    _current(row.id, row.version), DatasetItem.origin_trace_id.in_(ids)
                )
            )
        )
        todo = [t for t in ids if t not in present]
        if not todo:
            return 0
        feedback: dict[str, list[Feedback]] = {}
        for fb in s.scalars(
            select(Feedback).where(Feedback.trace_id.in_(todo)).order_by(Feedback.created_at)
        ):
            feedback.setdefault(fb.trace_id, []).append(fb)
        version = _bump(s, row.id)
        for tid in todo:
            t = traces[tid]
            fbs = feedback.get(tid, [])
            comments = [f.comment for f in fbs if f.comment]
            meta: dict[str, Any] = {"trace_output": (t.output or "")[:4000]}
            if t.release_id:
                meta["release_id"] = t.release_id
            if comments:
                meta["feedback_comment"] = comments[-1]
            tags = ["from-trace"]
            if any(f.score < 0.5 for f in fbs):
                tags.append("thumbs-down")
            fix = (fixes.get(tid) or "").strip() or None
            text = (t.input or "").strip()
            s.add(
                _row_for(
                    Case(
                        input=text,
                        expected=fix,
                        lang=detect_lang(text),
                        tags=tags,
                        metadata=meta,
                        origin_trace_id=tid,
                    ),
                    row.id,
                    version,
                )
            )
        _audit(s, actor, "dataset.from_traces", row.name, version=version, traces=todo)
        return len(todo)


@dataclass
class TraceCandidate:
    """A trace that could become a case: what was asked, answered, and said about it."""

    id: str
    started_at: datetime
    input: str | None
    output: str | None
    release_id: str | None
    status: str
    comment: str | None
    thumbs_down: int
    guard_events: int

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        return d


@dataclass
class TraceQuery:
    feedback: str | None = "down"  # down | up | None (any)
    guard_events: bool = False  # only traces with a guardrail event
    since: datetime | None = None
    until: datetime | None = None
    exclude_in_datasets: bool = True  # leave out traces some dataset already holds


def candidate_traces(
    db: Database, q: TraceQuery | None = None, *, limit: int = 50, offset: int = 0
) -> tuple[list[TraceCandidate], int]:
    """Chat traces (never evaluation traces) matching ``q``, newest first, paged in SQL."""
    q = q or TraceQuery()
    down = Feedback.score < 0.5
    conds: list[Any] = [live_filter(Trace.session_id)]
    if q.feedback in ("up", "down"):
        good = down if q.feedback == "down" else Feedback.score >= 0.5
        conds.append(exists().where(Feedback.trace_id == Trace.id, good))
    if q.guard_events:
        conds.append(exists().where(GuardEvent.trace_id == Trace.id))
    if q.since is not None:
        conds.append(Trace.started_at >= q.since)
    if q.until is not None:
        conds.append(Trace.started_at < q.until)
    if q.exclude_in_datasets:
        conds.append(
            ~exists().where(
                DatasetItem.origin_trace_id == Trace.id, DatasetItem.removed_in.is_(None)
            )
        )
    comment = (
        select(Feedback.comment)
        .where(Feedback.trace_id == Trace.id, Feedback.comment.is_not(None))
        .order_by(Feedback.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    n_down = select(func.count()).where(Feedback.trace_id == Trace.id, down).scalar_subquery()
    n_events = select(func.count()).where(GuardEvent.trace_id == Trace.id).scalar_subquery()
    stmt = (
        select(
            Trace.id,
            Trace.started_at,
            func.substr(Trace.input, 1, 500).label("input"),
            func.substr(Trace.output, 1, 500).label("output"),
            Trace.release_id,
            Trace.status,
            comment.label("comment"),
            n_down.label("thumbs_down"),
            n_events.label("guard_events"),
        )
        .where(*conds)
        .order_by(Trace.started_at.desc(), Trace.id.desc())
        .limit(max(1, min(limit, 500)))
        .offset(max(0, offset))
    )
    total = select(func.count()).select_from(Trace).where(*conds)
    with db.session() as s:
        rows = [TraceCandidate(**r._mapping) for r in s.execute(stmt)]
        return rows, int(s.scalar(total) or 0)
