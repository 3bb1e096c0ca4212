"""Sign-in against a real `streamlit run` (uvicorn, its proxy-headers middleware) and Chromium:
the client key is what the server really saw, and a forged X-Forwarded-For changes nothing.

Each test runs its own server on its own home: failing sign-ins on loopback would otherwise
throttle the other browser tests, which all sign in from 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmops import auth
from llmops.store.db import Database
from llmops.store.models import AuditLog

from .conftest import ADMIN_PASSWORD, ARTIFACTS, _streamlit

pytestmark = pytest.mark.e2e


def _targets(home: Path) -> list[tuple[str, str | None]]:
    db = Database(f"sqlite:///{home / 'llmops.db'}")
    try:
        with db.session() as s:
            stmt = select(AuditLog).where(AuditLog.action.like("admin.signin%"))
            return [(r.action, r.target) for r in s.scalars(stmt.order_by(AuditLog.id))]
    finally:
        db.dispose()


def _attempt(
    browser: Any,
    server: str,
    password: str,
    forwarded_for: str | None = None,
    *,
    right: str = ADMIN_PASSWORD,
) -> str:
    """One sign-in from a fresh browser context (a new tab, new cookies); the message shown."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    context = browser.new_context(extra_http_headers=headers)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(server)
        page.get_by_text("Ask about LLMOps").wait_for()
        page.goto(f"{server}/signin")
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        if password == right:  # signed in: the console replaces the form
            page.get_by_label("Password", exact=True).wait_for(state="detached")
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
    monkeypatch.setenv("LLMOPS_SECRETS_PATH", str(home / "secrets.toml"))
    with _streamlit(home) as url:
        yield url, home


def test_new_tabs_and_forged_forwarded_for_do_not_evade_the_limit(
    own_server: tuple[str, Path], browser: Any
) -> None:
    server, home = own_server
    assert "Wrong account name or password." in _attempt(browser, server, "wrong password!")
    assert _targets(home) == [(auth.FAILED, auth.LOCAL)]  # loopback, not the session

    # a new tab per attempt, each claiming another address: one client all the same
    messages = [
        _attempt(browser, server, "wrong password!", f"198.51.100.{n}")
        for n in range(auth.MAX_FAILURES + 1)
    ]
    assert all("Wrong account name or password." in m for m in messages[: auth.MAX_FAILURES])
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


def test_a_fresh_servers_first_request_for_a_console_url_signs_in_and_opens_it(
    own_server: tuple[str, Path], browser: Any
) -> None:
    """The first request after a restart is a bookmark of a console page: it goes through
    app.py's navigation (no raw file names), a wrong password says so, the right one opens the
    bookmarked trace; signing in on /signin opens the Overview; /chat opens the chat."""
    server, home = own_server
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{server}/traces?trace={'f' * 32}")
        page.get_by_role("heading", name="Console sign-in").wait_for()
        nav = page.get_by_test_id("stSidebarNav")
        nav.get_by_text("Sign in").wait_for()
        assert nav.get_by_text("app", exact=True).count() == 0  # no raw pages/ file names
        page.get_by_label("Password", exact=True).fill("wrong password!")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Wrong account name or password.").wait_for()
        page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Traces").wait_for()
        page.get_by_text(re.compile("not found")).first.wait_for()
        assert page.url.split("/")[-1].startswith("traces?trace=")
        assert _targets(home) == [(auth.FAILED, auth.LOCAL), (auth.SIGNED_IN, auth.LOCAL)]

        page.goto(f"{server}/signin")  # a new session: the sign-in page itself
        page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Overview").wait_for()
        assert page.url.endswith("/overview")

        page.goto(f"{server}/chat")
        page.get_by_role("heading", name="Ask about LLMOps").wait_for()
        assert page.get_by_text("Page not found").count() == 0
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "fresh-server-signin.png"), full_page=True)
        context.close()


def test_a_password_set_with_the_cli_works_without_a_restart(
    own_server: tuple[str, Path], browser: Any, tmp_path: Path
) -> None:
    """``llmops admin set-password`` says the console uses the new password at the next
    sign-in, and the running server does."""
    server, home = own_server
    secrets = Path(os.environ["LLMOPS_SECRETS_PATH"])
    done = subprocess.run(
        [str(Path(sys.executable).parent / "llmops"), "admin", "set-password", "--password-stdin",
         "--secrets", str(secrets)],
        input="a brand new password\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "LLMOPS_HOME": str(home)}, check=True,
    )  # fmt: skip
    assert "restart" not in done.stdout and "next sign-in" in done.stdout
    new = "a brand new password"
    assert "Wrong account name or password." in _attempt(
        browser, server, ADMIN_PASSWORD, right=new
    )  # the old
    assert _attempt(browser, server, new, right=new) == "signed in"
