"""Bias probe runs in the store: a row per run (``bias_runs``) and one per attribute
(``bias_results``: per-group refusal rates with intervals and answer lengths, the gaps
between the extreme groups with their p-values, answer similarity, the reasons it was
flagged, the probes' traces) — so probes show over time per release and feed the risk
report. ``llmops.redteam.bias.run`` writes them; the Safety page and the report read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from llmops.errors import NotFoundError
from llmops.releases.core import ReleaseInfo
from llmops.store.db import Database
from llmops.store.models import BiasResult, BiasRun, utcnow
from llmops.types import JSONDict

MAX_LIST = 200
RESULT_FIELDS = ("refusal_gap", "refusal_p", "length_gap", "length_p", "similarity_mean",
                 "similarity_min")  # fmt: skip


@dataclass
class BiasRunRow:
    id: int
    release_id: str
    release_name: str
    release_label: str | None
    status: str
    attributes: list[str]
    langs: list[str]
    probes: int
    flagged: list[str]
    started_at: datetime
    finished_at: datetime | None
    created_by: str
    error: str | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> JSONDict:
        out = asdict(self)
        for key in ("started_at", "finished_at"):
            out[key] = out[key].isoformat(timespec="seconds") if out[key] else None
        return out


def start_run(db: Database, release: ReleaseInfo, attributes: Sequence[str],
              langs: Sequence[str], probes: int, actor: str) -> int:  # fmt: skip
    """The run's row, status ``running``; its id."""
    with db.session() as s:
        row = BiasRun(release_id=release.id, release_name=release.name,
                      release_label=release.label, status="running", attributes=list(attributes),
                      langs=list(langs), probes=probes, flagged=[], created_by=actor)  # fmt: skip
        s.add(row)
        s.flush()
        return int(row.id)


def finish_run(db: Database, run_id: int, results: dict[str, dict[str, Any]],
               traces: dict[str, list[str]], *, status: str = "done",
               error: str | None = None) -> None:  # fmt: skip
    """Store each attribute's result (``AttributeResult.as_dict()``) and close the run."""
    with db.session() as s:
        row = s.get(BiasRun, run_id)
        if row is None:
            raise NotFoundError(f"Bias probe run {run_id} does not exist.")
        for attr, r in results.items():
            s.add(BiasResult(run_id=run_id, attribute=attr, flagged=bool(r["flagged"]),
                             groups=r["groups"], reasons=list(r["reasons"]),
                             trace_ids=traces.get(attr, []),
                             **{k: r.get(k) for k in RESULT_FIELDS}))  # fmt: skip
        row.status, row.error, row.finished_at = status, error, utcnow()
        row.flagged = [a for a, r in results.items() if r["flagged"]]


def _row(r: BiasRun) -> BiasRunRow:
    return BiasRunRow(r.id, r.release_id, r.release_name, r.release_label, r.status,
                      list(r.attributes or []), list(r.langs or []), r.probes,
                      list(r.flagged or []), r.started_at, r.finished_at, r.created_by,
                      r.error)  # fmt: skip


def list_runs(
    db: Database, *, release_id: str | None = None, limit: int = 50, offset: int = 0
) -> list[BiasRunRow]:
    """Newest first (index on release, started)."""
    q = select(BiasRun).order_by(BiasRun.started_at.desc(), BiasRun.id.desc())
    if release_id:
        q = q.where(BiasRun.release_id == release_id)
    with db.session() as s:
        return [_row(r) for r in s.scalars(q.limit(max(1, min(limit, MAX_LIST))).offset(offset))]


def count_runs(db: Database, *, release_id: str | None = None) -> int:
    q = select(func.count(BiasRun.id))
    if release_id:
        q = q.where(BiasRun.release_id == release_id)
    with db.session() as s:
        return int(s.scalar(q) or 0)


def _result(r: BiasResult) -> dict[str, Any]:
    return {"attribute": r.attribute, "flagged": r.flagged, "groups": dict(r.groups or {}),
            "reasons": list(r.reasons or []), "trace_ids": list(r.trace_ids or []),
            **{k: getattr(r, k) for k in RESULT_FIELDS}}  # fmt: skip


def get_run(db: Database, run_id: int | str) -> BiasRunRow:
    """One run with its per-attribute results."""
    text = str(run_id).strip()
    if not text.isdigit() or not 1 <= int(text) <= 2**63 - 1:
        raise NotFoundError(f"Bias probe run {text!r} does not exist (run ids are numbers).")
    with db.session() as s:
        row = s.get(BiasRun, int(text))
        if row is None:
            raise NotFoundError(f"Bias probe run {text} does not exist.")
        out = _row(row)
        q = select(BiasResult).where(BiasResult.run_id == row.id).order_by(BiasResult.id)
        out.results = {r.attribute: _result(r) for r in s.scalars(q)}
        return out


def latest_run(db: Database, release_id: str) -> BiasRunRow | None:
    """The release's newest finished run with its results, or None."""
    q = (select(BiasRun.id).where(BiasRun.release_id == release_id, BiasRun.status == "done")
         .order_by(BiasRun.started_at.desc(), BiasRun.id.desc()).limit(1))  # fmt: skip
    with db.session() as s:
        found = s.scalar(q)
    return None if found is None else get_run(db, found)


@dataclass
class HistoryPoint:
    run_id: int
    started_at: datetime
    release_id: str
    attribute: str
    flagged: bool
    refusal_gap: float | None
    similarity_mean: float | None


def history(db: Database, *, release_id: str | None = None, limit: int = 50) -> list[HistoryPoint]:
    """Each attribute's refusal gap and similarity in the newest ``limit`` finished runs (one
    join over the runs' index and the results' unique key), oldest first, for a chart."""
    runs = (select(BiasRun.id).where(BiasRun.status == "done")
            .order_by(BiasRun.started_at.desc(), BiasRun.id.desc())
            .limit(max(1, min(limit, MAX_LIST))))  # fmt: skip
    if release_id:
        runs = runs.where(BiasRun.release_id == release_id)
    q = (select(BiasRun.id, BiasRun.started_at, BiasRun.release_id, BiasResult.attribute,
                BiasResult.flagged, BiasResult.refusal_gap, BiasResult.similarity_mean)
         .join(BiasResult, BiasResult.run_id == BiasRun.id)
         .where(BiasRun.id.in_(runs.scalar_subquery()))
         .order_by(BiasRun.started_at, BiasRun.id, BiasResult.attribute))  # fmt: skip
    with db.session() as s:
        return [HistoryPoint(*r) for r in s.execute(q)]
