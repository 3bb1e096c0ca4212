"""``llmops erase``, ``llmops retention apply`` and ``llmops audit export`` on the real store:
JSON output, dry runs that change nothing, bad requests as one line with exit code 2."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from llmops.cli import app
from llmops.config import reset_settings
from llmops.demo import seed
from llmops.governance import audit
from llmops.privacy import stored_user_id
from llmops.store.db import Database

USER = "Dana@Example.org"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def store(db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("LLMOPS_DATABASE_URL", db_url)
    reset_settings()
    return db


def _traces(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM traces")).scalar() or 0)


def test_erase_a_user_by_the_raw_id_finds_the_hashed_rows(runner: CliRunner, store: Database):
    seed(store, traces=60, days=1, seed=2)
    hashed = stored_user_id(USER)
    assert hashed and hashed != USER  # an e-mail is stored as its keyed hash
    with store.engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM traces ORDER BY id LIMIT 7"))]
        for tid in ids:
            conn.execute(text("UPDATE traces SET user_id = :u, session_id = 'dana-s' "
                              "WHERE id = :i"), {"u": hashed, "i": tid})  # fmt: skip
    total = _traces(store)
    dry = runner.invoke(app, ["erase", "--user", USER, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert report["dry_run"] is True and report["counts"]["traces"] == 7
    assert report["audit_id"] is None and _traces(store) == total
    done = runner.invoke(app, ["erase", "--user", USER, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["counts"]["traces"] == 7 and report["counts"]["spans"] > 0
    assert _traces(store) == total - 7
    row = audit.page(store, audit.AuditFilter(action="erasure"))[0][0]
    assert row.actor.startswith("cli:") and row.target == f"user:{report['subject_hash']}"
    assert USER.lower() not in json.dumps(row.as_dict()).lower()
    assert hashed not in json.dumps(row.as_dict())
    text_out = runner.invoke(app, ["erase", "--session", "dana-s"])
    assert text_out.exit_code == 0 and "erased 0 rows" in text_out.output


@pytest.mark.parametrize("args", [["erase"], ["erase", "--user", "a", "--session", "b"],
                                  ["erase", "--user", "  "]])  # fmt: skip
def test_erase_refuses_a_bad_request(runner: CliRunner, store: Database, args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output.startswith("error: ")


def test_retention_apply_dry_run_then_apply(
    runner: CliRunner, store: Database, monkeypatch: pytest.MonkeyPatch
):
    seed(store, traces=80, days=4, seed=3, end=datetime.now(UTC) - timedelta(hours=1))
    monkeypatch.setenv("LLMOPS_RETENTION_TRACES_DAYS", "2")
    reset_settings()
    total = _traces(store)
    dry = json.loads(runner.invoke(app, ["retention", "apply", "--dry-run", "--json"]).output)
    due = dry["kinds"]["traces"]["rows"]
    assert 0 < due < total and _traces(store) == total
    result = runner.invoke(app, ["retention", "apply"])
    assert result.exit_code == 0, result.output
    assert f"traces: deleted {due:,} older than 2 days" in result.output
    assert "feedback: kept forever" in result.output
    assert _traces(store) == total - due


def test_audit_export_filters_and_is_audited(runner: CliRunner, store: Database, tmp_path):
    audit.record(store, "ana", "release.promote", "production", note="=cmd()")
    audit.record(store, "bo", "dataset.create", "golden")
    out = tmp_path / "audit.csv"
    result = runner.invoke(app, ["audit", "export", "--format", "csv", "--action", "release",
                                 "--actor", "ana", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["action"] for r in rows] == ["release.promote"]
    assert rows[0]["details"] == '{"note": "=cmd()"}'
    jsonl = runner.invoke(app, ["audit", "export", "--actor", "bo"])
    assert [json.loads(x)["target"] for x in jsonl.output.splitlines()] == ["golden"]
    assert audit.count(store, audit.AuditFilter(action="audit.export")) == 2
    bad = runner.invoke(app, ["audit", "export", "--format", "xml"])
    assert bad.exit_code == 2 and "csv, jsonl" in bad.output
