"""`llmops eval …` end to end on a fresh LLMOPS_HOME with a small knowledge base."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from tests.llm.openai_server import OpenAIServer

KB = """# Releases

## Canary
A canary deployment sends a small share of conversations to a candidate release.
Canary assignment uses a sticky hash of the session identifier.

## Rollback
A rollback moves the production label back to the previous release.
"""

CASES = [
    {"input": "How does canary assignment work?", "must_include": ["sticky hash"]},
    {"input": "What is a rollback?", "must_include": ["previous release"], "tags": ["ops"]},
    {"input": "What does a canary deployment send?", "must_include": ["small share"]},
]


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CliRunner]:
    runner = CliRunner()
    kb = tmp_path / "kb" / "en"
    kb.mkdir(parents=True)
    (kb / "releases.md").write_text(KB, encoding="utf-8")
    assert runner.invoke(app, ["kb", "ingest", str(kb.parent)]).exit_code == 0
    yield runner


@pytest.fixture
def cases_file(tmp_path: Path) -> Path:
    path = tmp_path / "smoke.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in CASES), encoding="utf-8")
    return path


def _ok(result: object) -> dict:
    assert result.exit_code == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    return json.loads(result.stdout)  # type: ignore[attr-defined]


def test_run_a_jsonl_file_prints_the_documented_json(cli: CliRunner, cases_file: Path) -> None:
    out = _ok(cli.invoke(app, ["eval", "run", str(cases_file), "--json",
                               "-e", "contains_all,groundedness"]))  # fmt: skip
    assert set(out) == {"run_id", "metrics", "errors", "items"}
    assert out["errors"] == {}
    assert set(out["metrics"]) == {"contains_all", "groundedness"}
    assert out["metrics"]["contains_all"] == 1.0
    assert len(out["items"]) == 3
    assert set(out["items"][0]) == {"input", "output", "scores", "errors", "trace_id"}
    assert out["items"][1]["input"] == "What is a rollback?"
    assert "previous release" in out["items"][1]["output"]

    # the file became a dataset named after it; running it again reuses the same version
    listed = _ok(cli.invoke(app, ["eval", "dataset", "list", "--json"]))
    assert [(d["name"], d["version"], d["items"]) for d in listed] == [("smoke", 1, 3)]
    again = _ok(cli.invoke(app, ["eval", "run", "smoke", "--json", "-e", "contains_all"]))
    shown = cli.invoke(app, ["eval", "show", again["run_id"]])
    assert shown.exit_code == 0 and "contains_all" in shown.stdout and "completed" in shown.stdout
    runs = _ok(cli.invoke(app, ["eval", "runs", "--json"]))
    assert [r["id"] for r in runs] == [again["run_id"], out["run_id"]]
    assert runs[0]["dataset_version"] == 1


def test_bad_input_is_one_line_on_stderr_with_exit_code_2(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "ok"}\n{"expected": "no input"}\nnot json\n', encoding="utf-8")
    for args in (
        ["eval", "dataset", "import", str(bad)],
        ["eval", "run", str(bad)],
        ["eval", "run", "no-such-dataset"],
        ["eval", "show", "run_nope"],
        ["eval", "compare", "run_a", "run_b"],
        ["eval", "run", "smoke", "--release", "no-such-release"],
        ["eval", "gate", "--dataset", "x", "--release", "production", "--min", "contains_all"],
        ["eval", "dataset", "from-traces", "fb", "--feedback", "sideways"],
    ):
        res = cli.invoke(app, args)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, res.stderr)
    res = cli.invoke(app, ["eval", "dataset", "import", str(bad)])
    assert "line 2: 'input' is required" in res.stderr and "line 3: not valid JSON" in res.stderr
    assert _ok(cli.invoke(app, ["eval", "dataset", "list", "--json"])) == []  # nothing imported


def test_import_export_and_demo(cli: CliRunner, cases_file: Path, tmp_path: Path) -> None:
    res = cli.invoke(app, ["eval", "dataset", "import", str(cases_file), "--name", "ops", "--json"])
    assert _ok(res)["added"] == 3
    exported = cli.invoke(app, ["eval", "dataset", "export", "ops", "--format", "csv"])
    assert exported.exit_code == 0 and exported.stdout.startswith("input,expected,must_include")
    target = tmp_path / "ops.jsonl"
    assert cli.invoke(app, ["eval", "dataset", "export", "ops", "-o", str(target)]).exit_code == 0
    assert [json.loads(x)["input"] for x in target.read_text().splitlines()] == [
        c["input"] for c in CASES
    ]
    demo = _ok(cli.invoke(app, ["eval", "dataset", "demo", "--json"]))
    assert demo["name"] == "demo" and demo["items"] >= 30
    listed = _ok(cli.invoke(app, ["eval", "evaluators", "--json"]))
    judge = next(e for e in listed if e["name"] == "judge_correctness")
    assert judge["disabled"] and "LLMOPS_EVAL_JUDGE_MODEL" in judge["disabled"]


def test_gate_exits_1_for_a_worse_candidate_and_compare_explains_it(
    cli: CliRunner, cases_file: Path, tmp_path: Path
) -> None:
    passed = cli.invoke(app, ["eval", "gate", "--dataset", str(cases_file), "--release",
                              "production", "--min", "contains_all=0.9", "-e", "contains_all"])  # fmt: skip
    assert passed.exit_code == 0, passed.stdout + passed.stderr
    assert passed.stdout.startswith("eval gate: PASSED")
    with OpenAIServer() as server:
        candidate = tmp_path / "candidate.json"
        candidate.write_text(json.dumps({"model": {
            "provider": "openai-compatible", "name": "fixed", "base_url": server.base_url,
            "max_retries": 0, "timeout_s": 5}}), encoding="utf-8")  # fmt: skip
        failed = cli.invoke(app, ["eval", "gate", "-d", str(cases_file), "-r", str(candidate),
                                  "--min", "contains_all=0.9", "-e", "contains_all", "--json"])  # fmt: skip
    assert failed.exit_code == 1, failed.stdout + failed.stderr
    report = json.loads(failed.stdout)
    assert report["passed"] is False
    checks = {(c["kind"], c["metric"]): c for c in report["checks"]}
    assert checks[("min", "contains_all")]["passed"] is False
    assert checks[("regression", "contains_all")]["value"] == -1.0
    cmp = _ok(cli.invoke(app, ["eval", "compare", report["baseline"]["run_id"],
                               report["candidate"]["run_id"], "--json"]))  # fmt: skip
    assert cmp["metrics"]["contains_all"]["losses"] == 3
    assert cmp["items"][0]["trace_a"] and cmp["items"][0]["trace_b"]
    text = cli.invoke(app, ["eval", "compare", report["baseline"]["run_id"],
                            report["candidate"]["run_id"]])  # fmt: skip
    assert text.exit_code == 0 and "regressed -1.000" in text.stdout


def test_cases_from_thumbs_down_traces_and_online_scoring(cli: CliRunner) -> None:
    turn = _ok(cli.invoke(app, ["chat", "What is a rollback?", "--json"]))
    assert (
        cli.invoke(app, ["feedback", turn["trace_id"], "down", "--comment", "vague"]).exit_code == 0
    )
    added = _ok(cli.invoke(app, ["eval", "dataset", "from-traces", "feedback", "--json"]))
    assert added == {"dataset": "feedback", "matched": 1, "added": 1}
    again = _ok(cli.invoke(app, ["eval", "dataset", "from-traces", "feedback", "--json"]))
    assert again["added"] == 0
    off = cli.invoke(app, ["eval", "online", "--once"])
    assert off.exit_code == 2 and "Online evaluation is off" in off.stderr
    on = cli.invoke(app, ["eval", "online", "--once", "--rate", "1", "--settle", "0"])
    assert on.exit_code == 0 and "scored 1 trace(s) in total" in on.stdout
    shown = _ok(cli.invoke(app, ["traces", "show", turn["trace_id"], "--json"]))
    assert {s["name"] for s in shown["scores"]} >= {"groundedness", "guard_pass"}
