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


def test_doctor_is_quiet_on_a_healthy_store(llmops_home: Path) -> None:
    res = CliRunner().invoke(app, ["db", "doctor"])
    assert res.exit_code == 0, res.output
    assert "ok" in res.stdout.splitlines()


def test_doctor_reports_quarantined_records_and_retry_keeps_the_bad_one(
    llmops_home: Path,
) -> None:
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
