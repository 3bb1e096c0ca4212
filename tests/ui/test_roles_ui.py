"""AppTest: the console shows each role only what it may do — pages, sections and buttons —
signs in by account name, shows who is signed in, and drops a removed account at once. The
library refuses the same actions anyway (tests/governance/test_roles.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from llmops.governance import accounts
from llmops.releases import core
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]
EVERYONE = {"overview", "traces", "sessions", "feedback", "guardrails", "evals", "releases",
            "knowledge", "safety"}  # fmt: skip


def _pages(at: AppTest) -> set[str]:
    registered = at._registered_pages
    return {Path(p).stem for info in registered.values() if (p := str(info["script_path"]))}


def _as(app: AppTest, name: str, role: str) -> AppTest:
    app.run()  # the runtime (and its store) exists from the first run
    if accounts.get(runtime().db, name) is None:
        accounts.add(runtime().db, name, PASSWORD, role)
    app.session_state["console_user"] = name
    app.run()
    assert not app.exception, app.exception
    return app


def _open(at: AppTest, page: str, **state: Any) -> AppTest:
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def _sections(at: AppTest) -> list[str]:
    return list(at.button_group[0].options) if at.button_group else []


def _sidebar(at: AppTest) -> str:
    return " ".join(str(c.value) for c in at.sidebar.caption)


@pytest.mark.parametrize(
    ("role", "extra"),
    [("viewer", set()), ("reviewer", {"review"}), ("operator", {"review"}),
     ("admin", {"review", "audit", "settings"})],
)  # fmt: skip
def test_each_role_sees_the_pages_it_may_use(app: AppTest, role: str, extra: set[str]) -> None:
    at = _as(app, f"user-{role}", role)
    assert _pages(at) - {"chat"} == EVERYONE | extra
    assert f"user-{role}" in _sidebar(at) and role in _sidebar(at)


def test_a_viewer_reads_releases_but_gets_no_buttons_that_change_them(app: AppTest) -> None:
    at = _as(app, "vera", "viewer")
    cand = core.create_release(runtime().db, core.ReleaseConfig(system_prompt="Be brief."),
                               name="brief")  # fmt: skip
    _open(at, "pages/releases.py", rl_section="Releases")
    assert _sections(at) == ["Releases", "Diff", "Canary", "History"]
    at.selectbox(key="rl_pick").set_value(cand.id).run()
    assert at.dataframe and not {"rl_promote", "rl_canary", "rl_stage", "rl_rollback"} & _keys(at)
    _open(at, "pages/releases.py", rl_section="Canary")
    assert not any(t.key and t.key.startswith("rl_rule_") for t in at.toggle)


def test_an_operator_gets_the_release_buttons(app: AppTest) -> None:
    at = _as(app, "otto", "operator")
    cand = core.create_release(runtime().db, core.ReleaseConfig(system_prompt="Be brief."),
                               name="brief")  # fmt: skip
    _open(at, "pages/releases.py", rl_section="Releases")
    assert "New release" in _sections(at) and "Playground" in _sections(at)
    at.selectbox(key="rl_pick").set_value(cand.id).run()
    assert {"rl_promote", "rl_canary", "rl_stage"} <= _keys(at)


def test_red_team_runs_and_raw_exports_are_hidden_below_their_role(app: AppTest) -> None:
    at = _as(app, "vera", "viewer")
    _open(at, "pages/safety.py")
    assert _sections(at) == ["Scans", "Bias probes", "Risk report"]  # reading is viewing
    at.session_state["sf_section"] = "Bias probes"
    at.run()
    assert not at.exception, at.exception
    assert not any(b.key == "sf_bias_go" for b in at.button)  # running probes is not
    _open(at, "pages/feedback.py")
    assert not any(b.key and b.key.startswith("fb_dl_") for b in at.get("download_button"))
    at = _as(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60), "ada", "admin")
    _open(at, "pages/feedback.py")
    assert any(b.key and b.key.startswith("fb_dl_") for b in at.get("download_button"))


def test_a_page_run_directly_refuses_a_role_without_it() -> None:
    at = AppTest.from_file(str(ROOT / "pages/review.py"), default_timeout=60)
    at.run()  # the runtime first
    accounts.add(runtime().db, "vera", PASSWORD, "viewer")
    at.session_state["console_user"] = "vera"
    at.run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == ["Your role (viewer) cannot open this page."]
    assert not at.title


def test_sign_in_by_account_name(app: AppTest) -> None:
    app.run()
    accounts.add(runtime().db, "rita", PASSWORD, "reviewer")
    app.switch_page("pages/signin.py").run()
    assert app.text_input[0].value == ""  # no legacy admin password: no name filled in
    app.text_input[0].input("rita")
    app.text_input[1].input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert app.session_state["console_user"] == "rita"
    fresh = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    fresh.session_state["console_user"] = "rita"
    fresh.run()
    assert "Signed in as **rita** · reviewer" in _sidebar(fresh)
    assert "review" in _pages(fresh) and "audit" not in _pages(fresh)


def test_a_closed_console_says_how_to_open_it(app: AppTest) -> None:
    app.run()
    app.switch_page("pages/signin.py").run()
    assert "llmops admin users add" in app.info[0].value
    assert not app.text_input


def test_a_removed_account_is_signed_out_at_its_next_click(app: AppTest) -> None:
    at = _as(app, "vera", "viewer")
    accounts.add(runtime().db, "ada", PASSWORD, "admin")
    accounts.remove(runtime().db, "vera")
    at.run()
    assert _pages(at) == {"chat", "signin"}
    assert "console_user" not in at.session_state
