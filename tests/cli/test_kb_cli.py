"""``llmops kb`` on the real store: ingest makes versions, a release's pinned version is what
``search --release`` retrieves from, ``remove`` makes a version without the source, and
``gaps`` clusters the questions the assistant declined."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmops.chat import ChatService
from llmops.cli import app
from llmops.config import reset_settings
from llmops.releases import core
from llmops.store.db import Database
from llmops.text import declines
from llmops.tracing import SpanWriter

V1 = "# Rollouts\n\nA canary release serves a small share of sessions first.\n"
V2 = "# Rollouts\n\nA blue-green deployment switches all traffic between two identical stacks.\n"
NEW = "# Quotas\n\nThe token quota of a tenant resets every night at midnight UTC.\n"
QUESTION = "How are releases rolled out?"

PARKING = [
    "Where can I park my car at the office?",
    "Is there parking for employees at the office building?",
    "How do I get a parking space at the office?",
]
VACATION = [
    "How many vacation days do employees get per year?",
    "What is the annual vacation allowance for staff?",
    "How many days of paid holiday do I have each year?",
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def store(db: Database, db_url: str, embeddings: Any, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The command works on the test's store (SQLite, or PostgreSQL when configured), with
    the session's embedding model (the same model, loaded once rather than per command)."""
    monkeypatch.setenv("LLMOPS_DATABASE_URL", db_url)
    monkeypatch.setattr("llmops.rag.embeddings.MiniLMEmbeddings", lambda *_, **__: embeddings)
    reset_settings()
    return db


def _ok(runner: CliRunner, *args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def _json(runner: CliRunner, *args: str) -> Any:
    return json.loads(_ok(runner, *args, "--json").stdout)


def _write(root: Path, name: str, text: str) -> Path:
    (root / "en").mkdir(parents=True, exist_ok=True)
    (root / "en" / name).write_text(text, encoding="utf-8")
    return root


def _texts(found: dict[str, Any]) -> str:
    return " ".join(r["text"] for r in found["results"])


def test_versions_pins_search_and_remove(
    runner: CliRunner, store: Database, tmp_path: Path
) -> None:
    root = _write(tmp_path / "kb", "rollouts.md", V1)
    first = _json(runner, "kb", "ingest", str(root), "--note", "first cut")
    assert (first["added"], first["version"], first["published"]) == (
        ["en/rollouts.md"],
        "kb-1",
        True,
    )
    assert _json(runner, "kb", "ingest", str(root))["version"] is None  # unchanged: no version
    (v1,) = _json(runner, "kb", "versions")
    assert (v1["name"], v1["note"], v1["latest"]) == ("kb-1", "first cut", True)
    assert v1["created_by"].startswith("cli:")  # the OS user running the CLI
    listed = _json(runner, "kb", "list")
    assert listed["total"] == 1
    (src,) = listed["sources"]
    assert (src["source"], src["title"], src["lang"], src["chunks"]) == (
        "en/rollouts.md",
        "Rollouts",
        "en",
        1,
    )
    assert src["ingested_by"] == v1["created_by"]
    assert len(src["content_hash"]) == 64

    pinned = core.create_release(store, core.ReleaseConfig(kb_version="kb-1"), name="pinned")
    _write(root, "rollouts.md", V2)
    assert _json(runner, "kb", "ingest", str(root))["version"] == "kb-2"
    rows = {v["name"]: v for v in _json(runner, "kb", "versions")}
    assert rows["kb-2"]["latest"] and not rows["kb-1"]["latest"]
    assert rows["kb-1"]["releases"] == [pinned.id]  # kept: the release needs it

    shown = _ok(runner, "kb", "versions").stdout.splitlines()
    assert shown[0].startswith("kb-2") and " latest " in shown[0]
    assert shown[1].startswith("kb-1") and f"pinned by {pinned.id}" in shown[1]

    old = _json(runner, "kb", "search", QUESTION, "--release", pinned.id)
    assert (old["release"], old["kb_version"], old["pinned"]) == (pinned.id, "kb-1", True)
    assert "canary" in _texts(old) and "blue-green" not in _texts(old)
    now = _json(runner, "kb", "search", QUESTION)  # production follows the latest
    assert (now["kb_version"], now["pinned"], now["k"]) == ("kb-2", False, 4)
    assert "blue-green" in _texts(now) and "canary" not in _texts(now)
    top = now["results"][0]
    assert top["rank"] == 1 and top["source"] == "en/rollouts.md" and "dense" in top["retriever"]
    text = _ok(runner, "kb", "search", QUESTION, "--release", pinned.id, "--k", "1").stdout
    lines = text.splitlines()
    assert "kb-1 (pinned)" in lines[0] and "k 1" in lines[0]
    assert len(lines) == 2 and lines[1].startswith(" 1. ") and "en/rollouts.md" in lines[1]
    assert "canary release serves" in lines[1]

    # a draft is served only to a release that pins it
    _write(root, "quotas.md", NEW)
    draft = _json(runner, "kb", "ingest", str(root), "--draft")
    assert (draft["version"], draft["published"]) == ("kb-3", False)
    quota = "When does the token quota reset?"
    assert "midnight" not in _texts(_json(runner, "kb", "search", quota))
    trial = core.create_release(store, core.ReleaseConfig(kb_version="kb-3"), name="trial")
    assert "midnight" in _texts(_json(runner, "kb", "search", quota, "--release", trial.id))

    removed = _json(runner, "kb", "remove", "en/quotas.md", "--note", "outdated")
    assert (removed["removed"], removed["version"]) == (["en/quotas.md"], "kb-4")
    assert [s["source"] for s in _json(runner, "kb", "list")["sources"]] == ["en/rollouts.md"]
    newest = _json(runner, "kb", "versions")[0]
    assert (newest["name"], newest["note"], newest["sources"]) == ("kb-4", "outdated", 1)
    missing = runner.invoke(app, ["kb", "remove", "en/quotas.md"])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        "error: 'en/quotas.md': not in the knowledge base (see 'llmops kb list')."
    )


