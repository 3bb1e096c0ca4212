"""`llmops db doctor` and `llmops guard check` report what tracing and guards could not do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from guardrails.validator_base import Validator, register_validator
from typer.testing import CliRunner

from llmops.cli import app
from llmops.config import get_settings
from llmops.guards import validators as registry
from llmops.runtime import Runtime
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import SpanRecord


def _ready_home() -> None:
    """A migrated store and a Chroma collection: what `make run` leaves behind."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    s = get_settings()
    client = chromadb.PersistentClient(
        path=str(s.chroma_dir), settings=ChromaSettings(anonymized_telemetry=False)
    )
    client.get_or_create_collection(s.collection)


def test_doctor_is_quiet_on_a_healthy_store(llmops_home: Path) -> None:
    _ready_home()
    res = CliRunner().invoke(app, ["db", "doctor"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert "ok" in lines and "ready" in lines
    for name in ("store", "migrations", "chroma", "writer"):
        assert any(line.startswith(f"ok  {name}:") for line in lines), (name, lines)


def test_doctor_is_not_ready_on_an_unmigrated_store_and_does_not_migrate_it(
    llmops_home: Path,
) -> None:
    res = CliRunner().invoke(app, ["db", "doctor", "--json", "--readiness"])
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    assert report["ready"] is False
    failing = {c["name"] for c in report["checks"] if not c["ok"]}
    assert {"migrations", "chroma"} <= failing
    assert any("llmops db upgrade" in p for p in report["problems"])
    res = CliRunner().invoke(app, ["db", "doctor", "--json"])
    assert json.loads(res.stdout)["ready"] is False  # still: the doctor changed nothing


def test_doctor_is_not_ready_when_the_store_does_not_answer(
    llmops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.config import reset_settings

    monkeypatch.setenv("LLMOPS_DATABASE_URL", "postgresql+psycopg://app:dbPASS99@127.0.0.1:1/x")
    reset_settings()
    res = CliRunner().invoke(app, ["db", "doctor", "--json", "--readiness"])
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    store = next(c for c in report["checks"] if c["name"] == "store")
    assert report["ready"] is False and store["ok"] is False
    assert "dbPASS99" not in res.stdout


def test_doctor_is_not_ready_when_the_chroma_server_does_not_answer(
    llmops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    _ready_home()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LLMOPS_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("LLMOPS_CHROMA_PORT", str(port))
    from llmops.config import reset_settings

    reset_settings()
    res = CliRunner().invoke(app, ["db", "doctor", "--json", "--readiness"])
    assert res.exit_code == 1, res.output
    chroma = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "chroma")
    assert chroma["ok"] is False and chroma["required"] is True


def test_doctor_shows_spans_the_otlp_exporter_could_not_deliver(
    llmops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.config import reset_settings
    from llmops.store.db import Database
    from llmops.tracing.otlp import OTLPExport
    from llmops.tracing.writer import COLUMNS

    _ready_home()
    s = get_settings()
    db = Database(s.db_url)
    exporter = OTLPExport("http://127.0.0.1:9", columns=COLUMNS, db=db, start=False)
    exporter.enqueue({"span": [("t", "s", None)] * 7, "trace": [], "event": []})
    exporter.close(timeout=0)  # stopped before sending: the 7 spans are dropped and reported
    db.dispose()
    monkeypatch.setenv("LLMOPS_OTLP_ENDPOINT", "http://collector-user:pw123@127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Basic c2VjcmV0")
    reset_settings()
    res = CliRunner().invoke(app, ["db", "doctor", "--json"])
    assert res.exit_code == 1, res.output  # needs attention ...
    report = json.loads(res.stdout)
    assert report["ready"] is True  # ... but ready to serve
    assert report["otlp"]["dropped_24h"] == report["otlp"]["dropped_total"] == 7
    assert report["otlp"]["running"] is True and report["otlp"]["headers"] == ["Authorization"]
    assert any("not delivered to the OTLP collector" in p for p in report["problems"])
    assert "pw123" not in res.stdout and "c2VjcmV0" not in res.stdout
    res = CliRunner().invoke(app, ["db", "doctor", "--readiness"])
    assert res.exit_code == 0, res.output
    assert "7 spans not delivered in 24 h" in res.stdout


def test_doctor_reports_quarantined_records_and_retry_keeps_the_bad_one(
    llmops_home: Path,
) -> None:
    _ready_home()
    rt = Runtime(get_settings())
    rt.writer.submit(SpanRecord(new_trace_id(), new_span_id(), None, None, "chain", 1, 2))  # type: ignore[arg-type]
    rt.close()
    res = CliRunner().invoke(app, ["db", "doctor", "--json"])
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["losses_total"]["quarantined"] == 1
    assert report["recent_quarantine"][0]["kind"] == "span"
    assert "NOT NULL" in report["recent_quarantine"][0]["error"].upper()
    res = CliRunner().invoke(app, ["db", "doctor", "--retry"])
    assert res.exit_code == 1 and "0 stored, 1 still rejected" in res.stdout
    res = CliRunner().invoke(app, ["db", "doctor", "--readiness"])
    assert res.exit_code == 0, res.output  # quarantined records need attention, not a restart


@register_validator(name="tests/cli-crashing", data_type="string")
class _Crashing(Validator):
    def __init__(self, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, **kwargs)

    def validate(self, value: Any, metadata: dict[str, Any]) -> Any:
        raise RuntimeError("broken rules file")


def test_guard_check_shows_a_crashing_validator_as_an_error(
    llmops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.VALIDATORS, "pii", _Crashing)
    res = CliRunner().invoke(app, ["guard", "check", "mail ana@example.com", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["passed"] is False and out["blocked"] is True  # pii is a fix rule: fail closed
    assert {"validator": "pii", "action": "error"}.items() <= out["violations"][0].items()
    assert out["text"] == "mail ana@example.com"
