"""``cliutil.one_shot``: no cyclic garbage collection while a one-shot command loads and runs,
collection back on afterwards (with what was loaded frozen), also when the command fails;
``llmops guard check`` runs in it and leaves the process as it found it."""

from __future__ import annotations

import gc

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.cliutil import one_shot


def test_no_collection_inside_and_collection_back_on_after() -> None:
    with one_shot():
        assert not gc.isenabled()
        loaded = [[] for _ in range(100)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(loaded)


def test_collection_is_back_on_when_the_command_fails() -> None:
    with pytest.raises(RuntimeError), one_shot():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_process_that_had_collection_off_keeps_it_off() -> None:
    gc.disable()
    with one_shot():
        pass
    assert not gc.isenabled()


def test_guard_check_leaves_collection_on() -> None:
    res = CliRunner().invoke(app, ["guard", "check", "write to ana@example.com", "--json"])
    assert res.exit_code == 0, res.output
    assert '"<EMAIL>"' in res.stdout or "<EMAIL>" in res.stdout
    assert gc.isenabled()
