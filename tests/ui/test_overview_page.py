"""Overview page (AppTest): KPI tiles against the store, charts, breakdown, hot spots that
drill into the Traces page, the alert banner and editor, and the price table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from llmops import demo
from llmops.monitoring import alerts
from llmops.store.models import AlertEvent, AlertRule, AuditLog, ModelPrice, Trace
from llmops.ui.deps import runtime

from ..monitoring.webhook_server import webhook

pytestmark = pytest.mark.ui

END = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)


def _open(at: AppTest, seed: bool = True) -> AppTest:
    at.run()
    if seed:
        demo.seed(runtime().db, traces=1500, days=3, seed=11, end=END)
    at.switch_page("pages/overview.py").run()
    assert not at.exception, at.exception
    return at


def _pick(at: AppTest, key: str, value: str) -> AppTest:
    at.selectbox(key=key).set_value(value).run()
    assert not at.exception, at.exception
    return at


def _metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def test_overview_is_the_first_console_page(admin_app: AppTest) -> None:
    admin_app.run()
    pages = list(admin_app._registered_pages.values())
    # callable pages (the "/chat" and "/signin" redirects) have no script path
    console = [p for p in pages if p["script_path"] and "chat" not in str(p["script_path"])]
    assert str(console[0]["script_path"]).endswith("overview.py")
    assert any(str(p["script_path"]).endswith("feedback.py") for p in pages)


def test_empty_store_says_so(admin_app: AppTest) -> None:
    at = _open(admin_app, seed=False)
    assert any("No traces in this range" in i.value for i in at.info)
    assert _metrics(at)["Traces"][0] == "0"


def test_kpis_charts_and_breakdown_match_the_store(admin_app: AppTest) -> None:
    at = _pick(_open(admin_app), "ov_range", "Last 7 days")
    with runtime().db.session() as s:
        total = s.scalar(select(func.count()).select_from(Trace))
        errors = s.scalar(select(func.count()).select_from(Trace).where(Trace.status == "error"))
    shown = _metrics(at)
    assert shown["Traces"][0] == f"{total:,}"
    assert shown["Error rate"][0] == f"{errors / total:.1%}"
    assert len(shown) == 10 and all(v != "—" for v, _ in shown.values())
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 8
    breakdown = next(d.value for d in at.dataframe if "thumbs-up rate" in d.value.columns)
    assert breakdown["traces"].sum() == total
    assert any("demo v2 local" in g for g in breakdown["group"])

    at = _pick(at, "ov_group", "model")
    breakdown = next(d.value for d in at.dataframe if "thumbs-up rate" in d.value.columns)
    assert set(breakdown["group"]) >= {"llmops-local", "gpt-4o-mini"}

    at.toggle(key="ov_refresh").set_value(True).run()  # the dashboard becomes a timed fragment
    assert not at.exception, at.exception
    assert _metrics(at)["Traces"][0] == f"{total:,}"


def test_release_filter_narrows_every_number(admin_app: AppTest) -> None:
    at = _pick(_open(admin_app), "ov_range", "Last 7 days")
    with runtime().db.session() as s:
        rid, n = s.execute(
            select(Trace.release_id, func.count()).group_by(Trace.release_id).limit(1)
        ).one()
    at = _pick(at, "ov_release", rid)
    assert _metrics(at)["Traces"][0] == f"{n:,}"


def test_hot_spot_links_drill_into_the_traces_of_that_window(admin_app: AppTest) -> None:
    at = _pick(_open(admin_app), "ov_range", "Last 7 days")
    spots = next(d.value for d in at.dataframe if "vs typical p95" in d.value.columns)
    assert len(spots) > 0
    link = spots["errors"].iloc[0]
    params = dict(parse_qsl(urlsplit(link).query))
    assert urlsplit(link).path == "/traces" and params["status"] == "error"
    since, until = (datetime.fromisoformat(params[k]) for k in ("since", "until"))
    assert until - since == timedelta(hours=1)

    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("pages/traces.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    with runtime().db.session() as s:
        want = set(
            s.scalars(
                select(Trace.id).where(
                    Trace.started_at >= since, Trace.started_at < until, Trace.status == "error"
                )
            )
        )
    assert want and set(table["trace"]) == want
    assert set(table["status"]) == {"error"}
    assert any("UTC" in m.value for m in at.markdown)

    at.button(key="tr_clear_window").click().run()
    assert "since" not in at.query_params
    assert len(at.dataframe[0].value) > len(want)


def test_a_firing_rule_shows_a_banner_and_notifies_once(admin_app: AppTest) -> None:
    admin_app.run()
    db = runtime().db
    demo.seed(db, traces=1500, days=3, seed=11, end=datetime.now(UTC))
    with webhook() as hook:
        spec = alerts.make_spec(name="Errors above 0.1 %", metric="error_rate", threshold=0.001,
                                window_minutes=1440, min_samples=10, webhook_url=hook.url)  # fmt: skip
        alerts.create_rule(db, spec)
        admin_app.switch_page("pages/overview.py").run()
        assert not admin_app.exception, admin_app.exception
        banner = [e.value for e in admin_app.error if "FIRING" in e.value]
        assert banner and "Errors above 0.1 %" in banner[0]
        admin_app.run()  # a rerun within the cache TTL does not evaluate again
    assert len(hook.received) == 1 and hook.received[0]["alert"]["state"] == "firing"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AlertEvent)) == 1
    history = next(d.value for d in admin_app.dataframe if "webhook" in d.value.columns
                   and "samples" in d.value.columns)  # fmt: skip
    assert list(history["state"]) == ["firing"] and history["webhook"].iloc[0] == "sent"


def test_alert_rules_are_created_edited_and_deleted_in_the_console(admin_app: AppTest) -> None:
    at = _open(admin_app, seed=False)
    k = "ov_rule_new_"
    at.text_input(key=k + "name").input("p95 too slow")
    at.selectbox(key=k + "metric").set_value("latency_p95")
    at.run()
    at.number_input(key=k + "threshold").set_value(2500.0)
    at.selectbox(key=k + "win").set_value("15 min")
    at.button(key=k + "save").click().run()
    assert not at.exception, at.exception
    assert any("Saved rule" in s.value for s in at.success)
    with runtime().db.session() as s:
        rule = s.scalars(select(AlertRule)).one()
    assert (rule.name, rule.metric, rule.threshold, rule.window_minutes) == (
        "p95 too slow", "latency_p95", 2500.0, 15
    )  # fmt: skip

    at.selectbox(key="ov_rule_pick").set_value(rule.id).run()
    k = f"ov_rule_{rule.id}_"
    assert at.number_input(key=k + "threshold").value == 2500.0
    at.selectbox(key=k + "metric").set_value("error_rate").run()
    at.number_input(key=k + "threshold").set_value(5.0)  # percent, for rates
    at.button(key=k + "save").click().run()
    with runtime().db.session() as s:
        edited = s.get(AlertRule, rule.id)
        assert edited is not None and (edited.metric, edited.threshold) == ("error_rate", 0.05)

    at.text_input(key=k + "hook").input("ftp://nope")
    at.button(key=k + "save").click().run()
    assert any("http:// or https://" in e.value for e in at.error)

    at.button(key=k + "delete").click().run()
    with runtime().db.session() as s:
        assert s.scalars(select(AlertRule)).all() == []
        actions = set(s.scalars(select(AuditLog.action)))
    assert {"alert.create", "alert.update", "alert.delete"} <= actions


def test_a_price_version_is_added_and_shown(admin_app: AppTest) -> None:
    at = _open(admin_app)
    at.text_input(key="ov_price_model").input("llmops-local")
    at.number_input(key="ov_price_in").set_value(0.25)
    at.number_input(key="ov_price_out").set_value(0.5)
    at.button(key="ov_price_save").click().run()
    assert not at.exception, at.exception
    assert any("llmops-local: 0.25 / 0.5" in s.value for s in at.success)
    prices = next(d.value for d in at.dataframe if "in force from" in d.value.columns)
    assert "llmops-local" in set(prices["model"])
    with runtime().db.session() as s:
        assert s.scalar(select(func.count()).select_from(ModelPrice)) == 3  # + 2 demo models
    at.text_input(key="ov_price_model").input("")
    at.button(key="ov_price_save").click().run()
    assert any("model name" in e.value for e in at.error)
