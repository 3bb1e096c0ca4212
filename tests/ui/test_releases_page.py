"""AppTest: the Releases page — create from a copy with validation, diff, promote and roll
back behind a confirmation, a canary with its comparison and an automatic rollback, the
playground with an unsaved draft."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from llmops.releases import core, deploy, rollback
from llmops.store.models import AuditLog, Trace
from llmops.tracing.ids import new_trace_id
from llmops.tracing.records import TraceRecord
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui


def _page(at: AppTest, section: str) -> AppTest:
    at.run()
    at.session_state["rl_section"] = section
    at.switch_page("pages/releases.py").run()
    assert not at.exception, at.exception
    return at


def _key(at: AppTest, kind: str, prefix: str) -> Any:
    """The widget whose key starts with ``prefix`` (config fields are keyed by their base)."""
    for w in getattr(at, kind):
        if w.key and w.key.startswith(prefix):
            return w
    raise AssertionError(f"no {kind} keyed {prefix}…")


def _table(at: AppTest, column: str) -> Any:
    """The first dataframe with ``column`` (display-only dataframes carry no key)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a {column!r} column")


def _texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.error, *at.success, *at.info, *at.warning)]
    return "\n".join(str(p) for p in parts)


def test_a_release_is_created_from_a_copy_and_diffed(admin_app: AppTest) -> None:
    at = _page(admin_app, "New release")
    prod = core.labels(runtime().db).production
    _key(at, "text_area", "rl_f_").set_value("Answer in one short sentence.")
    _key(at, "number_input", f"rl_f_{prod}_k").set_value(6)
    _key(at, "text_input", f"rl_f_{prod}_temp").set_value("9")  # out of range
    at.run()
    assert "model.temperature" in _texts(at)
    assert at.button(key="rl_save").disabled
    _key(at, "text_input", f"rl_f_{prod}_temp").set_value("0.2")
    at.text_input(key="rl_new_name").set_value("short answers")
    at.text_area(key="rl_new_note").set_value("users asked for brevity")
    at.run()
    assert "3 field(s) changed" in at.caption[-1].value or any(
        "3 field(s) changed" in c.value for c in at.caption
    )
    at.button(key="rl_save").click().run()
    assert "Saved short answers" in _texts(at), _texts(at)
    rows = core.list_releases(runtime().db)
    made = next(r for r in rows if r.name == "short answers")
    cfg = core.get_release(runtime().db, made.id).config
    assert (cfg.retrieval.k, cfg.model.temperature) == (6, 0.2)
    assert made.created_by == "admin" and made.description == "users asked for brevity"

    at.query_params["diff"] = f"{prod},{made.id}"
    at.run()
    diffs = _table(at, "field")
    assert set(diffs["field"]) == {"retrieval.k", "model.temperature"}
    assert any("+Answer in one short sentence." in c.value for c in at.code)


def test_promote_and_roll_back_need_a_confirmation_and_are_audited(admin_app: AppTest) -> None:
    db = runtime().db
    first = core.labels(db).production
    cand = core.create_release(db, core.ReleaseConfig(system_prompt="Be brief."), name="brief")
    at = _page(admin_app, "Releases")
    at.selectbox(key="rl_pick").set_value(cand.id).run()
    assert at.button(key="rl_promote").disabled
    at.text_input(key="rl_note").set_value("shorter")
    at.checkbox(key="rl_promote_confirm").check().run()
    at.button(key="rl_promote").click().run()
    assert core.labels(db).production == cand.id
    listed = _table(at, "traffic")
    assert listed.loc[listed["id"] == cand.id, "labels"].item() == "production"

    assert at.button(key="rl_rollback").disabled
    at.text_input(key="rl_rb_note").set_value("answers too short")
    at.checkbox(key="rl_rb_confirm").check().run()
    at.button(key="rl_rollback").click().run()
    assert core.labels(db).production == first
    with db.session() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "release.rollback")).one()
    assert audit.actor == "admin" and audit.details["previous"] == cand.id
    assert audit.details["release_id"] == first and audit.details["note"] == "answers too short"

    at.session_state["rl_section"] = "History"
    at.run()
    moves = _table(at, "action")
    assert list(moves["action"][:2]) == ["rollback", "promote"]


