"""User ids that are personal data are stored as keyed hashes, everywhere they are stored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from llmops import feedback
from llmops.config import Settings, reset_settings
from llmops.privacy import hash_user_id, is_hashed, load_key, stored_user_id, user_id_mapper
from llmops.runtime import Runtime
from llmops.store.models import Feedback, Span, Trace


def _runtime(home: Path, **settings: str) -> Runtime:
    return Runtime(Settings(home=home, **settings))  # type: ignore[arg-type]


def _turn(rt: Runtime, user: str) -> str:
    stream = rt.chat.respond("", session_id="s", user_id=user)  # an empty message: no model
    turn = stream.collect()
    assert rt.writer.flush()
    return turn.trace_id


def test_an_email_user_id_is_hashed_in_traces_spans_and_feedback(
    llmops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _runtime(llmops_home)
    try:
        email, plain = "Ana.Garcia@Example.com", "ana-42"
        tid = _turn(rt, email)
        other = _turn(rt, plain)
        monkeypatch.setenv("LLMOPS_HOME", str(llmops_home))
        reset_settings()
        feedback.record(rt.db, tid, 1.0, user_id=email)
        with rt.db.session() as s:
            trace = s.get(Trace, tid)
            root = s.scalars(
                select(Span).where(Span.trace_id == tid, Span.parent_id.is_(None))
            ).one()
            fb = s.scalars(select(Feedback)).one()
            assert s.get(Trace, other).user_id == plain  # not personal: kept as is
        assert trace is not None and is_hashed(trace.user_id or "")
        assert root.attributes and root.attributes["user.id"] == trace.user_id
        assert fb.user_id == trace.user_id  # one person, one id, wherever it is stored
        _turn(rt, email.lower())
        with rt.db.session() as s:
            ids = set(s.scalars(select(Trace.user_id)).all())
        assert ids == {trace.user_id, plain}  # case does not make a new person
        rt.db.engine.dispose()
    finally:
        rt.close()
    raw = b"".join(p.read_bytes() for p in llmops_home.glob("llmops.db*"))
    assert b"Ana.Garcia" not in raw and b"example.com" not in raw.lower()


def test_modes_hash_and_raw(tmp_path: Path) -> None:
    hashed = user_id_mapper(Settings(home=tmp_path, user_id_mode="hash"))
    assert (
        hashed is not None and is_hashed(hashed("ana")) and hashed(hashed("ana")) == hashed("ana")
    )
    assert user_id_mapper(Settings(home=tmp_path, user_id_mode="raw")) is None


def test_the_key_is_created_once_private_and_shared_by_processes(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    key = load_key(settings)
    path = tmp_path / "user-id.key"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert load_key(Settings(home=tmp_path)) == key
    assert hash_user_id(key, "a@b.co") == hash_user_id(load_key(settings), "a@b.co")
    assert load_key(Settings(home=tmp_path, user_id_key="configured")) == b"configured"
    assert hash_user_id(b"k1", "a@b.co") != hash_user_id(b"k2", "a@b.co")


def test_stored_user_id_fits_the_column(tmp_path: Path) -> None:
    value = stored_user_id("x" * 1000, Settings(home=tmp_path))
    assert value is not None and len(value) <= 200
    assert json.dumps(stored_user_id("caf\udce9", Settings(home=tmp_path)))
