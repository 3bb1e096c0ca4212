"""`llmops monitor ...` end to end: exit codes, JSON, files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.cli import app

from .webhook_server import webhook


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def seeded_home(runner: CliRunner) -> CliRunner:
    res = runner.invoke(app, ["demo", "seed", "--traces", "3000", "--days", "3", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["traces"] == 3000 and report["guard_events"] > 0 and report["feedback"] > 0
    assert report["guard_evals"] == 2  # the shipped labelled sets: the Guardrails page has figures
    return runner


def test_check_exits_0_when_quiet_and_1_while_a_rule_fires(seeded_home: CliRunner) -> None:
    r = seeded_home
    res = r.invoke(app, ["monitor", "check", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["rules"] == []
    add = r.invoke(app, ["monitor", "rules", "add", "--metric", "latency_p95", "--threshold",
                         "1000000", "--window", "2h", "--json"])  # fmt: skip
    assert add.exit_code == 0, add.output
    quiet_id = json.loads(add.stdout)["id"]
    assert r.invoke(app, ["monitor", "check"]).exit_code == 0
    with webhook() as hook:
        res = r.invoke(app, ["monitor", "rules", "add", "--metric", "error_rate", "--threshold",
                             "0.001", "--window", "3d", "--webhook", hook.url])  # fmt: skip
        assert res.exit_code == 0 and "Error rate > 0.1% over 3 d" in res.stdout
        res = r.invoke(app, ["monitor", "check", "--json"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert len(doc["firing"]) == 1 and quiet_id not in doc["firing"]
    fired = next(x for x in doc["rules"] if x["firing"])
    assert fired["changed"] == "fired" and fired["delivery"] == "sent" and fired["samples"] > 0
    assert len(hook.received) == 1 and hook.received[0]["alert"]["state"] == "firing"
    again = r.invoke(app, ["monitor", "check"])
    assert again.exit_code == 1 and "FIRING" in again.stdout
    hist = r.invoke(app, ["monitor", "history", "--json"])
    assert json.loads(hist.stdout)["total"] == 1
    listed = json.loads(r.invoke(app, ["monitor", "rules", "list", "--json"]).stdout)
    assert {x["state"] for x in listed} == {"ok", "firing"}


def test_metrics_json(seeded_home: CliRunner) -> None:
    res = seeded_home.invoke(app, ["monitor", "metrics", "--range", "7d", "--group", "model",
                                   "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["grain"] == "hour" and sum(row["traces"] for row in doc["rows"]) == 3000
    assert {"error_rate", "latency_p95", "thumbs_up_rate", "violation_rate", "cost"} <= set(
        doc["rows"][0]
    )
    series = seeded_home.invoke(app, ["monitor", "metrics", "--range", "2h", "--series",
                                      "--json"])  # fmt: skip
    assert json.loads(series.stdout)["grain"] == "minute"


def test_prices_and_exports(seeded_home: CliRunner, tmp_path: Path) -> None:
    r = seeded_home
    res = r.invoke(app, ["monitor", "prices", "set", "llmops-local", "--input", "0.5",
                         "--output", "1.5", "--note", "internal GPU cost", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    listed = json.loads(r.invoke(app, ["monitor", "prices", "list", "--json"]).stdout)
    assert {p["model"] for p in listed} >= {"llmops-local", "gpt-4o-mini"}
    out = tmp_path / "ft.jsonl"
    res = r.invoke(app, ["monitor", "export", "finetune", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines and json.loads(lines[0])["messages"][0]["role"] == "system"
    assert not out.with_name("ft.jsonl.part").exists()
    res = r.invoke(app, ["monitor", "export", "feedback", "--format", "csv", "--down-only"])
    assert res.exit_code == 0 and res.stdout.startswith("id,created_at,thumb")


@pytest.mark.parametrize(
    "args,message",
    [
        (["monitor", "rules", "add", "--metric", "nope", "--threshold", "1"], "unknown metric"),
        (
            [
                "monitor",
                "rules",
                "add",
                "--metric",
                "error_rate",
                "--threshold",
                "1",
                "--window",
                "soon",
            ],
            "15m, 2h or 1d",
        ),
        (["monitor", "rules", "delete", "999"], "does not exist"),
        (["monitor", "prices", "set", "m", "--input", "-1", "--output", "1"], "between 0"),
        (["monitor", "metrics", "--since", "yesterday"], "ISO date"),
        (["monitor", "metrics", "--group", "user"], "grouping"),
        (["monitor", "export", "finetune", "--format", "csv"], "jsonl"),
        (["monitor", "rollup"], "--rebuild"),
        (["monitor", "metrics", "--range", "99999999d"], "at most 3660 d"),
        (["monitor", "metrics", "--range", "9" * 5000 + "d"], "15m, 2h or 1d"),
        (["monitor", "metrics", "--until", "9999-12-31T23:59"], "between the years"),
        (["monitor", "metrics", "--since", "0001-01-01T00:00+05:00"], "between the years"),
        (["monitor", "rules", "delete", str(10**20)], "does not exist"),
        (["monitor", "rules", "add", "--metric", "error_rate", "--threshold", "1",
          "--window", "31d"], "at most 30 d"),
        (["monitor", "export", "feedback", "--days", "1e300"], "between 0 and 36,500 days"),
        (["monitor", "export", "feedback", "--days", "nan"], "finite number"),
        (["monitor", "prices", "set", "m", "--input", "abc", "--output", "1"],
         "Invalid value for '--input': 'abc' is not a valid float"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(
    runner: CliRunner, args: list[str], message: str
) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("error: ") and res.stdout == ""


def test_rollup_rebuild(seeded_home: CliRunner) -> None:
    res = seeded_home.invoke(app, ["monitor", "rollup", "--rebuild"])
    assert res.exit_code == 0 and "from 3,000 traces" in res.stdout
