"""Evaluations → New run and Runs: start a release over a dataset, watch it, read its results."""

from __future__ import annotations

import streamlit as st

from llmops.errors import UserFacingError
from llmops.evals import charts
from llmops.evals.evaluators import EvalContext, all_evaluators
from llmops.evals.runs import RunInfo, get_run, list_results
from llmops.governance.roles import Capability
from llmops.ui.auth import can
from llmops.ui.deps import runtime
from llmops.ui.evals.common import LIVE, PAGE_SIZE, background, cached_datasets, cached_runs
from llmops.ui.widgets import actor, offset_pager, show_error


# -- new run -----------------------------------------------------------------------------------
def _release_options() -> dict[str, str]:
    """Labels first (what they point at), then every release id; value: the reference."""
    from sqlalchemy import select

    from llmops.store.models import Release, ReleaseLabel

    with runtime().db.session() as s:
        labels = s.execute(select(ReleaseLabel.label, ReleaseLabel.release_id)).all()
        releases = s.execute(
            select(Release.id, Release.name).order_by(Release.created_at.desc()).limit(200)
        ).all()
    out = {f"{label} → {rid}": label for label, rid in sorted(labels)}
    out.update({f"{rid} · {rname}": rid for rid, rname in releases})
    return out


def new_run() -> None:
    all_sets = cached_datasets()
    if not all_sets:
        st.info("Create a dataset first (Datasets section).")
        return
    runner = background().runner
    ctx = EvalContext(embeddings=runner.embeddings, judge=runner.judge)
    usable = [e for e in all_evaluators() if e.unavailable(ctx) is None]
    disabled = [(e, e.unavailable(ctx)) for e in all_evaluators() if e.unavailable(ctx)]
    releases = _release_options()
    with st.form("ev_new_run"):
        name = st.selectbox("Dataset", [d.name for d in all_sets], key="ev_run_dataset")
        release = st.selectbox("Release", list(releases), key="ev_run_release")
        chosen = st.multiselect(
            "Evaluators",
            [e.name for e in usable],
            default=[e.name for e in usable if e.default],
            key="ev_run_evaluators",
        )
        c1, c2 = st.columns(2)
        workers = c1.slider("Concurrency", 1, 16, runner.default_concurrency, key="ev_run_conc")
        label = c2.text_input("Run name (optional)", key="ev_run_name", max_chars=200)
        start = st.form_submit_button("Start run", type="primary")
    if disabled:
        with st.expander(f"{len(disabled)} evaluator(s) disabled here"):
            for e, reason in disabled:
                st.markdown(f"**{e.name}** — {e.description}  \n_{reason}_")
    if start:
        try:
            run = runner.create(name, releases[release], evaluators=chosen, concurrency=workers,
                                name=label, actor=actor())  # fmt: skip
        except UserFacingError as exc:
            show_error(exc)
            return
        background().start(run.id, actor=actor())
        cached_runs.clear()
        st.query_params["run"] = run.id
        st.rerun()


# -- runs --------------------------------------------------------------------------------------
def _status(run: RunInfo) -> str:
    return "stalled (resume it)" if run.stalled else run.status


def runs_section() -> None:
    all_sets = cached_datasets()
    names = ["all", *[d.name for d in all_sets]]
    pick = st.selectbox("Dataset", names, key="ev_runs_dataset")
    ds_id = None if pick == "all" else next(d.id for d in all_sets if d.name == pick)
    offset = offset_pager("ev_runs_page", cached_runs(ds_id, 0)[1], PAGE_SIZE)
    runs, _ = cached_runs(ds_id, offset)
    if not runs:
        st.info("No runs yet: start one in New run.")
        return
    st.dataframe(
        [{"run": f"/evals?run={r.id}", "created": r.created_at[:16].replace("T", " "),
          "status": _status(r), "dataset": f"{r.dataset} v{r.dataset_version}",
          "release": r.release_id, "items": f"{r.done_items}/{r.total_items}",
          **{k: v for k, v in list(r.scores().items())[:5]}} for r in runs],
        hide_index=True, width="stretch", key="ev_runs",
        column_config={"run": st.column_config.LinkColumn(display_text=r"run=(.*)")},
    )  # fmt: skip
    by_id = {r.id: r for r in runs}
    chosen = st.multiselect(
        "Compare two runs of one dataset",
        list(by_id),
        max_selections=2,
        format_func=lambda i: f"{i} · {by_id[i].dataset} · {by_id[i].release_id}",
        key="ev_runs_pick",
    )
    if st.button("Compare", disabled=len(chosen) != 2, key="ev_compare_selected"):
        older, newer = sorted((by_id[i] for i in chosen), key=lambda r: r.created_at)
        st.query_params["compare"] = f"{older.id},{newer.id}"
        st.rerun()


