"""Sign-in against a real `streamlit run` (uvicorn, its proxy-headers middleware) and Chromium:
the client key is what the server really saw, and a forged X-Forwarded-For changes nothing.

Each test runs its own server on its own home: failing sign-ins on loopback would otherwise
throttle the other browser tests, which all sign in from 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmops import auth
from llmops.store.db import Database
from llmops.store.models import AuditLog

from .conftest import ADMIN_PASSWORD, _streamlit

pytestmark = pytest.mark.e2e


def _targets(home: Path) -> list[tuple[str, str | None]]:
    db = Database(f"sqlite:///{home / 'llmops.db'}")
    try:
        with db.session() as s:
            stmt = select(AuditLog).where(AuditLog.action.like("admin.signin%"))
            return [(r.action, r.target) for r in s.scalars(stmt.order_by(AuditLog.id))]
    finally:
        db.dispose()


def _attempt(browser: Any, server: str, password: str, forwarded_for: str | None = None) -> str:
    """One sign-in from a fresh browser context (a new tab, new cookies); the message shown."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    context = browser.new_context(extra_http_headers=headers)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(server)
        page.get_by_text("Ask about LLMOps").wait_for()
        page.goto(f"{server}/signin")
        page.get_by_label("Admin password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        if password == ADMIN_PASSWORD:  # signed in: the console replaces the form
            page.get_by_label("Admin password").wait_for(state="detached")
            return "signed in"
        page.get_by_test_id("stAlert").first.wait_for()
        return " ".join(page.get_by_test_id("stAlert").all_inner_texts())
    finally:
        context.close()


@pytest.fixture
def own_server(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    home = tmp_path / "signin-home"
    home.mkdir()
    trusted = getattr(request, "param", "")
    monkeypatch.setenv("LLMOPS_TRUSTED_PROXIES", trusted)
    with _streamlit(home) as url:
        yield url, home


def test_new_tabs_and_forged_forwarded_for_do_not_evade_the_limit(
    own_server: tuple[str, Path], browser: Any
) -> None:
    server, home = own_server
    assert "Wrong password." in _attempt(browser, server, "wrong password!")
    assert _targets(home) == [(auth.FAILED, auth.LOCAL)]  # loopback, not the session

    # a new tab per attempt, each claiming another address: one client all the same
    messages = [
        _attempt(browser, server, "wrong password!", f"198.51.100.{n}")
        for n in range(auth.MAX_FAILURES + 1)
    ]
    assert all("Wrong password." in m for m in messages[: auth.MAX_FAILURES])
    assert "Too many failed sign-ins" in messages[-1] and "not checked" in messages[-1]
    assert {t for _, t in _targets(home)[1:]} == {auth.PROXIED}

    # the admin on loopback (no proxy header) was never that client
    _attempt(browser, server, ADMIN_PASSWORD)
    assert _targets(home)[-1] == (auth.SIGNED_IN, auth.LOCAL)


@pytest.mark.parametrize("own_server", ["127.0.0.1"], indirect=True)
def test_behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client(
    own_server: tuple[str, Path], browser: Any
) -> None:
    server, home = own_server
    for forged in ("10.1.1.1", "8.8.8.8"):
        _attempt(browser, server, "wrong password!", f"{forged}, 203.0.113.9")
    _attempt(browser, server, "wrong password!", "2001:db8:1:2::7")
    assert [t for _, t in _targets(home)] == ["ip:203.0.113.9"] * 2 + ["ip:2001:db8:1:2::/64"]
