"""Every bad value, option or file is one line on stderr with exit code 2; a bug is one line
with exit code 1 and its traceback only with --debug; printing never fails on a character
the terminal cannot encode (a lone surrogate from invalid UTF-8 in an argument)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops import cli
from llmops.cli import app
from llmops.errors import StoreError

KB = """# Rollback

A rollback moves the production label back to the previous release.
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_error_line(res: object) -> str:
    stderr: str = res.stderr  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr and "╭" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    "args,message",
    [
        (["traces", "list", "--offset", str(10**19)],
         "error: Invalid value for '--offset': 10000000000000000000 is not in the range"),
        (["traces", "list", "--limit", "abc"],
         "error: Invalid value for '--limit': 'abc' is not a valid integer "
         "(see 'llmops traces list --help')"),
        (["traces", "list", "--limit", "0"], "is not in the range 1<=x<=500"),
        (["demo", "seed", "--traces", "abc"],
         "error: Invalid value for '--traces': 'abc' is not a valid integer "
         "(see 'llmops demo seed --help')"),
        (["demo", "seed", "--days", "nan"], "error: --days must be a finite number, not nan."),
        (["chat"], "error: Missing argument 'MESSAGE' (see 'llmops chat --help')"),
        (["traces", "list", "--nope"], "No such option '--nope' (see 'llmops traces list --help')"),
        (["no-such-command"], "error: No such command 'no-such-command' (see 'llmops --help')"),
        (["--nope"], "No such option '--nope' (see 'llmops --help')"),
        (["monitor", "metrics", "--range", "99999999d"], "A window is at most 3660 d"),
        (["eval", "dataset", "from-traces", "fb", "--days", "nan"], "finite number"),
        (["eval", "dataset", "from-traces", "fb", "--days", "1e300"], "between 0 and 36,500"),
        (["eval", "online", "--once", "--rate", "nan"], "--rate must be a finite number"),
        (["eval", "online", "--once", "--settle", "1e300"], "Invalid value for '--settle'"),
        (["eval", "run", "demo", "--concurrency", "0"], "Invalid value for '--concurrency'"),
        (["guard", "check", "hello", "--direction", "sideways"], "input or output"),
        (["feedback", "0123456789abcdef0123456789abcdef", "sideways"], "error: "),
    ],
)  # fmt: skip
def test_bad_values_are_one_line_with_exit_code_2(
    runner: CliRunner, args: list[str], message: str
) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert message in _one_error_line(res)
    assert res.stdout == ""


def test_a_group_without_a_command_still_shows_its_help(runner: CliRunner) -> None:
    res = runner.invoke(app, ["traces"])
    assert res.exit_code == 2 and "list" in res.stdout and "error:" not in res.stderr
    assert runner.invoke(app, ["--help"]).exit_code == 0