@st.fragment(run_every=1.0)
def _progress(run_id: str) -> None:
    run = get_run(runtime().db, run_id)
    total = max(1, run.total_items)
    st.progress(run.done_items / total, text=f"{run.status}: {run.done_items}/{run.total_items}")
    if run.status not in LIVE:
        st.rerun()  # finished: render the results


def run_detail(run_id: str) -> None:
    if st.button("← All runs", key="ev_back"):
        del st.query_params["run"]
        st.rerun()
    try:
        run = get_run(runtime().db, run_id)
    except UserFacingError as exc:
        show_error(exc)
        return
    st.subheader(run.name or run.id)
    st.caption(
        f"`{run.id}` · {run.dataset} v{run.dataset_version} · release `{run.release_id}` "
        f"({run.config.get('release_name', '')}) · by {run.created_by} · {run.created_at[:19]}"
    )
    jobs = background()
    if run.status in LIVE and not run.stalled:
        _progress(run.id)
        if can(Capability.EVALUATIONS) and st.button("Cancel run", key="ev_cancel"):
            jobs.cancel(run.id, actor=actor())
            st.rerun()
        return
    if run.status != "completed":
        st.warning(f"This run is {_status(run)} at {run.done_items}/{run.total_items} items"
                   + (f": {run.error}" if run.error else "."))  # fmt: skip
        if can(Capability.EVALUATIONS) and st.button("Resume run", key="ev_resume"):
            jobs.start(run.id, actor=actor())
            st.rerun()
    metrics = run.metrics
    if not metrics.get("scores"):
        st.info("No results yet.")
        return
    lat, cost = metrics.get("latency_ms") or {}, metrics.get("cost") or {}
    m = st.columns(4)
    m[0].metric("Items", f"{metrics['items']['done']}/{run.total_items}")
    m[1].metric("Latency p50", f"{lat.get('p50') or 0:.0f} ms")
    m[2].metric("Latency p95", f"{lat.get('p95') or 0:.0f} ms")
    m[3].metric("Cost", f"${cost.get('total') or 0:.4f}")
    for name, n in run.errors().items():
        st.warning(
            f"Evaluator **{name}** failed on {n} item(s): {run.first_error(name)}. Its mean "
            "leaves them out, and the CI gate fails a check over it."
        )
    left, right = st.columns([3, 2])
    left.altair_chart(charts.scores_chart(metrics), width="stretch")
    right.dataframe(
        [{"evaluator": n, "mean": s["mean"], "95% CI": f"{s['low']:.3f}–{s['high']:.3f}"
          if s["mean"] is not None else "", "n": s["n"], "n/a": s["not_applicable"],
          "errors": s.get("errors", 0),
          **{lang: per.get(n) for lang, per in (metrics.get("by_lang") or {}).items()}}
         for n, s in metrics["scores"].items()],
        hide_index=True, width="stretch", key="ev_run_scores",
    )  # fmt: skip
    _results(run)


def _results(run: RunInfo) -> None:
    c1, c2 = st.columns([2, 1])
    sort = c1.selectbox("Sort items by", ["(dataset order)", *run.evaluators], key="ev_sort")
    worst = c2.toggle("Worst first", value=True, key="ev_worst")
    key = None if sort == "(dataset order)" else sort
    total = list_results(runtime().db, run.id, limit=1)[1]
    offset = offset_pager("ev_results_page", total, PAGE_SIZE)
    rows, _ = list_results(
        runtime().db, run.id, sort_by=key, worst_first=worst, limit=PAGE_SIZE, offset=offset
    )
    st.dataframe(
        [{"item": r.item_id, "lang": r.lang, "input": r.input, "output": r.output,
          "status": r.status, **r.scores,
          "why": "; ".join(f"{k}: {v}" for k, v in r.explanations.items()
                           if r.scores.get(k) not in (None, 1.0)),
          "evaluator errors": "; ".join(f"{k}: {v}" for k, v in r.errors.items()) or None,
          "trace": f"/traces?trace={r.trace_id}" if r.trace_id else None} for r in rows],
        hide_index=True, width="stretch", key="ev_results",
        column_config={"trace": st.column_config.LinkColumn(display_text="open")},
    )  # fmt: skip
