"""The audit log's queries on SQLite and PostgreSQL: filters, keyset pages, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from llmops.errors import InvalidInputError
from llmops.governance import audit
from llmops.store.db import Database
from llmops.store.models import AuditLog

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def rows(db: Database) -> Database:
    with db.session() as s:
        for i in range(30):
            s.add(AuditLog(at=T0 + timedelta(hours=i), actor="ana" if i % 3 else "bo",
                           action="release.promote" if i % 2 else "dataset.add",
                           target=f"t{i}", details={"i": i}))  # fmt: skip
        s.add(AuditLog(at=T0, actor="x", action="release_x", target="=HYPERLINK(1)"))
    return db


def test_filters_and_keyset_pages(rows: Database):
    db = rows
    flt = audit.AuditFilter(actor="ana", action="release")
    expected = [i for i in range(30) if i % 3 and i % 2]
    seen: list[int] = []
    before = None
    while True:
        page, more = audit.page(db, flt, limit=4, before_id=before)
        seen += [r.details["i"] for r in page if r.details]
        assert all(r.actor == "ana" and r.action.startswith("release.") for r in page)
        if not more:
            break
        before = page[-1].id
    assert seen == sorted(expected, reverse=True)
    assert audit.count(db, flt) == len(expected)
    # a family matches "release.*" only, not "release_x"
    assert audit.count(db, audit.AuditFilter(actor="x", action="release")) == 0
    assert audit.count(db, audit.AuditFilter(actor="x", action="release_x")) == 1
    assert (
        sum(audit.count(db, audit.AuditFilter(actor=a, action="release")) for a in ("ana", "bo"))
        == 15
    )
    window = audit.AuditFilter(since=T0 + timedelta(hours=10), until=T0 + timedelta(hours=12))
    assert [r.target for r in audit.page(db, window)[0]] == ["t11", "t10"]
    with pytest.raises(InvalidInputError):
        audit.page(db, limit=0)


def test_exports(rows: Database):
    db = rows
    flt = audit.AuditFilter(actor="x")
    data = audit.export_text(db, flt, "csv")
    row = next(csv.DictReader(io.StringIO(data)))
    assert row["target"] == "'=HYPERLINK(1)"  # not a formula in a spreadsheet
    lines = audit.export_text(db, audit.AuditFilter(actor="bo"), "jsonl").splitlines()
    assert [json.loads(x)["details"]["i"] for x in lines] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    assert audit.export_text(db, audit.AuditFilter(actor="nobody"), "csv").strip() == (
        "id,at,actor,action,target,details"
    )
    with pytest.raises(InvalidInputError):
        audit.export_text(db, flt, "xml")


def test_state_changes_that_had_no_audit_row_now_write_one(db: Database):
    from llmops.rag import versions
    from llmops.releases import rollback

    rule = rollback.add_default_rules(db, actor="ops")[0]
    rollback.set_enabled(db, rule.id, False, actor="ops")
    version = versions.commit(db, {}, actor="ops", note="nothing changed")
    from llmops.evals import datasets as ds

    ds.add_cases(db, "golden", [ds.Case(input="What is LLMOps?")], actor="ops")
    ds.export_cases(db, "golden", fmt="csv", actor="ops")
    rows = {r.action: r for r in audit.page(db, audit.AuditFilter(actor="ops"))[0]}
    assert rows["rollback_rule.disable"].target == str(rule.id)
    assert rows["kb.version"].target == versions.name(version)
    assert rows["dataset.export"].target == "golden"
    assert rows["dataset.export"].details == {"version": 1, "format": "csv", "items": 1}
