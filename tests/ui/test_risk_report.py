"""AppTest: the risk report in the console — promotion on the Releases page shows its
summary and warns visibly when a gate failed; the Safety page shows the full report and the
bias probe runs of a release."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from llmops.redteam import bias_runs
from llmops.redteam import scan as rt
from llmops.releases import core
from llmops.store.db import Database
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui


def _scan(db: Database, release_id: str, wins: int, n: int = 8) -> int:
    release = core.resolve_ref(db, release_id)
    scan_id = rt.start_scan(db, release, ["toxic_content"], "tester", n)
    findings = [
        rt.Finding(f"tox-{i}", "toxic_content", "en", "LLM05:2025", i < wins,
                   "toxic_output" if i < wins else "guard_blocked", "detail", "p", "a",
                   f"{i + 1:032x}", [f"{i + 1:032x}"])
        for i in range(n)
    ]  # fmt: skip
    rt._finish(db, scan_id, findings, status="done")
    return scan_id


def _open(at: AppTest, page: str, key: str, section: str) -> AppTest:
    at.run()
    at.session_state[key] = section
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_promotion_warns_when_a_gate_failed(admin_app: AppTest) -> None:
    db = runtime().db
    weak = core.create_release(db, core.ReleaseConfig(guard_profile="off"), name="weak")
    clean = core.create_release(db, core.ReleaseConfig(system_prompt="Be brief."), name="brief")
    _scan(db, weak.id, wins=6)
    _scan(db, clean.id, wins=0)

    at = _open(admin_app, "pages/releases.py", "rl_section", "Releases")
    at.selectbox(key="rl_pick").set_value(weak.id).run()
    assert not at.exception, at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "1 gate(s) failed" in warnings and "Red-team gate" in warnings
    assert "toxic_content 75%" in warnings
    box = at.checkbox(key="rl_promote_confirm")
    assert "despite 1 failed gate(s)" in box.label
    # the summary sits before the confirm: every gate and section is named
    captions = " ".join(c.value for c in at.caption)
    assert "Evaluation gate" in captions and "no evaluation" in captions
    assert "PII handling and data retention" in captions

    at.selectbox(key="rl_pick").set_value(clean.id).run()
    assert not any("gate(s) failed" in w.value for w in at.warning)
    assert "despite" not in at.checkbox(key="rl_promote_confirm").label
    assert "every category at or below 5%" in " ".join(c.value for c in at.caption)
    # a warning does not forbid: the approver can still promote after confirming
    at.selectbox(key="rl_pick").set_value(weak.id).run()
    at.checkbox(key="rl_promote_confirm").check().run()
    at.button(key="rl_promote").click().run()
    assert core.labels(db).production == weak.id


def test_the_safety_page_shows_the_report_and_bias_runs(admin_app: AppTest) -> None:
    db = runtime().db
    weak = core.create_release(db, core.ReleaseConfig(guard_profile="off"), name="weak")
    _scan(db, weak.id, wins=3)
    run_id = bias_runs.start_run(db, weak, ["gender"], ["en"], 8, "tester")
    bias_runs.finish_run(db, run_id, {"gender": {
        "flagged": True, "groups": {"female": {"n": 4, "refusal_rate": 1.0},
                                    "male": {"n": 4, "refusal_rate": 0.0}},
        "reasons": ["'female' is refused more than 'male' (100% vs 0%)"], "refusal_gap": 1.0,
        "refusal_p": 0.005, "length_gap": 0.0, "length_p": 1.0, "similarity_mean": 0.5,
        "similarity_min": 0.4}}, {"gender": []})  # fmt: skip

    at = _open(admin_app, "pages/safety.py", "sf_section", "Risk report")
    at.selectbox(key="sf_report_release").set_value(weak.id).run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Risk report — weak" in text and "Red-team scan — ❌ failed" in text
    assert "No evaluation run of this release." in text
    assert any("Red-team gate" in w.value and "Fairness gate" in w.value for w in at.warning)
    links = next(d.value for d in at.dataframe if "trace" in d.value.columns)
    assert len(links) == 3 and links["trace"].str.startswith("/traces?trace=").all()

    at.session_state["sf_section"] = "Bias probes"
    at.run()
    assert not at.exception, at.exception
    runs = next(d.value for d in at.dataframe if "flagged" in d.value.columns)
    assert list(runs["run"]) == [run_id] and list(runs["flagged"]) == ["gender"]
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")  # gaps over time
    detail = next(d.value for d in at.dataframe if "refusal gap" in d.value.columns)
    assert detail["refusal p"].item() == pytest.approx(0.005)


def test_bias_probes_start_from_the_safety_page_and_are_listed(admin_app: AppTest) -> None:
    from llmops.ui import safety

    at = _open(admin_app, "pages/safety.py", "sf_section", "Bias probes")
    assert any("No bias probe run yet" in i.value for i in at.info)
    at.multiselect(key="sf_bias_attrs").set_value(["age"])
    at.multiselect(key="sf_bias_langs").set_value(["es"])
    at.button(key="sf_bias_go").click().run()
    assert not at.exception, at.exception
    assert any("Bias probes started" in s.value for s in at.success)
    safety.jobs().join()
    safety._bias_runs.clear()
    at.run()
    runs = next(d.value for d in at.dataframe if "flagged" in d.value.columns)
    assert list(runs["status"]) == ["done"] and list(runs["attributes"]) == ["age"]
    assert list(runs["probes"]) == [12]
    detail = next(d.value for d in at.dataframe if "refusal gap" in d.value.columns)
    assert list(detail["attribute"]) == ["age"]
