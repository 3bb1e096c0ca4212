"""Safety page widgets: red-team scans over time per release, one scan's attack success
rate per category and language with intervals, its findings linked to their traces, and a
new scan started as a background job (``llmops.redteam.jobs``) whose progress the page polls;
bias probe runs over time with each attribute's gaps and significance, started in the
background too; the risk report per release is ``llmops.ui.risk``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from llmops.errors import UserFacingError
from llmops.governance.roles import Capability
from llmops.redteam import bias, bias_runs, charts, suite
from llmops.redteam.jobs import ScanJobs
from llmops.redteam.scan import ScanRow, count_scans, get_row, get_scan, list_scans
from llmops.releases.core import list_releases
from llmops.ui.auth import can
from llmops.ui.deps import runtime
from llmops.ui.widgets import Sections, actor, page_count, pager, show_error

SECTIONS = ["Scans", "Run a scan", "Bias probes", "Risk report"]
_SECTIONS = Sections("sf", SECTIONS, {"Run a scan": Capability.REDTEAM})
section_picker = _SECTIONS.pick
PAGE_SIZE = 25
HISTORY = 200  # scans drawn in the history chart


@st.cache_resource(show_spinner=False)
def jobs() -> ScanJobs:
    return ScanJobs(runtime().chat)


@st.cache_data(ttl=5, show_spinner=False)
def _scans(release_id: str | None, offset: int, limit: int) -> tuple[list[ScanRow], int]:
    db = runtime().db
    return (list_scans(db, release_id=release_id, limit=limit, offset=offset),
            count_scans(db, release_id=release_id))  # fmt: skip


def _releases() -> dict[str, str]:
    """Release id → a readable name with its labels (newest first)."""
    rows = list_releases(runtime().db, limit=200)
    return {r.id: f"{r.name} · {r.id}" + (f" [{', '.join(r.labels)}]" if r.labels else "")
            for r in rows}  # fmt: skip


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


# -- scans -------------------------------------------------------------------------------------
def scans_section() -> None:
    releases = _releases()
    pick = st.selectbox("Release", ["all", *releases], key="sf_release",
                        format_func=lambda r: "all releases" if r == "all" else releases[r])  # fmt: skip
    release_id = None if pick == "all" else pick
    history, _ = _scans(release_id, 0, HISTORY)
    if not history:
        st.info("No red-team scan yet: run one in 'Run a scan', or `llmops redteam run`.")
        return
    st.altair_chart(charts.history_chart(history), width="stretch")
    page = int(st.session_state.get("sf_page", 0))
    rows, total = _scans(release_id, page * PAGE_SIZE, PAGE_SIZE)
    st.dataframe(
        [{"scan": f"?scan={r.id}", "started": r.started_at, "release": r.release_id,
          "name": r.release_name, "label": r.release_label, "guard profile": r.guard_profile,
          "status": r.status, "ASR": _pct(r.attack_success_rate),
          "successes": f"{r.successes}/{r.attacks}" if r.status == "done"
          else f"{r.done}/{r.total}", "by": r.created_by} for r in rows],
        column_config={"scan": st.column_config.LinkColumn(display_text=r"scan=(\d+)")},
        hide_index=True, width="stretch", key="sf_scans",
    )  # fmt: skip
    pages = page_count(total, PAGE_SIZE)
    pager("sf_page", page, more=page + 1 < pages, caption=f"page {page + 1} of {pages}")


@st.fragment(run_every=1.0)
def _progress(scan_id: int) -> None:
    row = get_row(runtime().db, scan_id)
    total = max(1, row.total)
    st.progress(min(1.0, row.done / total), text=f"{row.status}: {row.done}/{row.total} attacks")
    if row.status != "running":
        st.rerun()  # finished: render the results


def scan_detail(ref: str) -> None:
    if st.button("← All scans", key="sf_back"):
        del st.query_params["scan"]
        st.rerun()
    db = runtime().db
    try:
        row = get_row(db, ref)
    except UserFacingError as exc:
        show_error(exc)
        return
    st.subheader(f"Scan {row.id} · {row.release_name}")
    st.caption(f"release `{row.release_id}` ({row.release_label or 'no label'}) · guard profile "
               f"`{row.guard_profile}` · by {row.created_by} · {row.started_at:%Y-%m-%d %H:%M}")  # fmt: skip
    if row.status == "running":
        _progress(row.id)
        return
    report = get_scan(db, row.id)
    if report.status != "done":
        st.warning(f"This scan {report.status}: {report.error or 'no reason recorded'}.")
    _summary(report)


def _summary(report: Any) -> None:
    o = report.overall
    m = st.columns(4)
    m[0].metric("Attack success rate", _pct(o["asr"]))
    m[1].metric("95% interval", f"{_pct(o['low'])}–{_pct(o['high'])}")
    m[2].metric("Successful attacks", f"{o['successes']}/{o['attacks']}")
    if report.comparison:
        c = report.comparison
        before = c["attack_success_rate"]
        delta = None if before is None or o["asr"] is None else o["asr"] - before
        m[3].metric(f"vs scan {c['scan_id']}", _pct(before),
                    delta=None if delta is None else f"{delta:+.0%}", delta_color="inverse")  # fmt: skip
    if report.by_category:
        st.altair_chart(charts.asr_chart(report.by_category), width="stretch")
        changes = (report.comparison or {}).get("by_category", {})
        st.dataframe(
            [{"category": cat, "OWASP": e["owasp"], "ASR": _pct(e["asr"]),
              "95% interval": f"{_pct(e['low'])}–{_pct(e['high'])}",
              "attacks": e["attacks"],
              **{lang: _pct(v["asr"]) for lang, v in e["by_lang"].items()},
              "change": "—" if changes.get(cat, {}).get("change") is None
              else f"{changes[cat]['change']:+.0%} (p={changes[cat]['p_value']:.2f})"}
             for cat, e in report.by_category.items()],
            hide_index=True, width="stretch", key="sf_categories",
        )  # fmt: skip
    only = st.toggle("Only successful attacks", value=True, key="sf_only")
    rows = [f for f in report.findings if f["success"] or not only]
    if not rows:
        st.success("No attack succeeded." if only else "No findings.")
        return
    st.dataframe(
        [{"attack": f["attack_id"],
          "trace": f"/traces?trace={f['trace_id']}" if f["trace_id"] else None,
          "category": f["category"], "lang": f["lang"], "succeeded": f["success"],
          "why": f"{f['reason']}: {f['detail']}", "prompt": f["prompt"], "answer": f["answer"]}
         for f in rows],
        column_config={"trace": st.column_config.LinkColumn(display_text="open")},
        hide_index=True, width="stretch", key="sf_findings",
    )  # fmt: skip


# -- run -------------------------------------------------------------------------------------
def run_section() -> None:
    releases = _releases()
    with st.form("sf_run"):
        st.markdown("**New red-team scan** — the attacks run through the release's real chat "
                    "pipeline as red-team traffic, kept out of monitoring")  # fmt: skip
        release = st.selectbox("Release", list(releases), format_func=releases.__getitem__,
                               key="sf_run_release")  # fmt: skip
        cats = st.multiselect(
            "Categories (none = all)", list(suite.CATEGORIES), key="sf_run_cats",
            format_func=lambda c: f"{suite.CATEGORIES[c][0]} ({suite.CATEGORIES[c][1]})",
        )  # fmt: skip
        langs = st.multiselect("Languages (none = both)", list(suite.LANGS), key="sf_run_langs")
        go = st.form_submit_button("Run scan")
    if go:
        try:
            scan_id = jobs().start(release, categories=cats or None, langs=langs or None,
                                   actor=actor())  # fmt: skip
        except UserFacingError as exc:
            show_error(exc)
            return
        _scans.clear()
        st.query_params["scan"] = str(scan_id)
        st.rerun()


# -- bias probes -----------------------------------------------------------------------------
@st.cache_data(ttl=5, show_spinner=False)
def _bias_runs(release_id: str | None, offset: int) -> tuple[list[bias_runs.BiasRunRow], int]:
    db = runtime().db
    return (bias_runs.list_runs(db, release_id=release_id, limit=PAGE_SIZE, offset=offset),
            bias_runs.count_runs(db, release_id=release_id))  # fmt: skip


def bias_section() -> None:
    releases = _releases()
    pick = st.selectbox("Release", ["all", *releases], key="sf_bias_release",
                        format_func=lambda r: "all releases" if r == "all" else releases[r])  # fmt: skip
    if can(Capability.REDTEAM):
        _bias_form(releases, None if pick == "all" else pick)
    page = int(st.session_state.get("sf_bias_page", 0))
    rows, total = _bias_runs(None if pick == "all" else pick, page * PAGE_SIZE)
    if not rows:
        st.info("No bias probe run yet: start one above, or `llmops redteam bias`.")
        return
    points = bias_runs.history(runtime().db, release_id=None if pick == "all" else pick)
    if points:
        st.altair_chart(charts.bias_history_chart(points), width="stretch")
    st.dataframe(
        [{"run": r.id, "started": r.started_at, "release": r.release_id, "name": r.release_name,
          "label": r.release_label, "status": r.status, "probes": r.probes,
          "attributes": ", ".join(r.attributes), "flagged": ", ".join(r.flagged) or "none",
          "by": r.created_by} for r in rows],
        hide_index=True, width="stretch", key="sf_bias_runs",
    )  # fmt: skip
    pages = page_count(total, PAGE_SIZE)
    pager("sf_bias_page", page, more=page + 1 < pages, caption=f"page {page + 1} of {pages}")
    done = [r.id for r in rows if r.status == "done"]
    if done:
        run_id = st.selectbox("Run", done, key="sf_bias_run")
        _bias_detail(run_id)


def _bias_form(releases: dict[str, str], release_id: str | None) -> None:
    with st.expander("Run bias probes"):
        ids = list(releases)
        target = st.selectbox("Release", ids, format_func=releases.__getitem__,
                              index=ids.index(release_id) if release_id in ids else 0,
                              key="sf_bias_target")  # fmt: skip
        attrs = st.multiselect("Attributes (none = all)", bias.attributes(), key="sf_bias_attrs")
        langs = st.multiselect("Languages (none = both)", list(suite.LANGS), key="sf_bias_langs")
        if st.button("Run probes", key="sf_bias_go"):
            try:
                jobs().start_bias(target, attributes=attrs or None, langs=langs or None,
                                  actor=actor())  # fmt: skip
            except UserFacingError as exc:
                show_error(exc)
                return
            _bias_runs.clear()
            st.success("Bias probes started: the run shows below as 'running' until done.")


def _bias_detail(run_id: int) -> None:
    run = bias_runs.get_run(runtime().db, run_id)
    st.dataframe(
        [{"attribute": a, "flagged": r["flagged"],
          "refusal by group": ", ".join(f"{g} {_pct(v['refusal_rate'])}"
                                        for g, v in r["groups"].items()),
          "refusal gap": _pct(r["refusal_gap"]), "refusal p": r["refusal_p"],
          "length gap (words)": r["length_gap"], "length p": r["length_p"],
          "similarity": r["similarity_mean"], "why": "; ".join(r["reasons"])}
         for a, r in run.results.items()],
        hide_index=True, width="stretch", key="sf_bias_detail",
        column_config={"refusal p": st.column_config.NumberColumn(format="%.4f"),
                       "length p": st.column_config.NumberColumn(format="%.4f"),
                       "similarity": st.column_config.NumberColumn(format="%.2f")},
    )  # fmt: skip
