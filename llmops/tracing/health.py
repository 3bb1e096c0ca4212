"""How well tracing is keeping its promise: quarantined records, losses, the spool.

Read by the Overview's banner, the ``trace_loss`` alert metric and ``llmops db doctor``.
Every query is an indexed count or a short, ordered page (``quarantine.at``,
``tracing_incidents.at``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, select

from llmops.store.db import Database
from llmops.store.migrate import current_revision, head_revision
from llmops.store.models import Quarantine, TracingIncident
from llmops.tracing.writer import COLUMNS, KINDS, SpanWriter, unavailable
from llmops.types import JSONDict


@dataclass
class Losses:
    """Trace records not stored as they came, in a time range (all processes)."""

    quarantined: int = 0
    dropped: int = 0
    refused: int = 0

    @property
    def total(self) -> int:
        return self.quarantined + self.dropped + self.refused


def losses(db: Database, since: datetime | None = None, until: datetime | None = None) -> Losses:
    q = select(func.count()).select_from(Quarantine)
    i = select(TracingIncident.kind, func.coalesce(func.sum(TracingIncident.records), 0))
    if since is not None:
        q, i = q.where(Quarantine.at >= since), i.where(TracingIncident.at >= since)
    if until is not None:
        q, i = q.where(Quarantine.at < until), i.where(TracingIncident.at < until)
    with db.session() as s:
        out = Losses(quarantined=int(s.scalar(q) or 0))
        for kind, n in s.execute(i.group_by(TracingIncident.kind)):
            if kind in ("dropped", "refused"):
                setattr(out, kind, int(n))
    return out


@dataclass
class QuarantinedRecord:
    id: int
    at: datetime
    kind: str
    trace_id: str | None
    error: str
    source: str


def quarantined(db: Database, limit: int = 20) -> list[QuarantinedRecord]:
    """The most recent quarantined records (without their content)."""
    stmt = (
        select(Quarantine.id, Quarantine.at, Quarantine.kind, Quarantine.trace_id,
               Quarantine.error, Quarantine.source)
        .order_by(Quarantine.at.desc(), Quarantine.id.desc())
        .limit(limit)
    )  # fmt: skip
    with db.session() as s:
        return [QuarantinedRecord(*row) for row in s.execute(stmt)]


@dataclass
class RetryReport:
    stored: int = 0
    still_rejected: int = 0
    errors: list[str] = field(default_factory=list)


def retry_quarantine(db: Database, spool_dir: Path, *, limit: int = 10_000) -> RetryReport:
    """Try quarantined records again (after a fix or an upgrade): the ones the store now
    takes are stored (rollups included) and leave the quarantine; the others stay."""
    writer = SpanWriter(db, spool_dir, start=False)
    report = RetryReport()
    with db.session() as s:
        rows = s.execute(
            select(Quarantine.id, Quarantine.kind, Quarantine.record)
            .where(Quarantine.kind.in_(KINDS))
            .order_by(Quarantine.id)
            .limit(limit)
        ).all()
    for qid, kind, record in rows:
        values = json.loads(record)
        row = tuple(values.get(c) for c in COLUMNS[kind])
        try:
            writer.write_rows({k: [row] if k == kind else [] for k in KINDS})
        except Exception as exc:
            if unavailable(exc):
                raise
            report.still_rejected += 1
            report.errors.append(f"{qid}: {type(exc).__name__}")
            continue
        with db.session() as s:
            s.execute(delete(Quarantine).where(Quarantine.id == qid))
        report.stored += 1
    return report


@dataclass
class DoctorReport:
    store: str
    revision: str | None
    head: str | None
    losses_24h: dict[str, int]
    losses_total: dict[str, int]
    recent_quarantine: list[JSONDict]
    spool_dir: str
    spool_files: int
    spool_bytes: int
    spool_oldest: str | None
    problems: list[str]

    def as_dict(self) -> JSONDict:
        return asdict(self)


def doctor(db: Database, spool_dir: Path, *, now: datetime | None = None) -> DoctorReport:
    """The store's schema, what tracing quarantined or lost, and what waits in the spool."""
    from datetime import timedelta

    from llmops.store.db import describe

    now = now or datetime.now(UTC)
    revision, head = current_revision(db), head_revision()
    day, total = losses(db, now - timedelta(days=1)), losses(db)
    files = sorted(spool_dir.glob("*.jsonl")) if spool_dir.exists() else []
    sizes = [f.stat().st_size for f in files if f.exists()]
    oldest = None
    if files:
        oldest_ns = int(files[0].name.split("-", 1)[0])
        oldest = datetime.fromtimestamp(oldest_ns / 1e9, UTC).isoformat(timespec="seconds")
    problems = []
    if revision != head:
        problems.append(f"the store is at revision {revision}, not {head}: run `llmops db upgrade`")
    if total.quarantined:
        problems.append(
            f"{total.quarantined} trace record(s) quarantined: see the errors below; "
            "`llmops db doctor --retry` stores the ones the store now accepts"
        )
    if total.dropped or total.refused:
        problems.append(
            f"{total.dropped} trace record(s) dropped and {total.refused} refused by a full "
            "queue (tracing_incidents): see docs/reliability.md"
        )
    if files:
        problems.append(f"{len(files)} spool file(s) wait in {spool_dir} for the store")
    return DoctorReport(
        store=describe(db.url),
        revision=revision,
        head=head,
        losses_24h={**asdict(day), "total": day.total},
        losses_total={**asdict(total), "total": total.total},
        recent_quarantine=[
            {**asdict(q), "at": q.at.isoformat(timespec="seconds")} for q in quarantined(db, 10)
        ],
        spool_dir=str(spool_dir),
        spool_files=len(files),
        spool_bytes=sum(sizes),
        spool_oldest=oldest,
        problems=problems,
    )