def test_dataset_files_with_a_lone_surrogate_are_line_errors_and_import_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "cases.jsonl"
    bad.write_text('{"input": "ok"}\n{"input": "caf\\ud800"}\n', encoding="utf-8")
    for args in (["eval", "dataset", "import", str(bad)], ["eval", "run", str(bad)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (res.stdout, res.stderr)
        line = _one_error_line(res)
        assert "nothing imported" in line and "line 2: 'input' contains '\\ud800'" in line
    csv = tmp_path / "open.csv"
    csv.write_text('input\nfine\n"never closed\nmore\n', encoding="utf-8")
    res = runner.invoke(app, ["eval", "dataset", "import", str(csv)])
    assert res.exit_code == 2 and "line 3: a quoted cell" in _one_error_line(res)
    listed = runner.invoke(app, ["eval", "dataset", "list", "--json"])
    assert json.loads(listed.stdout) == []


def test_import_names_and_importing_twice(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ops.jsonl"
    path.write_text('{"input": "What is a rollback?"}\n{"input": "What is p95?"}\n')
    first = runner.invoke(app, ["eval", "dataset", "import", str(path), "--json"])
    assert first.exit_code == 0, first.stderr
    assert (json.loads(first.stdout)["added"], json.loads(first.stdout)["version"]) == (2, 1)
    again = runner.invoke(app, ["eval", "dataset", "import", str(path)])
    assert again.exit_code == 0
    assert again.stdout.strip() == "ops v1: added 0, 2 already in the dataset, 2 items"
    for blank in ("", "  "):
        res = runner.invoke(app, ["eval", "dataset", "import", str(path), "--name", blank])
        assert res.exit_code == 2 and "is not valid" in _one_error_line(res)
    listed = json.loads(runner.invoke(app, ["eval", "dataset", "list", "--json"]).stdout)
    assert [(d["name"], d["version"], d["items"]) for d in listed] == [("ops", 1, 2)]
    res = runner.invoke(app, ["eval", "dataset", "export", "ops", "-o", str(tmp_path / "no" / "x")])
    assert res.exit_code == 2
    assert _one_error_line(res) == f"error: {tmp_path / 'no' / 'x'}: No such file or directory"


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom\nsecond line")


def test_a_bug_is_one_line_with_exit_code_1_and_debug_shows_the_traceback(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmops.guards.profiles.get_profile", _boom)
    res = runner.invoke(app, ["guard", "check", "hello"])
    assert res.exit_code == 1
    assert _one_error_line(res) == (
        "error: internal error: RuntimeError: boom second line (run with --debug for the traceback)"
    )
    for args, env in ((["--debug", "guard", "check", "hello"], {}),
                      (["guard", "check", "hello"], {"LLMOPS_DEBUG": "1"})):  # fmt: skip
        res = runner.invoke(app, args, env=env)
        assert res.exit_code == 1
        assert res.stderr.startswith("Traceback (most recent call last):")
        assert "in _boom" in res.stderr
        assert res.stderr.strip().splitlines()[-1] == (
            "error: internal error: RuntimeError: boom second line"
        )
    # the flag does not stick to the next command of the same process
    assert "Traceback" not in runner.invoke(app, ["guard", "check", "hello"]).stderr


def test_a_store_error_keeps_exit_code_1_with_its_message(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*args: object, **kwargs: object) -> None:
        raise StoreError("The store is locked; retry in a moment.")

    monkeypatch.setattr("llmops.guards.profiles.get_profile", locked)
    res = runner.invoke(app, ["guard", "check", "hello"])
    assert res.exit_code == 1
    assert _one_error_line(res) == "error: The store is locked; retry in a moment."


def test_logged_exceptions_are_one_line_unless_debugging(monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = cli._LogFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord("llmops.x", logging.WARNING, __file__, 1, "it failed", None,
                                   sys.exc_info())  # fmt: skip
    monkeypatch.setattr(cli._Options, "debug", False)
    assert fmt.format(record) == "WARNING llmops.x: it failed (ValueError: bad thing)"
    monkeypatch.setattr(cli._Options, "debug", True)
    assert "Traceback" in fmt.format(record)


def test_a_lone_surrogate_in_an_argument_is_printed_safely(
    runner: CliRunner, tmp_path: Path
) -> None:
    # CliRunner's stdout is strict UTF-8, like a UTF-8 terminal's
    missing = str(tmp_path / "caf\udce9.md")
    res = runner.invoke(app, ["kb", "ingest", missing, "--json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["skipped"] == [{"source": missing, "reason": "not found"}]
    assert "\\udce9" in res.stdout  # a JSON escape: the document stays valid UTF-8
    res = runner.invoke(app, ["monitor", "prices", "set", "m\udce9", "--input", "1",
                              "--output", "1"])  # fmt: skip
    assert res.exit_code == 2
    assert _one_error_line(res) == (
        "error: 'm\\udce9' is not valid UTF-8 text (an argument or a name holds other bytes)"
    )


def test_invalid_utf8_arguments_in_a_real_process(tmp_path: Path, llmops_home: Path) -> None:
    exe = Path(sys.executable).with_name("llmops")
    env = {**os.environ, "LLMOPS_HOME": str(llmops_home), "PYTHONIOENCODING": "utf-8"}
    kb = tmp_path / "kb" / "en"
    kb.mkdir(parents=True)
    (kb / "rollback.md").write_text(KB, encoding="utf-8")
    subprocess.run([exe, "kb", "ingest", str(kb.parent)], check=True, env=env, capture_output=True)
    # bytes that are not UTF-8 (a Latin-1 terminal): Python decodes them to lone surrogates
    for extra in ([], ["--json"]):
        out = subprocess.run(
            [exe, "chat", b"What does rollback do? caf\xe9", "--user", b"jos\xe9", *extra],
            env=env,
            capture_output=True,
        )
        assert out.returncode == 0, out.stderr.decode(errors="replace")
        assert b"Traceback" not in out.stderr
        text = out.stdout.decode("utf-8")  # valid UTF-8 whatever the arguments held
        if extra:
            assert json.loads(text)["trace_id"]
        else:
            assert "trace " in text
    out = subprocess.run(
        [exe, "kb", "ingest", bytes(tmp_path / "caf") + b"\xe9.md", "--json"],
        env=env,
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert json.loads(out.stdout.decode("utf-8"))["skipped"][0]["source"].endswith("caf\udce9.md")


def test_a_bad_setting_names_its_environment_variable(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOPS_EVAL_CONCURRENCY", "many")
    res = runner.invoke(app, ["traces", "list"])
    assert res.exit_code == 2
    assert _one_error_line(res).startswith(
        "error: setting eval_concurrency (LLMOPS_EVAL_CONCURRENCY): Input should be a valid integer"
    )
