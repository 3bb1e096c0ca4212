"""The `llmops` command end to end, on a fresh LLMOPS_HOME (in-process and as a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.cli import app

KB = """# Canary releases

A canary release serves a small, sticky share of sessions before it is promoted.
Rollback points the production label back at the previous release.
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    d = tmp_path / "kb" / "en"
    d.mkdir(parents=True)
    (d / "canary.md").write_text(KB, encoding="utf-8")
    return d.parent


def _json(result: object) -> object:
    return json.loads(result.stdout)  # type: ignore[attr-defined]


def test_chat_traces_and_feedback_round_trip(runner: CliRunner, kb_dir: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    ingest = runner.invoke(app, ["kb", "ingest", str(kb_dir), "--json"])
    assert ingest.exit_code == 0, ingest.output
    assert _json(ingest)["added"] == ["en/canary.md"]

    res = runner.invoke(app, ["chat", "What is a canary release?", "--session", "s1", "--json"])
    assert res.exit_code == 0, res.output
    turn = _json(res)
    assert set(turn) >= {"trace_id", "answer", "citations", "blocked", "violations", "release"}
    assert "canary release serves" in turn["answer"]
    assert turn["citations"][0]["source"] == "en/canary.md"
    assert set(turn["citations"][0]) >= {"source", "chunk_id", "score"}
    assert turn["blocked"] is False and turn["violations"] == []

    listed = runner.invoke(app, ["traces", "list", "--json"])
    assert [t["id"] for t in _json(listed)] == [turn["trace_id"]]

    fb = runner.invoke(app, ["feedback", turn["trace_id"], "down", "--comment", "too short"])
    assert fb.exit_code == 0, fb.output

    shown = runner.invoke(app, ["traces", "show", turn["trace_id"], "--json"])
    detail = _json(shown)
    assert detail["trace"]["id"] == turn["trace_id"]
    assert detail["feedback"][0]["comment"] == "too short"
    spans = detail["spans"]
    ids = {s["id"] for s in spans}
    roots = [s for s in spans if s["parent_id"] is None]
    assert len(roots) == 1 and all(s["parent_id"] in ids for s in spans if s not in roots)
    assert any(s["kind"] == "retriever" for s in spans)

    text = runner.invoke(app, ["traces", "show", turn["trace_id"]])
    assert "chat [chain]" in text.output and "[retriever]" in text.output


@pytest.mark.parametrize(
    "args",
    [
        ["traces", "show", "0123456789abcdef0123456789abcdef"],
        ["feedback", "0123456789abcdef0123456789abcdef", "up"],
        ["feedback", "whatever", "sideways"],
        ["traces", "list", "--limit", "0"],
        ["chat"],
        ["no-such-command"],
    ],
)
def test_bad_ids_and_arguments_exit_2_with_one_line(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: ")


def test_console_script_runs_as_a_real_process(kb_dir: Path, llmops_home: Path) -> None:
    exe = Path(sys.executable).with_name("llmops")
    env = {**os.environ, "LLMOPS_HOME": str(llmops_home)}
    subprocess.run([exe, "kb", "ingest", str(kb_dir)], check=True, env=env, capture_output=True)
    out = subprocess.run(
        [exe, "chat", "What does rollback do?", "--json"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    turn = json.loads(out.stdout)
    assert "Rollback points the production label" in turn["answer"]
    shown = subprocess.run(
        [exe, "traces", "show", turn["trace_id"], "--json"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    assert json.loads(shown.stdout)["trace"]["output"] == turn["answer"]
