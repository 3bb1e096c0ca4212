"""`llmops release` on a fresh LLMOPS_HOME: create from a copy, diff, promote, roll back,
canary with sticky assignment, compare, rules and the playground."""

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
        return json.loads(result.stdout) if "--json" in args and code == 0 else result

    return invoke


def test_create_from_a_copy_diff_promote_and_roll_back(run: Any, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Answer in one sentence.\nCite your sources.", encoding="utf-8")
    made = run("release", "create", "--name", "short answers", "--from", "production",
               "--set", "retrieval.k=6", "--set", f"system_prompt=@{prompt}",
               "--note", "shorter", "--json")  # fmt: skip
    assert made["created"] is True and made["id"].startswith("rel_")
    again = run("release", "create", "--name", "dup", "--from", made["id"][:10], "--json")
    assert again == {"id": made["id"], "name": "short answers", "created": False}

    shown = run("release", "show", made["id"], "--json")
    assert shown["config"]["retrieval"]["k"] == 6 and shown["description"] == "shorter"
    assert shown["created_by"].startswith("cli:")

    d = run("release", "diff", "production", made["id"], "--json")
    assert {c["path"] for c in d["changes"]} == {"system_prompt", "retrieval.k"}
    assert "+Answer in one sentence." in d["prompt"]

    first = run("release", "show", "production", "--json")["id"]
    moved = run("release", "promote", made["id"], "--note", "ship it", "--json")
    assert moved == {"production": made["id"], "previous": first}
    listed = run("release", "list", "--json")
    rows = {r["id"]: r for r in listed["releases"]}
    assert listed["total"] == 2 and rows[made["id"]]["labels"] == ["production"]
    assert rows[made["id"]]["traffic_share"] == 1.0 and rows[first]["traffic_share"] == 0.0

    back = run("release", "rollback", "--note", "answers too short", "--json")
    assert back == {"production": first, "previous": made["id"]}
    moves = run("release", "history", "--json")
    assert [(m["action"], m["release_id"], m["note"]) for m in moves[:2]] == [
        ("rollback", first, "answers too short"),
        ("promote", made["id"], "ship it"),
    ]


def test_bad_fields_and_values_are_one_line_errors(run: Any, tmp_path: Path) -> None:
    bad = run("release", "create", "--name", "x", "--set", "retrieval.kk=3", code=2)
    assert "Unknown release field 'retrieval.kk'" in bad.output
    bad = run("release", "create", "--name", "x", "--set", "retrieval.k=0",
              "--set", "model.provider=acme", code=2)  # fmt: skip
    assert "retrieval.k" in bad.output and "model.provider" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    cfg = tmp_path / "cfg.json"
    cfg.write_text("{not json", encoding="utf-8")
    assert "not valid JSON" in run("release", "create", "--name", "x", "--file", str(cfg),
                                   code=2).output  # fmt: skip
    yml = tmp_path / "cfg.yaml"
    yml.write_text("retrieval:\n  k: 7\nsystem_prompt: Be kind.\n", encoding="utf-8")
    made = run("release", "create", "--name", "yaml", "--file", str(yml), "--json")
    assert run("release", "show", made["id"], "--json")["config"]["retrieval"]["k"] == 7
    yml.write_text("retrieval: [k: 7\n", encoding="utf-8")
    assert "not valid YAML" in run("release", "create", "--name", "x", "--file", str(yml),
                                   code=2).output  # fmt: skip
    assert run("release", "show", "rel_nothere", code=2).exit_code == 2
    assert "at most 50%" in run("release", "canary", "production", "--weight", "0.9",
                                code=2).output  # fmt: skip
    assert run("release", "canary", code=2).exit_code == 2  # neither a release nor --stop
    assert run("release", "rollback", code=2).exit_code == 2  # no previous production


def test_canary_is_sticky_compared_and_stopped(run: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('system_prompt = "Be brief."\n[retrieval]\nk = 3\n', encoding="utf-8")
    made = run("release", "create", "--name", "brief", "--file", str(cfg), "--label", "staging",
               "--json")  # fmt: skip
    assert run("release", "show", "staging", "--json")["id"] == made["id"]
    started = run("release", "canary", made["id"], "--weight", "0.5", "--json")
    assert started == {"canary": made["id"], "weight": 0.5}
    sessions = [f"s{i}" for i in range(40)]
    args = [a for s in sessions for a in ("--session", s)]
    first = run("release", "which", *args, "--json")
    assert run("release", "which", *args, "--json") == first  # sticky
    served = {r["label"] for r in first}
    assert served == {"canary", "production"}  # 40 sessions at 50 %: both arms
    rules = run("release", "rules", "list", "--json")
    assert rules and all(r["enabled"] for r in rules)  # a first canary gets the defaults

    for s in sessions[:6]:
        run("chat", "What is a canary release?", "--session", s, "--json")
    cmp = run("release", "compare", "--window", "1h", "--json")
    assert cmp["canary"]["release_id"] == made["id"]
    assert cmp["production"]["turns"] + cmp["canary"]["turns"] == 6
    assert "canary turns" in cmp["verdict"] or "turns" in cmp["verdict"]

    stopped = run("release", "canary", "--stop", "--note", "enough", "--json")
    assert stopped == {"canary": None, "stopped": made["id"]}
    assert {r["label"] for r in run("release", "which", *args, "--json")} == {"production"}
    assert run("release", "canary", "--stop", code=2).exit_code == 2


def test_rules_can_be_added_switched_and_deleted(run: Any) -> None:
    rule = run("release", "rules", "add", "--metric", "error_rate", "--threshold", "0.1",
               "--window", "30m", "--json")  # fmt: skip
    assert rule["window_minutes"] == 30 and "Error rate" in rule["description"]
    run("release", "rules", "disable", str(rule["id"]))
    assert [r["enabled"] for r in run("release", "rules", "list", "--json")] == [False]
    added = run("release", "rules", "defaults", "--json")
    assert {r["metric"] for r in added} == {"error_rate", "violation_rate"}
    assert run("release", "rules", "defaults", "--json") == []  # nothing missing now
    run("release", "rules", "delete", str(rule["id"]))
    assert rule["id"] not in {r["id"] for r in run("release", "rules", "list", "--json")}
    assert run("release", "rules", "add", "--metric", "nope", code=2).exit_code == 2


def test_try_runs_releases_side_by_side_outside_monitoring(run: Any) -> None:
    made = run("release", "create", "--name", "k1", "--set", "retrieval.k=1", "--json")
    rows = run("release", "try", "What is a canary release?", "--release", "production",
               "--release", made["id"], "--json")  # fmt: skip
    assert [a["release_id"] for a in rows[0]] == [
        run("release", "show", "production", "--json")["id"],
        made["id"],
    ]
    assert all(a["trace_id"] and a["latency_ms"] is not None for a in rows[0])
    traced = run("traces", "list", "--json")
    assert {t["session_id"].split(":")[0] for t in traced} == {"playground"}
    metrics = run("monitor", "metrics", "--range", "1h", "--json")
    assert sum(r["traces"] for r in metrics["rows"]) == 0  # not live traffic
