"""``llmops release report REF``: JSON and Markdown, before and after a red-team scan and
bias probes of a weak release (guard profile ``off``), ``--strict`` for CI, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.config import get_settings
from llmops.releases.core import ReleaseConfig, create_release
from llmops.store.db import Database


def _invoke(*args: str, code: int | None = 0) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert code is None or result.exit_code == code, result.output
    return result


def test_report_in_markdown_and_json_before_and_after_a_scan() -> None:
    _invoke("db", "upgrade")
    db = Database(get_settings().db_url)
    weak = create_release(db, ReleaseConfig(guard_profile="off"), name="weak").id
    db.dispose()

    empty = _invoke("release", "report", weak).stdout
    assert empty.startswith(f"# Risk report — weak (`{weak}`)")
    assert "No red-team scan for this release." in empty
    assert f"run `llmops redteam run --release {weak}`" in empty
    assert "No evaluation run of this release." in empty
    doc = json.loads(_invoke("release", "report", weak, "--format", "json").stdout)
    assert doc["passed"] is True and doc["sections"]["redteam"]["status"] == "missing"

    _invoke("redteam", "run", "--release", weak, "--categories", "toxic_content", "--json")
    _invoke("redteam", "bias", "--release", weak, "--attributes", "age", "--lang", "es",
            code=None)  # fmt: skip
    doc = json.loads(_invoke("release", "report", weak, "--format", "json").stdout)
    assert doc["release"]["id"] == weak and doc["release"]["guard_profile"] == "off"
    red = doc["sections"]["redteam"]
    assert red["status"] == "fail" and red["data"]["by_category"]["toxic_content"]["asr"] > 0.05
    assert all(a["trace_id"] for a in red["data"]["successful_attacks"])
    gate = next(g for g in doc["gates"] if g["name"] == "redteam")
    assert gate["passed"] is False and "toxic_content" in gate["message"]
    assert doc["sections"]["bias"]["data"]["probe_run"]["probes"] > 0
    assert doc["sections"]["privacy"]["data"]["guard_rules"] == {"input": {}, "output": {}}

    md = _invoke("release", "report", weak, "--format", "md").stdout
    assert "## Red-team scan — ❌ failed" in md and "| toxic\\_content |" in md
    assert "gate(s) failed" in md and "❌ **redteam**" in md
    _invoke("release", "report", weak, "--strict", code=1)
    _invoke("release", "report", "production", "--strict")


@pytest.mark.parametrize(
    "args",
    [
        ["release", "report", "production", "--format", "html"],
        ["release", "report", "rel_nothere"],
        ["release", "report", "production", "--max-asr", "2"],
        ["release", "report", "production", "--min-fairness", "nan"],
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