def _traffic(release_id: str, n: int, errors: int) -> None:
    writer = runtime().writer
    now = time.time_ns() - 60 * 10**9
    for i in range(n):
        writer.submit(
            TraceRecord(id=new_trace_id(), name="chat", start_ns=now + i,
                        end_ns=now + i + 10**8, session_id=f"{release_id}-{i}",
                        release_id=release_id, status="error" if i < errors else "ok")
        )  # fmt: skip
    assert writer.flush()


def test_a_canary_is_started_compared_and_rolled_back(admin_app: AppTest) -> None:
    db = runtime().db
    cand = core.create_release(db, core.ReleaseConfig(system_prompt="Broken."), name="broken")
    at = _page(admin_app, "Releases")
    at.selectbox(key="rl_pick").set_value(cand.id).run()
    at.slider(key="rl_weight").set_value(20).run()
    at.button(key="rl_canary").click().run()
    assert (core.labels(db).canary, core.labels(db).canary_weight) == (cand.id, 0.2)

    _traffic(core.labels(db).production or "", 200, 2)
    _traffic(cand.id, 60, 30)
    at.session_state["rl_section"] = "Canary"
    at.run()
    table = _table(at, "canary worse")
    row = table[table["metric"] == "Error rate"].iloc[0]
    assert row["canary worse"] == "yes" and row["p"] < 0.001
    assert len([t for t in at.toggle if t.key.startswith("rl_rule_")]) == 2  # the defaults

    assert rollback.check(db)  # what the background worker runs
    at.run()
    assert core.labels(db).canary is None
    banner = next(e.value for e in at.error if "rolled back automatically" in e.value)
    assert banner.count("rolled back automatically") == 1 and banner.endswith("UTC)")
    assert _table(at, "webhook")["release"].tolist() == [cand.id]


def test_the_playground_tries_a_draft_beside_production(admin_app: AppTest) -> None:
    db = runtime().db
    at = _page(admin_app, "New release")
    prod = core.labels(db).production
    _key(at, "number_input", f"rl_f_{prod}_k").set_value(1)
    at.run()
    at.button(key="rl_try_draft").click().run()
    assert at.session_state["rl_section"] == "Playground"
    assert any("unsaved draft" in c.value for c in at.caption)
    at.text_area(key="rl_pg_q").set_value("What is a canary release?")
    at.button(key="rl_pg_run").click().run()
    assert not at.exception, at.exception
    result = at.session_state["rl_pg_result"]
    assert len(result) == 1 and len(result[0]) == 2 and result[0][0].release_id == prod
    draft_id = result[0][1].release_id
    assert not core.exists(db, draft_id)  # tried, not saved
    assert all(a.trace_id and a.status for a in result[0])
    with db.session() as s:
        sessions = set(s.scalars(select(Trace.session_id)))
    assert sessions and all(sid.startswith("playground:") for sid in sessions)

    at.text_input(key="rl_pg_name").set_value("k1 candidate")
    at.button(key="rl_pg_save").click().run()
    assert core.get_release(db, draft_id).name == "k1 candidate"
    assert deploy.previous_production(db) is None  # nothing moved


def test_name_and_note_survive_a_round_trip_to_the_playground(admin_app: AppTest) -> None:
    at = _page(admin_app, "New release")
    at.text_input(key="rl_new_name").set_value("short answers")
    at.text_area(key="rl_new_note").set_value("k=1 to see whether answers get shorter")
    at.run()
    at.button(key="rl_try_draft").click().run()
    assert at.session_state["rl_section"] == "Playground"
    at.button_group[0].set_value("New release").run()
    assert at.text_input(key="rl_new_name").value == "short answers"
    assert at.text_area(key="rl_new_note").value == "k=1 to see whether answers get shorter"
