"""The audit log: who changed what, when — written by every state change, read here.

``record`` writes one row. ``page`` lists rows newest first, filtered by actor, action
(exact, or a family such as ``release`` for ``release.*``) and time, paged in SQL by keyset
(``before_id``), so a deep page costs what the first does; the filters walk the indexes of
migration 0011 (``actor, at`` and ``action, at``). ``export`` streams the same selection as
CSV or JSONL in id order, a bounded batch at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select

from llmops.errors import InvalidInputError
from llmops.store.db import Database
from llmops.store.models import AuditLog
from llmops.types import JSONDict

FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("id", "at", "actor", "action", "target", "details")
MAX_PAGE = 500
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # "release.promote", or a family: "release"
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any] | None

    def as_dict(self) -> JSONDict:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


def record(
    db: Database, actor: str, action: str, target: str | None = None, /, **details: Any
) -> int:
    """Write one audit row; returns its id (``details`` may hold any key, even ``actor``)."""
    with db.session() as s:
        row = AuditLog(actor=actor, action=action, target=target, details=details or None)
        s.add(row)
        s.flush()
        return row.id


def _where(stmt: Select[Any], flt: AuditFilter) -> Select[Any]:
    if flt.actor:
        stmt = stmt.where(AuditLog.actor == flt.actor.strip())
    if flt.action:
        action = flt.action.strip()
        if "." in action:
            stmt = stmt.where(AuditLog.action == action)
        else:  # a family: "release" is release.create, release.promote, ...
            stmt = stmt.where(
                or_(AuditLog.action == action, AuditLog.action.startswith(f"{action}.",
                                                                          autoescape=True))
            )  # fmt: skip
    if flt.since is not None:
        stmt = stmt.where(AuditLog.at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(AuditLog.at < flt.until)
    return stmt


def _row(r: AuditLog) -> AuditRow:
    return AuditRow(r.id, r.at, r.actor, r.action, r.target, r.details)


def page(
    db: Database, flt: AuditFilter | None = None, *, limit: int = 50, before_id: int | None = None
) -> tuple[list[AuditRow], bool]:
    """Up to ``limit`` rows older than ``before_id`` (newest first) and whether more follow."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"A page holds 1 to {MAX_PAGE} rows, not {limit}.")
    stmt = _where(select(AuditLog), flt or AuditFilter())
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    stmt = stmt.order_by(AuditLog.id.desc()).limit(limit + 1)
    with db.session() as s:
        rows = [_row(r) for r in s.scalars(stmt)]
    return rows[:limit], len(rows) > limit


def count(db: Database, flt: AuditFilter | None = None) -> int:
    with db.session() as s:
        return int(s.scalar(_where(select(func.count(AuditLog.id)), flt or AuditFilter())) or 0)


def actors(db: Database, *, limit: int = 200) -> list[str]:
    """Distinct actors (for a filter picker), from the (actor, at) index."""
    with db.session() as s:
        return list(s.scalars(select(AuditLog.actor).distinct().order_by(AuditLog.actor)
                              .limit(limit)))  # fmt: skip


def actions(db: Database, *, limit: int = 500) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)
                              .limit(limit)))  # fmt: skip


def _rows(db: Database, flt: AuditFilter) -> Iterator[AuditRow]:
    after = 0
    while True:
        stmt = _where(select(AuditLog), flt).where(AuditLog.id > after)
        with db.session() as s:
            batch = [_row(r) for r in s.scalars(stmt.order_by(AuditLog.id).limit(EXPORT_BATCH))]
        if not batch:
            return
        yield from batch
        after = batch[-1].id


def export_lines(db: Database, flt: AuditFilter | None = None, fmt: str = "jsonl") -> Iterator[str]:
    """The selection as CSV (a header first) or JSONL, one line (or row) at a time."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"Export format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    flt = flt or AuditFilter()
    if fmt == "jsonl":
        for r in _rows(db, flt):
            yield json.dumps(r.as_dict(), ensure_ascii=False, default=str) + "\n"
        return
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in _rows(db, flt):
        d = r.as_dict()
        d["details"] = json.dumps(d["details"], ensure_ascii=False) if d["details"] else ""
        writer.writerow([_cell(d[c]) for c in CSV_COLUMNS])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    if buf.getvalue():
        yield buf.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def export_text(db: Database, flt: AuditFilter | None = None, fmt: str = "jsonl") -> str:
    """The whole export as one string (for a download button, which needs str or bytes)."""
    return "".join(export_lines(db, flt, fmt))
