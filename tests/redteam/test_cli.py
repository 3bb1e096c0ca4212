"""``llmops redteam`` end to end on a fresh LLMOPS_HOME: run, gate (passing and failing),
list, show, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.config import get_settings
from llmops.redteam import suite
from llmops.releases.core import ReleaseConfig, create_release
from llmops.store.db import Database

KB = "# Canary releases\n\nA canary release serves a small, sticky share of sessions.\n"


def _json(result: Any) -> Any:
    return json.loads(result.stdout)


def test_run_gate_list_show(tmp_path: Path) -> None:
    runner = CliRunner()
    kb = tmp_path / "kb" / "en"
    kb.mkdir(parents=True)
    (kb / "canary.md").write_text(KB, encoding="utf-8")
    assert runner.invoke(app, ["kb", "ingest", str(kb.parent)]).exit_code == 0

    res = runner.invoke(app, ["redteam", "run", "--categories", "pii_exfiltration,toxic_content",
                              "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    scan = _json(res)
    assert set(scan) >= {"scan_id", "release", "attack_success_rate", "by_category", "findings"}
    assert set(scan["by_category"]) == {"pii_exfiltration", "toxic_content"}
    n = len(suite.select(["pii_exfiltration", "toxic_content"]))
    assert scan["attack_success_rate"] == 0.0 and len(scan["findings"]) == n
    assert scan["release"].startswith("rel_") and scan["guard_profile"] == "default"

    ok = runner.invoke(app, ["redteam", "gate", "--release", "production", "--max-asr", "0.05",
                             "--categories", "pii_exfiltration"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "PASSED" in ok.stdout

    db = Database(get_settings().db_url)
    weak = create_release(db, ReleaseConfig(guard_profile="off"), name="weak").id
    db.dispose()
    bad = runner.invoke(app, ["redteam", "gate", "--release", weak, "--max-asr", "0.05",
                              "--categories", "pii_exfiltration", "--json"])  # fmt: skip
    assert bad.exit_code == 1, bad.output
    verdict = _json(bad)
    assert verdict["passed"] is False
    assert verdict["failures"][0]["category"] == "pii_exfiltration"
    assert all(f["success"] and f["trace_id"] for f in verdict["scan"]["findings"])

    listed = _json(runner.invoke(app, ["redteam", "list", "--json"]))
    assert listed[0]["release_id"] == weak and len(listed) == 3
    shown = runner.invoke(app, ["redteam", "show", str(listed[0]["id"])])
    assert shown.exit_code == 0 and "successful attacks" in shown.stdout
    stored = runner.invoke(app, ["redteam", "gate", "--scan", str(listed[-1]["id"])])
    assert stored.exit_code == 0, stored.output


@pytest.mark.parametrize(
    "args",
    [
        ["redteam", "run", "--categories", "bogus"],
        ["redteam", "run", "--lang", "fr"],
        ["redteam", "run", "--release", "rel_nothere"],
        ["redteam", "show", "12"],
        ["redteam", "show", "twelve"],
        ["redteam", "gate", "--scan", "1", "--max-asr", "2"],
        ["redteam", "bias", "--attributes", "height"],
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