def test_list_pages_in_sql(runner: CliRunner, store: Database, tmp_path: Path) -> None:
    root = _write(tmp_path / "kb", "a.md", V1)
    _write(root, "b.md", V2)
    _write(root, "c.md", NEW)
    _ok(runner, "kb", "ingest", str(root))
    page = _json(runner, "kb", "list", "--limit", "1", "--offset", "1")
    assert page["total"] == 3 and [s["source"] for s in page["sources"]] == ["en/b.md"]
    text = _ok(runner, "kb", "list", "--limit", "2").stdout.splitlines()
    assert text[0].startswith("en/a.md") and text[-1] == "1–2 of 3 sources"


def test_gaps_cluster_declined_questions(
    runner: CliRunner, store: Database, chat_service: ChatService, writer: SpanWriter
) -> None:
    for q in PARKING + VACATION:
        assert declines(chat_service.ask(q, session_id="live").answer)
    chat_service.ask("What is LLMOps?", session_id="live")  # answered: not a gap
    assert writer.flush()
    assert _json(runner, "kb", "gaps", "--no-refresh") == []  # nothing clustered yet
    found = _json(runner, "kb", "gaps", "--range", "24h")
    assert len(found) == 2
    for gap in found:
        assert {"id", "label", "count", "examples", "lang", "trend", "releases"} <= set(gap)
        assert gap["count"] == 3 and gap["lang"] == "en" and gap["declined"] == 3
        # one count per day of the range (SQLite days by integer division, not a group
        # per second that overwrote the day's count)
        assert gap["label"] in gap["examples"] and len(gap["trend"]) == 2
        assert sum(gap["trend"]) == gap["count"]  # one group a day, not a second
    assert sorted(sorted(g["examples"]) for g in found) == sorted(
        [sorted(PARKING), sorted(VACATION)]
    )
    text = _ok(runner, "kb", "gaps", "--range", "30d").stdout
    assert "refreshed: 0 new questions clustered" in text  # each question is clustered once
    assert all(q[:60] in text for q in PARKING)


@pytest.mark.parametrize("value", ["7x", "0d", "400d", "", "-1d"])
def test_a_bad_range_is_one_line_and_exit_2(runner: CliRunner, value: str) -> None:
    result = runner.invoke(app, ["kb", "gaps", "--range", value, "--json"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --range") and result.stdout == ""
