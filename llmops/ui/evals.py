"""Evaluations page widgets: datasets, new runs, runs and their detail, comparisons, and
thumbs-down traces suggested as new cases.

Runs started here execute in a background thread of the app process (``BackgroundRuns``), so
navigating away does not stop them; the detail view polls the store for progress with a
fragment. Every list is paged in SQL; aggregates come precomputed with the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import streamlit as st

from llmops import console
from llmops.errors import UserFacingError
from llmops.evals import charts, datasets, mining
from llmops.evals.compare import Comparison, compare_runs
from llmops.evals.evaluators import EvalContext, all_evaluators
from llmops.evals.jobs import BackgroundRuns
from llmops.evals.runner import EvalRunner
from llmops.evals.runs import RunInfo, get_run, list_results, list_runs
from llmops.governance.roles import Actor, Capability
from llmops.ui.auth import can
from llmops.ui.deps import runtime
from llmops.ui.widgets import actor as widgets_actor

log = logging.getLogger(__name__)

PAGE_SIZE = 25
SECTIONS = ["Datasets", "New run", "Runs", "Compare", "Suggestions"]
LIVE = ("pending", "running", "cancelling")


def actor() -> Actor:
    return widgets_actor()


def _error(exc: UserFacingError) -> None:
    st.error(exc.message)
    if exc.hint:
        st.caption(exc.hint)


# -- process-wide state ------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def background() -> BackgroundRuns:
    return BackgroundRuns(EvalRunner.from_runtime(runtime()))


# -- cached reads ------------------------------------------------------------------------------
@st.cache_data(ttl=5, show_spinner=False)
def _datasets() -> list[datasets.DatasetInfo]:
    return datasets.list_datasets(runtime().db, limit=500)


@st.cache_data(ttl=5, show_spinner=False)
def _items(name: str, version: int, text: str, offset: int) -> tuple[list[datasets.Item], int]:
    return datasets.list_items(
        runtime().db, name, version=version, text=text or None, limit=PAGE_SIZE, offset=offset
    )


@st.cache_data(ttl=3, show_spinner=False)
def _runs(dataset_id: int | None, offset: int) -> tuple[list[RunInfo], int]:
    return list_runs(runtime().db, dataset_id=dataset_id, limit=PAGE_SIZE, offset=offset)


@st.cache_data(ttl=10, show_spinner=False)
def _comparison(run_a: str, run_b: str, metric: str | None) -> Comparison:
    return compare_runs(runtime().db, run_a, run_b, metric=metric)


@st.cache_data(ttl=10, show_spinner=False)
def _suggestions(q: mining.TraceQuery, offset: int) -> tuple[list[mining.TraceCandidate], int]:
    return mining.candidate_traces(runtime().db, q, limit=PAGE_SIZE, offset=offset)


def _refresh() -> None:
    _datasets.clear()
    _items.clear()
    _runs.clear()
    _suggestions.clear()


def _pager(key: str, total: int) -> int:
    """Previous / next buttons; returns the offset of the page to show."""
    page = st.session_state.get(key, 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages - 1)
    prev, info, nxt = st.columns([1, 3, 1])
    if prev.button("← Previous", disabled=page == 0, key=f"{key}_prev"):
        st.session_state[key] = page - 1
        st.rerun()
    info.caption(f"Page {page + 1} of {pages} · {total:,} rows")
    if nxt.button("Next →", disabled=page + 1 >= pages, key=f"{key}_next"):
        st.session_state[key] = page + 1
        st.rerun()
    return page * PAGE_SIZE


NEEDS = {"New run": Capability.EVALUATIONS, "Suggestions": Capability.DATASETS}


def section_picker() -> str:
    names = [n for n in SECTIONS if n not in NEEDS or can(NEEDS[n])]
    if st.session_state.get("ev_section") not in (None, *names):
        st.session_state["ev_section"] = names[0]  # a section this role may not use
    choice = st.segmented_control(
        "Section", names, default=names[0], key="ev_section", label_visibility="collapsed"
    )
    return choice or names[0]


# -- datasets ----------------------------------------------------------------------------------
def _import_panel() -> None:
    with st.expander("Import cases (JSONL or CSV)", expanded=not _datasets()):
        st.caption(
            "One case a line: `input` (required), `expected`, `must_include` (list), `lang`, "
            "`tags`, `metadata`. A bad line is reported and nothing is imported."
        )
        upload = st.file_uploader("File", type=["jsonl", "csv"], key="ev_upload")
        pasted = st.text_area("…or paste JSONL", key="ev_paste", height=120)
        name = st.text_input("Dataset name", key="ev_import_name", max_chars=200)
        left, right = st.columns(2)
        if left.button("Import", type="primary", key="ev_import"):
            try:
                if upload is not None:
                    fmt = "csv" if upload.name.lower().endswith(".csv") else "jsonl"
                    cases = datasets.parse_cases(upload.getvalue(), fmt, upload.name)
                    target = name.strip() or upload.name.rsplit(".", 1)[0]
                else:
                    cases = datasets.parse_jsonl(pasted, "pasted text")
                    target = name.strip()
                info, added = datasets.import_cases(runtime().db, target, cases, actor=actor())
            except datasets.InvalidFileError as exc:
                st.error(f"{len(exc.errors)} invalid line(s): nothing was imported.")
                st.dataframe([{"line": n, "problem": m} for n, m in exc.errors],
                             hide_index=True, key="ev_import_errors")  # fmt: skip
                return
            except UserFacingError as exc:
                _error(exc)
                return
            _refresh()
            st.session_state["ev_dataset"] = info.name
            present = len(cases) - added
            st.success(
                f"Imported {added} case(s) into {info.name} (version {info.version})"
                + (f"; {present} already in the dataset." if present else ".")
            )
        if right.button("Load the demo dataset", key="ev_demo"):
            info = datasets.load_demo(runtime().db, actor=actor())
            _refresh()
            st.session_state["ev_dataset"] = info.name
            st.success(f"{info.name}: {info.items} cases in English and Spanish.")


def _case_form(prefix: str, item: datasets.Item | None) -> dict[str, Any]:
    """The fields of a case as an import record (validated when the form is submitted)."""
    text = st.text_area("Input", value=item.input if item else "", key=f"{prefix}_input")
    expected = st.text_area(
        "Expected answer", value=(item.expected or "") if item else "", key=f"{prefix}_expected"
    )
    must = st.text_area(
        "Must include (one phrase a line)",
        value="\n".join(item.must_include) if item else "",
        key=f"{prefix}_must",
    )
    c1, c2 = st.columns(2)
    lang = c1.text_input("Language", value=(item.lang or "") if item else "", key=f"{prefix}_lang")
    tags = c2.text_input(
        "Tags (comma-separated)", value=", ".join(item.tags) if item else "", key=f"{prefix}_tags"
    )
    return {
        "input": text,
        "expected": expected or None,
        "must_include": [m.strip() for m in must.splitlines() if m.strip()],
        "lang": lang.strip() or None,
        "tags": [t.strip() for t in tags.split(",") if t.strip()],
        "metadata": item.metadata if item else None,
        "origin_trace_id": item.origin_trace_id if item else None,
    }


def _valid(record: dict[str, Any]) -> datasets.Case | None:
    try:
        return datasets.case_from_dict(record)
    except ValueError as exc:
        st.error(str(exc))
        return None


def _exporter(name: str, version: int, fmt: str) -> Callable[[], str]:
    """Built only when the download is clicked (on Streamlit's own thread); audited."""
    who = actor()
    return lambda: datasets.export_cases(runtime().db, name, version=version, fmt=fmt, actor=who)


def datasets_section() -> None:
    editor = can(Capability.DATASETS)
    if editor:
        _import_panel()
    all_sets = _datasets()
    if not all_sets:
        st.info("No dataset yet: import a file, load the demo dataset, or add thumbs-down "
                "traces from Suggestions.")  # fmt: skip
        return
    names = [d.name for d in all_sets]
    if st.session_state.get("ev_dataset") not in names:
        st.session_state["ev_dataset"] = names[0]
    name = st.selectbox("Dataset", names, key="ev_dataset")
    info = next(d for d in all_sets if d.name == name)
    st.caption(
        f"Version {info.version} · {info.items} items · by {info.created_by}"
        + (f" · source {info.source}" if info.source else "")
    )
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
    # widget keys per dataset (and version): a choice never outlives the list it came from
    versions = list(range(info.version, -1, -1))
    version = c1.selectbox("Version", versions, key=f"ev_version_{info.id}_{info.version}")
    text = c2.text_input("Search input or expected answer", key="ev_item_text", max_chars=200)
    for col, fmt in ((c3, "jsonl"), (c4, "csv")):
        col.download_button(
            f"Export {fmt.upper()}",
            data=_exporter(name, version, fmt),
            file_name=f"{name}-v{version}.{fmt}",
            mime="text/csv" if fmt == "csv" else "application/jsonl",
            key=f"ev_export_{fmt}",
        )
    offset = _pager(f"ev_items_page_{info.id}", _items(name, version, text, 0)[1])
    items, _ = _items(name, version, text, offset)
    st.dataframe(
        [{"id": i.id, "input": i.input, "expected": i.expected or "",
          "must include": " | ".join(i.must_include), "lang": i.lang, "tags": ", ".join(i.tags),
          "from trace": f"/traces?trace={i.origin_trace_id}" if i.origin_trace_id else None,
          "added in": i.added_in} for i in items],
        hide_index=True, width="stretch", key="ev_items",
        column_config={"from trace": st.column_config.LinkColumn(display_text="open")},
    )  # fmt: skip
    if version != info.version:
        st.caption("An older version is read-only; edits apply to the current version.")
        return
    if not editor:
        return
    by_id = {i.id: i for i in items}
    pick = st.selectbox(
        "Edit an item of this page",
        [None, *by_id],
        format_func=lambda i: "—" if i is None else f"#{i} · {by_id[i].input[:80]}",
        key=f"ev_edit_pick_{info.id}",
    )
    if pick is not None:
        item = by_id[pick]
        with st.form(f"ev_edit_{item.id}"):
            st.markdown(f"**Edit item {item.id}** (saving creates version {info.version + 1})")
            record = _case_form(f"ev_edit_{item.id}", item)
            save, remove = st.columns(2)
            saved = save.form_submit_button("Save", type="primary")
            removed = remove.form_submit_button("Remove from dataset")
        try:
            if saved and (case := _valid(record)) is not None:
                new = datasets.update_item(runtime().db, name, item.id, case, actor=actor())
                _refresh()
                st.success(f"Saved as item {new.id}.")
            elif removed:
                datasets.remove_items(runtime().db, name, [item.id], actor=actor())
                _refresh()
                st.success(f"Removed item {item.id}.")
        except UserFacingError as exc:
            _error(exc)
    with st.expander("Add a case"), st.form("ev_add", clear_on_submit=True):
        record = _case_form("ev_add", None)
        if st.form_submit_button("Add") and (case := _valid(record)) is not None:
            try:
                _, added = datasets.import_cases(
                    runtime().db, name, [case], actor=actor(), create=False
                )
                _refresh()
                if added:
                    st.success("Added.")
                else:
                    st.info("This case is already in the dataset.")
            except UserFacingError as exc:
                _error(exc)


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
    all_sets = _datasets()
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
            _error(exc)
            return
        background().start(run.id, actor=actor())
        _runs.clear()
        st.query_params["run"] = run.id
        st.rerun()


# -- runs --------------------------------------------------------------------------------------
def _status(run: RunInfo) -> str:
    return "stalled (resume it)" if run.stalled else run.status


def runs_section() -> None:
    all_sets = _datasets()
    names = ["all", *[d.name for d in all_sets]]
    pick = st.selectbox("Dataset", names, key="ev_runs_dataset")
    ds_id = None if pick == "all" else next(d.id for d in all_sets if d.name == pick)
    offset = _pager("ev_runs_page", _runs(ds_id, 0)[1])
    runs, _ = _runs(ds_id, offset)
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
        _error(exc)
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
    offset = _pager("ev_results_page", total)
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


# -- compare -----------------------------------------------------------------------------------
def compare_section() -> None:
    runs, _ = _runs(None, 0)
    done = [r for r in runs if r.status == "completed"]
    if len(done) < 2:
        st.info("Compare needs two completed runs of the same dataset.")
        return
    labels = {f"{r.id} · {r.dataset} v{r.dataset_version} · {r.release_id}": r.id for r in done}
    keys = list(labels)
    c1, c2 = st.columns(2)
    a = c1.selectbox("Baseline (A)", keys, index=1, key="ev_cmp_a")
    b = c2.selectbox("Candidate (B)", keys, index=0, key="ev_cmp_b")
    if st.button("Compare", type="primary", key="ev_cmp_go"):
        st.query_params["compare"] = f"{labels[a]},{labels[b]}"
        st.rerun()


def compare_view(run_a: str, run_b: str) -> None:
    if st.button("← Back", key="ev_cmp_back"):
        del st.query_params["compare"]
        st.rerun()
    metric = st.session_state.get("ev_cmp_metric")
    try:
        cmp = _comparison(run_a, run_b, None if metric in (None, "(all quality)") else metric)
    except UserFacingError as exc:
        _error(exc)
        return
    st.subheader(f"{cmp.run_b.release_id} vs {cmp.run_a.release_id}")
    st.caption(
        f"B `{cmp.run_b.id}` against A `{cmp.run_a.id}` · {cmp.run_a.dataset} · "
        f"{len(cmp.items)} paired items"
        + (f" · unpaired A {cmp.unpaired_a}, B {cmp.unpaired_b}" if cmp.unpaired_a or
           cmp.unpaired_b else "")
    )  # fmt: skip
    for note in cmp.notes:
        st.caption(f"Note: {note}")
    left, right = st.columns(2)
    left.altair_chart(charts.delta_chart(cmp), width="stretch")
    right.altair_chart(charts.outcomes_chart(cmp), width="stretch")
    st.dataframe(
        [{"evaluator": n, "A": m.stats.mean_a, "B": m.stats.mean_b, "Δ": m.stats.delta,
          "95% CI": f"{m.stats.ci_low:+.3f}…{m.stats.ci_high:+.3f}", "p": m.stats.p_value,
          "significant": m.significant, "better": m.stats.wins, "same": m.stats.ties,
          "worse": m.stats.losses} for n, m in cmp.metrics.items()],
        hide_index=True, width="stretch", key="ev_cmp_metrics",
    )  # fmt: skip
    st.caption("p: paired bootstrap of the mean difference (exact sign test under 20 items).")
    st.selectbox("Sort items by", ["(all quality)", *cmp.metrics], key="ev_cmp_metric")
    regressions = cmp.items
    offset = _pager("ev_cmp_page", len(regressions))
    st.dataframe(
        [{"Δ": i.delta, "input": i.input, "lang": i.lang, "A output": i.output_a,
          "B output": i.output_b, "A trace": f"/traces?trace={i.trace_a}",
          "B trace": f"/traces?trace={i.trace_b}"}
         for i in regressions[offset : offset + PAGE_SIZE]],
        hide_index=True, width="stretch", key="ev_cmp_items",
        column_config={"A trace": st.column_config.LinkColumn(display_text="A"),
                       "B trace": st.column_config.LinkColumn(display_text="B")},
    )  # fmt: skip


# -- suggestions -------------------------------------------------------------------------------
FEEDBACK = {"👎 thumbs-down": "down", "👍 thumbs-up": "up", "any": None}


def suggestions_section() -> None:
    st.caption("Chat turns that no dataset holds yet — thumbs-down ones by default: one click "
               "from a test case.")  # fmt: skip
    c1, c2, c3 = st.columns(3)
    fb = c1.selectbox("Feedback", list(FEEDBACK), key="ev_sugg_fb")
    when = c2.selectbox("Time range", list(console.TIME_RANGES), index=4, key="ev_sugg_range")
    guarded = c3.toggle("Only with guardrail events", key="ev_sugg_guard")
    q = mining.TraceQuery(feedback=FEEDBACK[fb], guard_events=guarded,
                            since=console.since_for(when))  # fmt: skip
    offset = _pager("ev_sugg_page", _suggestions(q, 0)[1])
    rows, _ = _suggestions(q, offset)
    if not rows:
        st.info("No traces waiting with these filters.")
        return
    st.dataframe(
        [{"time": r.started_at.strftime("%Y-%m-%d %H:%M"), "question": r.input,
          "answer": r.output, "comment": r.comment or "", "guard events": r.guard_events,
          "trace": f"/traces?trace={r.id}"} for r in rows],
        hide_index=True, width="stretch", key="ev_sugg",
        column_config={"trace": st.column_config.LinkColumn(display_text="open")},
    )  # fmt: skip
    by_id = {r.id: r for r in rows}
    picked = st.multiselect(
        "Traces to add",
        list(by_id),
        format_func=lambda i: f"{(by_id[i].input or '')[:70]} · {i[:8]}",
        key="ev_sugg_pick",
    )
    chosen = [by_id[i] for i in picked]
    names = [d.name for d in _datasets()]
    c1, c2 = st.columns(2)
    target = c1.selectbox("Add to dataset", [*names, "(new dataset)"], key="ev_sugg_target")
    new_name = c2.text_input("New dataset name", key="ev_sugg_new", max_chars=200,
                             disabled=target != "(new dataset)")  # fmt: skip
    fix = st.text_area(
        "Corrected answer (for one selected trace)",
        key="ev_sugg_fix",
        disabled=len(chosen) != 1,
    )
    if st.button(f"Add {len(chosen)} trace(s)", disabled=not chosen, type="primary",
                 key="ev_sugg_add"):  # fmt: skip
        name = new_name.strip() if target == "(new dataset)" else target
        expected = {chosen[0].id: fix} if len(chosen) == 1 and fix.strip() else None
        try:
            added = mining.add_from_traces(
                runtime().db, name, [r.id for r in chosen], actor=actor(), expected=expected
            )
        except UserFacingError as exc:
            _error(exc)
            return
        _refresh()
        st.success(f"Added {added} case(s) to {name}.")
