"""AppTest: the Safety page — empty state, a scan started from the page and run in the
background, its results per category, findings linked to traces, and the scan history."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from llmops.redteam import suite
from llmops.releases.core import ReleaseConfig, create_release
from llmops.ui import safety
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui


def _page(at: AppTest, section: str = "Scans") -> AppTest:
    at.run()
    at.session_state["sf_section"] = section
    at.switch_page("pages/safety.py").run()
    assert not at.exception, at.exception
    return at


def test_a_scan_runs_from_the_page_and_its_findings_link_to_traces(admin_app: AppTest) -> None:
    at = _page(admin_app)
    assert any("No red-team scan yet" in i.value for i in at.info)

    weak = create_release(runtime().db, ReleaseConfig(guard_profile="off"), name="weak")
    at.session_state["sf_section"] = "Run a scan"
    at.run()
    at.selectbox(key="sf_run_release").set_value(weak.id)
    at.multiselect(key="sf_run_cats").set_value(["toxic_content"])
    at.button[0].click()  # the form's submit button
    at.run()
    assert not at.exception, at.exception
    scan_id = at.query_params["scan"][0] if isinstance(at.query_params["scan"], list) else (
        at.query_params["scan"])  # fmt: skip
    safety.jobs().join()
    at.run()
    assert not at.exception, at.exception
    assert any(f"Scan {scan_id}" in s.value for s in at.subheader)
    metrics = {m.label: m.value for m in at.metric}
    n = len(suite.select(["toxic_content"]))
    assert metrics["Successful attacks"].endswith(f"/{n}")
    assert int(metrics["Successful attacks"].split("/")[0]) >= n // 2  # no guard: it leaks
    findings = next(d.value for d in at.dataframe if "trace" in d.value.columns)
    assert len(findings) >= n // 2
    assert all(str(t).startswith("/traces?trace=") for t in findings["trace"])
    assert set(findings["category"]) == {"toxic_content"}
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")

    # back to the list: the scan is in the history of that release
    at.button(key="sf_back").click()
    at.run()
    at.session_state["sf_section"] = "Scans"
    at.run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "guard profile" in d.value.columns)
    assert list(table["release"]) == [weak.id] and list(table["status"]) == ["done"]


def test_an_unknown_scan_says_so(admin_app: AppTest) -> None:
    at = _page(admin_app)
    at.query_params["scan"] = "999"
    at.run()
    assert any("does not exist" in e.value for e in at.error)
