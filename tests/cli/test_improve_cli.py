"""`llmops improve`: one improvement from evidence to production on a fresh home, every step
recorded; promotion refused while the gate has not passed unless overridden with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app


@pytest.fixture
def run() -> Any:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    def invoke(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if "--json" in args else result

    return invoke


def test_an_improvement_goes_from_evidence_to_production(run: Any, tmp_path: Path) -> None:
    cases = tmp_path / "canary.jsonl"
    cases.write_text(
        '{"input": "What is a canary release?"}\n{"input": "How do I roll back?"}\n',
        encoding="utf-8",
    )
    run("eval", "dataset", "import", str(cases), "--name", "canary")
    rec = run("improve", "start", "--title", "Canary answers are thin", "--from", "gap:3",
              "--summary", "12 declined questions", "--json")  # fmt: skip
    assert rec["status"] == "evidence" and rec["evidence"] == {
        "kind": "gap", "ref": "3", "summary": "12 declined questions"
    }  # fmt: skip
    iid = str(rec["id"])
    assert "Choose a candidate" in run("improve", "promote", iid, code=2).output
    run("improve", "dataset", iid, "canary", "--json")
    cand = run("release", "create", "--name", "k5", "--set", "retrieval.k=5", "--json")["id"]
    rec = run("improve", "candidate", iid, cand, "--json")
    assert rec["candidate_release_id"] == cand and rec["status"] == "candidate"
    assert "promote only with an override" in run("improve", "promote", iid, code=2).output
    assert "pass its gate" in run("improve", "canary", iid, code=2).output
    rec = run("improve", "evaluate", iid, "--max-regression", "0.2", "--json")
    assert rec["gate_passed"] is True and rec["status"] == "evaluated"
    run("improve", "canary", iid, "--weight", "0.2", "--json")
    assert run("release", "show", "canary", "--json")["id"] == cand
    rec = run("improve", "promote", iid, "--json")
    assert rec["status"] == "promoted" and rec["overridden"] is False
    assert run("release", "show", "production", "--json")["id"] == cand
    shown = run("improve", "show", iid, "--json")
    assert [e["step"] for e in shown["events"]] == [
        "evidence", "dataset", "candidate", "evaluated", "canary", "promoted"
    ]  # fmt: skip
    assert all(e["actor"].startswith("cli:") for e in shown["events"])
    assert [r["id"] for r in run("improve", "list", "--status", "promoted", "--json")] == [
        rec["id"]
    ]


def test_an_override_needs_a_reason_and_is_recorded(run: Any, tmp_path: Path) -> None:
    cases = tmp_path / "d.jsonl"
    cases.write_text('{"input": "What is LLMOps?"}\n', encoding="utf-8")
    run("eval", "dataset", "import", str(cases), "--name", "d")
    iid = str(run("improve", "start", "--title", "Shorter prompt", "--json")["id"])
    run("improve", "dataset", iid, "d")
    cand = run("release", "create", "--name", "terse", "--set", "system_prompt=Be terse.",
               "--json")["id"]  # fmt: skip
    run("improve", "candidate", iid, cand)
    assert "needs a reason" in run("improve", "promote", iid, "--override", code=2).output
    rec = run("improve", "promote", iid, "--override", "--reason", "hotfix for a leak", "--json")
    assert rec["overridden"] is True and rec["reason"] == "hotfix for a leak"
    assert run("improve", "start", "--title", "x", "--from", "nope", code=2).exit_code == 2
    assert "closed" in run("improve", "abandon", iid, "--reason", "late", code=2).output
