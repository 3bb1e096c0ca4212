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
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from llmops.errors import InvalidInputError, NotFoundError
from llmops.evals.cases import (
    FIELDS,
    FORMATS,
    MAX_CASES,
    Case,
    InvalidFileError,
    Item,
    case_from_dict,
    format_for,
    parse_cases,
    parse_csv,
    parse_jsonl,
    read_cases,
)
from llmops.governance.roles import Actor, Capability, require
from llmops.store.db import Database
from llmops.store.models import (
    AuditLog,
    Dataset,
    DatasetItem,
    utcnow,
)
from llmops.store.queries import escape_like
from llmops.text import detect_lang
from llmops.types import JSONDict, JSONValue

_NAME = re.compile(r"^\w[\w .:\-]{0,199}$")

# the case format is llmops.evals.cases; callers may keep reading it from here
__all__ = [
    "DEMO_NAME",
    "DEMO_PATH",
    "FIELDS",
    "FORMATS",
    "MAX_CASES",
    "Case",
    "DatasetInfo",
    "InvalidFileError",
    "Item",
    "add_cases",
    "all_items",
    "audit",
    "bump_version",
    "case_from_dict",
    "check_name",
    "create_dataset",
    "current_items",
    "export_cases",
    "find_dataset",
    "format_for",
    "get_dataset",
    "get_or_create",
    "import_cases",
    "item_row",
    "list_datasets",
    "list_items",
    "load_demo",
    "parse_cases",
    "parse_csv",
    "parse_jsonl",
    "read_cases",
    "remove_items",
    "sync_from_file",
    "update_item",
]


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

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat()
        d["updated_at"] = self.updated_at.isoformat()
        return d


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidInputError(
            f"Dataset name {name!r} is not valid.",
            hint="1-200 characters: letters, digits, spaces, '.', ':', '-' or '_'",
        )
    return name


# -- reads -------------------------------------------------------------------------------------
def current_items(dataset_id: int, version: int) -> ColumnElement[bool]:
    return and_(
        DatasetItem.dataset_id == dataset_id,
        DatasetItem.added_in <= version,
        or_(DatasetItem.removed_in.is_(None), DatasetItem.removed_in > version),
    )


def _info(s: Session, row: Dataset) -> DatasetInfo:
    count = s.scalar(
        select(func.count()).select_from(DatasetItem).where(current_items(row.id, row.version))
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
        cond = current_items(row.id, v)
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
                .where(current_items(dataset_id, version), DatasetItem.id > last)
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
        audit(s, actor, "dataset.export", info.name, version=v, format=fmt, items=len(records))
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
def bump_version(s: Session, dataset_id: int) -> int:
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


def item_row(case: Case, dataset_id: int, version: int) -> DatasetItem:
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


def audit(s: Session, actor: str, action: str, target: str, **details: JSONValue) -> None:
    s.add(AuditLog(actor=actor, action=action, target=target, details=details or None))


def get_or_create(
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
    audit(s, actor, "dataset.create", name)
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
            get_or_create(s, name, description=description, actor=actor, source=None, create=True),
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
        row = get_or_create(
            s, name, description=description, actor=actor, source=None, create=create
        )
        have = Counter(
            _item(i).case().key()
            for i in s.scalars(select(DatasetItem).where(current_items(row.id, row.version)))
        )
        new = []
        for c in cases:
            if have[c.key()] > 0:
                have[c.key()] -= 1
            else:
                new.append(c)
        if not new:
            return _info(s, row), 0
        version = bump_version(s, row.id)
        s.add_all(item_row(c, row.id, version) for c in new)
        audit(s, actor, "dataset.add", row.name, version=version, items=len(new),
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
        version = bump_version(s, row.id)
        old.removed_in = version
        new = item_row(case, row.id, version)
        s.add(new)
        audit(s, actor, "dataset.edit", row.name, version=version, item=item_id)
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
        version = bump_version(s, row.id)
        for item in items:
            item.removed_in = version
        audit(s, actor, "dataset.remove", row.name, version=version, items=ids)
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
        row = get_or_create(
            s, name, description=f"Synced from {source}", actor=actor, source=source, create=True
        )
        current = s.scalars(
            select(DatasetItem).where(current_items(row.id, row.version)).order_by(DatasetItem.id)
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
        version = bump_version(s, row.id)
        for item in retire:
            item.removed_in = version
        s.add_all(item_row(c, row.id, version) for c in add)
        audit(s, actor, "dataset.sync", name, version=version, added=len(add), removed=len(retire))
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
