"""AppTest: the Audit page — the audit log filtered by actor and action, paged, exported as
CSV/JSONL (an audited export); erasure behind a preview and a typed confirmation;
retention's settings and what is past them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from llmops.governance import audit
from llmops.ui import governance
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui


def _page(at: AppTest, section: str) -> AppTest:
    at.run()
    at.session_state["au_section"] = section
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.error, *at.success, *at.info, *at.caption))


def test_the_audit_log_is_filtered_paged_and_exported(admin_app: AppTest) -> None:
    db = runtime().db
    for i in range(governance.PAGE + 5):
        audit.record(db, "alice", "release.promote", f"rel-{i}", note=f"n{i}")
    audit.record(db, "bob", "dataset.create", "golden")
    at = _page(admin_app, "Audit log")
    assert "row(s) · page 1" in _texts(at)
    frame = at.dataframe[0].value
    assert len(frame) == governance.PAGE
    assert frame.iloc[0]["actor"] == "bob"  # newest first

    at.selectbox(key="au_actor").set_value("alice").run()
    frame = at.dataframe[0].value
    assert set(frame["actor"]) == {"alice"} and len(frame) == governance.PAGE
    first_page_ids = set(frame["id"])
    at.button(key="au_next").click().run()
    older = at.dataframe[0].value
    assert len(older) == 5 and not first_page_ids & set(older["id"])
    assert at.button(key="au_next").disabled
    at.button(key="au_prev").click().run()
    assert set(at.dataframe[0].value["id"]) == first_page_ids

    at.selectbox(key="au_actor").set_value(governance.ANY)
    at.selectbox(key="au_action").set_value("dataset").run()  # a family
    assert list(at.dataframe[0].value["target"]) == ["golden"]

    # the export follows the filter; downloading it is audited
    flt = audit.AuditFilter(action="dataset")
    lines = governance._exporter(flt, "jsonl", "admin")().splitlines()
    assert [json.loads(x)["target"] for x in lines] == ["golden"]
    csv_text = governance._exporter(flt, "csv", "admin")()
    assert csv_text.splitlines()[0] == "id,at,actor,action,target,details"
    assert "golden" in csv_text
    assert audit.count(db, audit.AuditFilter(action="audit.export")) == 2


def test_erasure_needs_a_preview_and_the_typed_confirmation(admin_app: AppTest) -> None:
    rt = runtime()
    turn = rt.chat.respond("What is LLMOps?", session_id="s-erase", user_id="zoe").collect()
    other = rt.chat.respond("What is LLMOps?", session_id="s-keep", user_id="yan").collect()
    assert rt.writer.flush()
    at = _page(admin_app, "Erasure")
    at.text_input(key="au_er_value").set_value("zoe").run()
    preview = at.dataframe[0].value
    assert dict(zip(preview["table"], preview["rows"], strict=True))["traces"] == 1
    assert at.button(key="au_er_go").disabled  # not confirmed yet
    at.text_input(key="au_er_confirm").set_value("erase?").run()
    assert at.button(key="au_er_go").disabled
    at.text_input(key="au_er_confirm").set_value("ERASE").run()
    at.button(key="au_er_go").click().run()
    assert not at.exception, at.exception
    assert "Erased" in _texts(at), _texts(at)
    with rt.db.engine.connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT id FROM traces"))}
        row = conn.execute(
            text("SELECT actor, target FROM audit_log WHERE action = 'erasure'")
        ).one()
    assert turn.trace_id not in ids and other.trace_id in ids
    assert row[0] == "admin" and row[1].startswith("user:") and "zoe" not in row[1]


def test_retention_shows_the_settings_and_applies_them(
    admin_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.config import reset_settings
    from llmops.demo import seed

    monkeypatch.setenv("LLMOPS_RETENTION_TRACES_DAYS", "2")
    monkeypatch.setenv("LLMOPS_BACKGROUND_INTERVAL_S", "3600")  # the button, not the worker
    reset_settings()
    db = runtime().db
    seed(db, traces=120, days=6, seed=1)
    at = _page(admin_app, "Retention")
    table = at.dataframe[0].value
    assert list(table["kept for"]) == ["2 days", *["forever"] * 4]
    due = int(table["past retention now"].iloc[0])
    assert due > 0
    at.button(key="au_ret_go").click().run()
    assert not at.exception, at.exception
    assert f"Deleted {due:,} row(s)" in _texts(at), _texts(at)
    assert at.dataframe[0].value["past retention now"].iloc[0] == 0
    assert audit.count(db, audit.AuditFilter(actor="admin", action="retention.apply")) == 1
