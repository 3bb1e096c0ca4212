"""Sign-in page (AppTest): a wrong password says so, a throttled client is told how long to
wait, and a new session of the same (loopback) client is still throttled."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from llmops import auth
from llmops.config import reset_settings
from llmops.store.db import Database
from llmops.store.models import AuditLog, utcnow
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui

PASSWORD = "correct horse battery"
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def signin(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    hashed = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    monkeypatch.setenv(auth.HASH_KEY, hashed)
    reset_settings()
    return _open(app)


def _open(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("pages/signin.py").run()
    assert not at.exception, at.exception
    return at


def _submit(at: AppTest, password: str) -> AppTest:
    at.text_input[1].input(password)  # the name is "admin", filled in
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def _signin_rows(db: Database) -> list[AuditLog]:
    with db.session() as s:
        stmt = select(AuditLog).where(AuditLog.action.like("admin.signin%")).order_by(AuditLog.id)
        return list(s.scalars(stmt))


def _nine_old_failures(db: Database, who: str) -> None:
    """Nine failures in a row whose wait is just over, so the next one waits the longest."""
    hashed = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    waits = [auth.delay_after(n) for n in range(1, 9)]
    at = utcnow() - sum(waits, timedelta()) - auth.delay_after(9) - timedelta(seconds=1)
    for wait in [*waits, timedelta(0)]:
        assert auth.sign_in(db, hashed, "wrong password!", who=who, now=at).status == "wrong"
        at += wait


def test_a_wrong_password_says_so(signin: AppTest) -> None:
    _submit(signin, "wrong password!")
    assert [e.value for e in signin.error] == ["Wrong account name or password."]
    assert not signin.warning
    assert "console_user" not in signin.session_state
    rows = _signin_rows(runtime().db)
    assert [(r.action, r.target) for r in rows] == [(auth.FAILED, auth.LOCAL)]


def test_a_throttled_client_is_told_how_long_to_wait(signin: AppTest) -> None:
    for _ in range(auth.MAX_FAILURES - 1):
        _submit(signin, "wrong password!")
        assert signin.error[0].value == "Wrong account name or password." and not signin.warning
    _submit(signin, "wrong password!")
    assert signin.error[0].value == "Wrong account name or password."
    assert "the next attempt is checked in 30 seconds" in signin.warning[0].value
    assert auth.client_state(runtime().db, auth.LOCAL).failures == auth.MAX_FAILURES


def test_a_new_session_of_the_same_client_is_still_throttled(
    signin: AppTest,
) -> None:
    db = runtime().db
    _nine_old_failures(db, auth.LOCAL)  # loopback and AppTest (no peer) are one client
    _submit(signin, "another wrong one")
    assert signin.error[0].value == "Wrong account name or password."
    assert "checked in 15 minutes" in signin.warning[0].value

    fresh = _open(AppTest.from_file(APP, default_timeout=60))  # a new tab: a new session
    _submit(fresh, PASSWORD)  # even the right password is not checked now
    message = fresh.error[0].value
    assert "Too many failed sign-ins" in message and "not checked" in message
    assert re.search(r"Try again in 1[45] minutes", message), message
    assert "console_user" not in fresh.session_state
    rows = _signin_rows(db)
    assert [r.action for r in rows[-2:]] == [auth.FAILED, auth.THROTTLED]
    assert {r.target for r in rows} == {auth.LOCAL}
    assert auth.client_state(db, auth.LOCAL).failures == 10  # the refused one is not counted


def test_the_right_password_signs_in_despite_other_clients_failures(signin: AppTest) -> None:
    db = runtime().db
    for n in range(30):
        _nine_old_failures(db, f"ip:198.51.100.{n}")
    _submit(signin, PASSWORD)
    assert signin.session_state["console_user"] == "admin"
    assert _signin_rows(db)[-1].action == auth.SIGNED_IN
