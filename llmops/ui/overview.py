"""Overview page widgets: filters, alert banner, KPI tiles, charts with drill-down, the
release/model breakdown, alert rules with their history, and the model price table.

Every number comes from ``llmops.monitoring`` (SQL aggregates over the rollups, or over the
raw traces for ranges up to 6 hours), cached for a few seconds per range and filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import streamlit as st

from llmops.errors import UserFacingError
from llmops.governance.roles import Actor, Capability
from llmops.monitoring import alerts, charts, metrics, pricing
from llmops.monitoring.metrics import METRICS, Scope, Stats
from llmops.tracing import health
from llmops.ui.auth import can
from llmops.ui.deps import release_ids, release_label, release_names, runtime
from llmops.ui.widgets import actor as widgets_actor
from llmops.ui.widgets import page_count, pager

RANGES: dict[str, timedelta] = {
    "Last hour": timedelta(hours=1),
    "Last 6 hours": timedelta(hours=6),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
}
GROUPS = {"none": "No breakdown", "release": "By release", "model": "By model"}
WINDOWS = {"5 min": 5, "15 min": 15, "30 min": 30, "1 hour": 60, "6 hours": 360, "1 day": 1440,
           "7 days": 10080}  # fmt: skip
CHARTS = (
    ("traces", "Traces"),
    ("error_rate", "Error rate"),
    ("latency", "Latency p50 / p95 / p99"),
    ("ttft", "Time to first token"),
    ("tokens", "Tokens"),
    ("cost", "Cost (USD)"),
    ("thumbs_up_rate", "Thumbs-up rate"),
    ("violation_rate", "Guard violation rate"),
)
DRILL_STATUS = {"error_rate": "error"}


def actor() -> Actor:
    return widgets_actor()


def now() -> datetime:
    """Now, to 10 s: reruns within the same 10 s share cached results."""
    t = datetime.now(UTC)
    return t.replace(second=t.second // 10 * 10, microsecond=0)


@dataclass(frozen=True)
class OverviewFilter:
    length: timedelta
    release_id: str | None
    model: str | None
    group: str
    refresh: bool

    def scope(self, at: datetime | None = None) -> Scope:
        return Scope.last(self.length, at or now(), release_id=self.release_id, model=self.model)


@st.cache_data(ttl=60, show_spinner=False)
def models() -> list[str]:
    return metrics.models_seen(runtime().db)


@dataclass
class Dashboard:
    overall: list[Stats]  # per bucket, all groups together (hot spots)
    series: list[Stats]  # per bucket and group (charts)
    current: Stats
    previous: Stats
    breakdown: list[Stats]


@st.cache_data(ttl=10, show_spinner=False)
def dashboard_data(scope: Scope, group: str) -> Dashboard:
    db = runtime().db
    overall = metrics.series(db, scope)
    series = overall if group == "none" else metrics.series(db, scope, group=group)
    current, previous = metrics.compare(db, scope)
    by = metrics.summary(db, scope, group="model" if group == "model" else "release")
    return Dashboard(overall, series, current, previous, by)


@st.cache_data(ttl=30, show_spinner=False)
def evaluate_alerts() -> list[dict[str, Any]]:
    """Evaluate the rules (at most every 30 s per process): transitions are recorded and
    notified here as well as by ``llmops monitor check``."""
    rt = runtime()
    s = rt.settings
    return [
        e.as_dict()
        for e in alerts.evaluate(
            rt.db,
            default_webhook=s.alert_webhook_url,
            timeout_s=s.alert_webhook_timeout_s,
            console_url=s.console_url,
        )
    ]


def filter_bar() -> OverviewFilter:
    c = st.columns([2, 3, 2, 2, 1], vertical_alignment="bottom")
    label = c[0].selectbox("Time range", list(RANGES), index=2, key="ov_range")
    release = c[1].selectbox(
        "Release", ["any", *release_ids()], key="ov_release", format_func=release_label
    )
    model = c[2].selectbox("Model", ["any", *models()], key="ov_model")
    group: str = c[3].selectbox(
        "Breakdown", list(GROUPS), format_func=lambda g: GROUPS[g], key="ov_group"
    )
    refresh = c[4].toggle(
        "Auto-refresh",
        key="ov_refresh",
        help=f"Reload the numbers every {runtime().settings.overview_refresh_s} s.",
    )
    return OverviewFilter(
        RANGES[label],
        None if release == "any" else release,
        None if model == "any" else model,
        group,
        refresh,
    )


def alert_banner() -> None:
    try:
        results = evaluate_alerts()
    except UserFacingError as exc:
        st.warning(f"Alert rules could not be evaluated: {exc}")
        return
    for r in results:
        if r["firing"]:
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.error(r["message"], icon="🔥")
            right.page_link("pages/traces.py", label="Open traces", query_params=r["traces_params"])


@st.cache_data(ttl=10, show_spinner=False)
def tracing_losses(since: datetime) -> health.Losses:
    return health.losses(runtime().db, since)


def losses_banner(scope: Scope) -> None:
    """Say loudly when the trace writer quarantined, dropped or refused records in range."""
    lost = tracing_losses(scope.since)  # up to this moment, not the rounded range end
    if not lost.total:
        return
    parts = [
        f"{n:,} {what}"
        for n, what in (
            (lost.quarantined, "quarantined (rejected by the store)"),
            (lost.dropped, "dropped (store, spool and memory full)"),
            (lost.refused, "refused (queue full)"),
        )
        if n
    ]
    st.error(
        f"Tracing did not store every record in this range: {', '.join(parts)}. "
        "Run `llmops db doctor` on the server for the details.",
        icon="⚠️",
    )


def dashboard(f: OverviewFilter) -> None:
    """Alert banner, KPIs, charts and breakdown; re-run on a timer when auto-refresh is on."""
    every = runtime().settings.overview_refresh_s if f.refresh else None
    st.fragment(_dashboard, run_every=every)(f)


def _dashboard(f: OverviewFilter) -> None:
    alert_banner()
    scope = f.scope()
    losses_banner(scope)
    period = metrics.period_for(scope)
    data = dashboard_data(scope, f.group)
    st.caption(
        f"{charts.when(period.since, period.grain)} → {charts.when(period.until, period.grain)}"
        f" · by {period.grain}"
        + " · percentiles ±2 %"
        + f" · deltas vs the {period.buckets} {period.grain}s before"
    )
    kpi_tiles(data.current, data.previous)
    if not data.current.traces:
        st.info("No traces in this range. Chat with the assistant, or run `llmops demo seed`.")
        return
    names = release_names()
    charts_grid(data.series, period.grain, names, f, (period.since, period.until))
    st.caption(f"Lines break where a {period.grain} had no turns; a rate is drawn only for "
               f"{period.grain}s with at least {charts.MIN_RATE_SAMPLES} turns.")  # fmt: skip
    st.markdown("**Hot spots** — the buckets with the most errors or the slowest p95")
    spots = charts.hot_spots(data.overall, period.grain)
    if spots:
        st.dataframe(
            spots,
            hide_index=True,
            width="stretch",
            key="ov_spots",
            column_config={
                "errors": st.column_config.LinkColumn("errors", display_text="open errors"),
                "all traces": st.column_config.LinkColumn("all traces", display_text="open"),
            },
        )
    else:
        st.caption("Nothing stands out.")
    st.markdown("**By model**" if f.group == "model" else "**By release**")
    st.dataframe(
        charts.breakdown_rows(data.breakdown, names),
        hide_index=True,
        width="stretch",
        key="ov_breakdown",
        column_config={
            "error rate": st.column_config.NumberColumn(format="percent"),
            "thumbs-up rate": st.column_config.NumberColumn(format="percent"),
            "violation rate": st.column_config.NumberColumn(format="percent"),
            "p50 ms": st.column_config.NumberColumn(format="%.0f"),
            "p95 ms": st.column_config.NumberColumn(format="%.0f"),
            "p99 ms": st.column_config.NumberColumn(format="%.0f"),
            "TTFT p95 ms": st.column_config.NumberColumn(format="%.0f"),
        },
    )


def kpi_tiles(current: Stats, previous: Stats) -> None:
    for row in (charts.KPIS[:5], charts.KPIS[5:]):
        cols = st.columns(len(row))
        for col, metric in zip(cols, row, strict=True):
            k = charts.kpi(metric, current, previous)
            col.metric(
                k["label"],
                k["value"],
                k["delta"],
                delta_color=k["delta_color"],
                help=k["help"],
                border=True,
            )


def charts_grid(
    series: list[Stats],
    grain: str,
    names: dict[str, str],
    f: OverviewFilter,
    domain: tuple[datetime, datetime],
) -> None:
    cols = st.columns(2)
    for i, (key, title) in enumerate(CHARTS):
        box = cols[i % 2].container(border=True)
        box.markdown(f"**{title}**")
        if key in ("latency", "ttft"):
            chart = charts.percentile_chart(series, key, grain, names, domain=domain)
        else:
            chart = charts.time_chart(series, key, grain, names, domain=domain)
        event = box.altair_chart(chart, on_select="rerun", key=f"ov_chart_{key}", width="stretch")
        bucket = charts.picked(event)
        if bucket is not None:
            params = charts.drill_params(
                bucket,
                grain,
                status=DRILL_STATUS.get(key),
                release_id=f.release_id,
                model=f.model,
            )
            box.page_link(
                "pages/traces.py",
                label=f"🔎 Traces of {charts.when(bucket, grain)}",
                query_params=params,
            )


# -- alert rules -------------------------------------------------------------------------------
def alerts_panel() -> None:
    db = runtime().db
    if "ov_rule_next" in st.session_state:  # set by a save or delete in the previous run
        st.session_state["ov_rule_pick"] = st.session_state.pop("ov_rule_next")
    flash = st.session_state.pop("ov_rule_flash", None)
    if flash:
        st.success(flash)
    rules = alerts.list_rules(db)
    if rules:
        st.dataframe(
            [
                {"id": r.id, "state": ("🔥 firing" if r.state == "firing" else "ok")
                 if r.enabled else "disabled", "name": r.name, "rule": r.describe(),
                 "last value": metrics.format_value(r.metric, r.last_value),
                 "checked": r.last_checked_at.strftime("%Y-%m-%d %H:%M:%S") if r.last_checked_at
                 else "—", "webhook": "yes" if r.webhook_url else "default"}
                for r in rules
            ],
            hide_index=True,
            width="stretch",
            key="ov_rules",
        )  # fmt: skip
    else:
        st.caption("No alert rules yet.")
    if not can(Capability.ALERTS):
        alert_history()
        return
    choices: list[int | None] = [None, *[r.id for r in rules]]
    by_id = {r.id: r for r in rules}
    chosen = st.selectbox(
        "Edit",
        choices,
        format_func=lambda i: "➕ New rule" if i not in by_id else f"#{i} {by_id[i].name}",
        key="ov_rule_pick",
    )
    rule_form(by_id.get(chosen) if chosen is not None else None)
    alert_history()


def rule_form(rule: alerts.Rule | None) -> None:
    k = f"ov_rule_{rule.id if rule else 'new'}_"
    metric_keys = list(METRICS)
    c = st.columns([3, 3, 1, 2, 2])
    name = c[0].text_input("Name", value=rule.name if rule else "", key=k + "name", max_chars=200)
    metric = c[1].selectbox(
        "Metric",
        metric_keys,
        index=metric_keys.index(rule.metric) if rule else 1,
        format_func=lambda m: METRICS[m].label,
        key=k + "metric",
    )
    ops = list(alerts.COMPARISONS)
    op = c[2].selectbox("Is", ops, index=ops.index(rule.comparison) if rule else 0, key=k + "op")
    unit = METRICS[metric].unit
    scale = 100.0 if unit == "ratio" else 1.0
    suffix = {"ratio": "%", "ms": "ms", "usd": "USD"}.get(unit, "")
    threshold = c[3].number_input(
        f"Threshold {suffix}".strip(),
        value=float(rule.threshold * scale) if rule else 5.0,
        key=k + "threshold",
    )
    windows = list(WINDOWS)
    current = next((w for w, m in WINDOWS.items() if rule and m == rule.window_minutes), "1 hour")
    window = c[4].selectbox("Over the last", windows, index=windows.index(current), key=k + "win")
    d = st.columns([3, 2, 1, 3, 1], vertical_alignment="bottom")
    rels = ["any", *release_ids()]
    release = d[0].selectbox(
        "Release",
        rels,
        index=rels.index(rule.release_id) if rule and rule.release_id in rels else 0,
        format_func=release_label,
        key=k + "release",
    )
    mods = ["any", *models()]
    model = d[1].selectbox(
        "Model",
        mods,
        index=mods.index(rule.model) if rule and rule.model in mods else 0,
        key=k + "model",
    )
    min_samples = d[2].number_input(
        "Min samples", min_value=0, value=rule.min_samples if rule else 20, step=1,
        key=k + "min", help="Rates and percentiles need this many samples to fire.",
    )  # fmt: skip
    webhook = d[3].text_input(
        "Webhook URL (optional)",
        value=(rule.webhook_url or "") if rule else "",
        key=k + "hook",
        help="POSTed a JSON message when the rule starts or stops firing.",
    )
    enabled = d[4].checkbox("Enabled", value=rule.enabled if rule else True, key=k + "on")
    save, remove, _ = st.columns([1, 1, 4])
    if save.button("Save rule", type="primary", key=k + "save"):
        try:
            spec = alerts.make_spec(
                name=name or f"{METRICS[metric].label} {op} {threshold:g}{suffix}",
                metric=metric, comparison=op, threshold=threshold / scale,
                window_minutes=WINDOWS[window], release_id=None if release == "any" else release,
                model=None if model == "any" else model, min_samples=int(min_samples),
                webhook_url=webhook or None, enabled=enabled,
            )  # fmt: skip
            db = runtime().db
            if rule is None:
                saved = alerts.create_rule(db, spec, actor=actor())
            else:
                saved = alerts.update_rule(db, rule.id, spec, actor=actor())
        except UserFacingError as exc:
            st.error(str(exc))
        else:
            evaluate_alerts.clear()
            st.session_state["ov_rule_flash"] = f"Saved rule #{saved.id}: {saved.describe()}"
            st.session_state["ov_rule_next"] = saved.id
            st.rerun()
    if rule is not None and remove.button("Delete", key=k + "delete"):
        alerts.delete_rule(runtime().db, rule.id, actor=actor())
        evaluate_alerts.clear()
        st.session_state["ov_rule_flash"] = f"Deleted rule #{rule.id}."
        st.session_state["ov_rule_next"] = None
        st.rerun()


def alert_history() -> None:
    page = st.session_state.get("ov_hist_page", 0)
    rows, total = alerts.history(runtime().db, limit=20, offset=page * 20)
    st.markdown(f"**Alert history** ({total:,})")
    if not rows:
        st.caption("No alert has fired yet.")
        return
    st.dataframe(
        [
            {"at": r.at.strftime("%Y-%m-%d %H:%M:%S"), "rule": f"#{r.rule_id} {r.rule}",
             "state": r.state, "value": r.value, "threshold": r.threshold, "samples": r.samples,
             "webhook": r.delivery + (f" ({r.delivery_error})" if r.delivery_error else "")}
            for r in rows
        ],
        hide_index=True,
        width="stretch",
        key="ov_history",
    )  # fmt: skip
    pages = page_count(total, 20)
    pager("ov_hist_page", page, more=page + 1 < pages, caption=f"Page {page + 1} of {pages}")


# -- prices ------------------------------------------------------------------------------------
def prices_panel() -> None:
    db = runtime().db
    st.caption(
        "A trace is priced when it is stored: with the version below in force for its model at "
        "the trace's start, else with the price its release declares. Stored costs never change."
    )
    flash = st.session_state.pop("ov_price_flash", None)
    if flash:
        st.success(flash)
    current = pricing.list_prices(db)
    if current:
        st.dataframe(
            [
                {"model": p.model, "input $/Mtok": p.input_per_mtok,
                 "output $/Mtok": p.output_per_mtok,
                 "in force from": p.effective_from.strftime("%Y-%m-%d %H:%M"), "note": p.note,
                 "by": p.created_by}
                for p in current
            ],
            hide_index=True,
            width="stretch",
            key="ov_prices",
        )  # fmt: skip
    else:
        st.caption("The price table is empty: every trace uses its release's declared price.")
    declared = {(d.model, d.input_per_mtok, d.output_per_mtok) for d in pricing.declared_prices(db)}
    if declared:
        st.markdown("Declared by releases")
        st.dataframe(
            [{"model": m, "input $/Mtok": i, "output $/Mtok": o} for m, i, o in sorted(declared)],
            hide_index=True,
            width="stretch",
            key="ov_declared",
        )
    if not can(Capability.SETTINGS):  # prices are a setting: admins change them
        return
    c = st.columns([3, 2, 2, 2, 2, 3], vertical_alignment="bottom")
    model = c[0].text_input("Model", key="ov_price_model", max_chars=200)
    price_in = c[1].number_input("Input $/Mtok", min_value=0.0, step=0.01, key="ov_price_in")
    price_out = c[2].number_input("Output $/Mtok", min_value=0.0, step=0.01, key="ov_price_out")
    day = c[3].date_input("In force from", value=datetime.now(UTC).date(), key="ov_price_day")
    at = c[4].time_input("at (UTC)", value=time(0, 0), key="ov_price_time")
    note = c[5].text_input("Note", key="ov_price_note", max_chars=500)
    if st.button("Add price version", key="ov_price_save"):
        start = datetime.combine(day, at, tzinfo=UTC)
        try:
            p = pricing.set_price(db, model, price_in, price_out, effective_from=start,
                                  note=note, actor=actor())  # fmt: skip
        except UserFacingError as exc:
            st.error(str(exc))
        else:
            st.session_state["ov_price_flash"] = (
                f"{p.model}: {p.input_per_mtok} / {p.output_per_mtok} USD per million tokens "
                f"from {p.effective_from:%Y-%m-%d %H:%M} UTC"
            )
            st.rerun()
    if st.checkbox("Show every version", key="ov_price_history"):
        st.dataframe(
            [p.as_dict() for p in pricing.list_prices(db, history=True)],
            hide_index=True,
            width="stretch",
            key="ov_price_versions",
        )
