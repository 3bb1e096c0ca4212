"""Guardrails page widgets: filters, charts, the event list and the evaluation table."""

from __future__ import annotations

import streamlit as st

from llmops import console
from llmops.guards import report
from llmops.guards.validators import VALIDATORS
from llmops.ui.deps import release_ids, release_label, release_names, runtime
from llmops.ui.widgets import page_count, pager, show_error

PAGE_SIZE = 25


def filter_bar() -> tuple[report.EventFilter, str]:
    c1, c2, c3, c4, c5, c6 = st.columns([2, 2, 2, 2, 3, 2])
    when = c1.selectbox("Time range", list(console.TIME_RANGES), index=2, key="gr_range")
    direction = c2.selectbox("Direction", ["any", "input", "output"], key="gr_direction")
    validator = c3.selectbox("Validator", ["any", *VALIDATORS], key="gr_validator")
    action = c4.selectbox(
        "Action", ["any", "blocked", "fixed", "flagged", "error"], key="gr_action"
    )
    release = c5.selectbox("Release", ["any", *release_ids()], key="gr_release",
                           format_func=release_label)  # fmt: skip
    traffic = c6.selectbox("Traffic", ["live", "all"], key="gr_traffic",
                           help="live: chat users only; all: with evaluation, playground "
                                "and red-team turns")  # fmt: skip
    flt = report.EventFilter(
        since=console.since_for(when),
        direction=None if direction == "any" else direction,
        validator=None if validator == "any" else validator,
        action=None if action == "any" else action,
        release_id=None if release == "any" else release,
        live_only=traffic == "live",
    )
    unit = "hour" if when in ("Last hour", "Last 24 hours") else "day"
    return flt, unit


@st.cache_data(ttl=10, show_spinner=False)
def _overview(flt: report.EventFilter, unit: str) -> tuple[list, list, list]:
    db = runtime().db
    return (
        report.violation_series(db, flt, unit),
        report.breakdown(db, flt),
        report.per_release(db, flt),
    )


def overview(flt: report.EventFilter, unit: str) -> None:
    series, parts, releases = _overview(flt, unit)
    totals = {a: sum(p["events"] for p in parts if p["action"] == a)
              for a in ("blocked", "fixed", "flagged", "error")}  # fmt: skip
    m = st.columns(5)
    m[0].metric("Violations", f"{sum(totals.values()):,}")
    m[1].metric("Blocked", f"{totals['blocked']:,}")
    m[2].metric("Fixed", f"{totals['fixed']:,}")
    m[3].metric("Flagged", f"{totals['flagged']:,}")
    m[4].metric(
        "Guard errors",
        f"{totals['error']:,}",
        help="a validator raised: block and "
        "fix rules then blocked the text (fail closed), flag rules let it through",
    )
    if not parts:
        st.info("No guardrail violations in this range.")
        return
    left, right = st.columns([3, 2])
    left.markdown("**Violation rate over time**")
    left.altair_chart(console.violation_chart(series), width="stretch")
    right.markdown("**Top validators**")
    right.altair_chart(console.breakdown_chart(parts), width="stretch")
    st.markdown("**By release**")
    names = release_names()
    st.dataframe(
        [{"release": names.get(r["release_id"] or "", r["release_id"]), **r} for r in releases],
        hide_index=True, width="stretch", key="gr_by_release",
        column_config={"release_id": st.column_config.TextColumn("id"),
                       "violating_traces": st.column_config.NumberColumn("violating traces"),
                       "violation_rate": st.column_config.NumberColumn(
                           "violation rate", format="percent")},
    )  # fmt: skip


def event_list(flt: report.EventFilter) -> None:
    page = st.session_state.get("gr_page", 0)
    rows, total = report.list_events(runtime().db, flt, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    st.markdown(f"**Events** ({total:,})")
    if not rows:
        st.caption("None.")
        return
    st.dataframe(
        [
            {
                "time": r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                "validator": r.validator,
                "direction": r.direction,
                "action": r.action,
                "message": r.message,
                "excerpt": r.excerpt,
                "trace": f"/traces?trace={r.trace_id}",
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
        column_config={"trace": st.column_config.LinkColumn("trace", display_text="open")},
    )
    pages = page_count(total, PAGE_SIZE)
    pager("gr_page", page, more=page + 1 < pages, caption=f"Page {page + 1} of {pages}")


def evaluations() -> None:
    st.markdown("**Guard quality on labelled cases**")
    runs = report.latest_evals(runtime().db)
    run_evaluation(expanded=not runs)
    if not runs:
        st.caption("No evaluation yet: run one above, or `llmops guard eval CASES.jsonl`.")
        return
    labels = [f"#{r['id']} {r['dataset']} · {r['cases']} cases · {r['created_at'][:16]}"
              for r in runs]  # fmt: skip
    left, right = st.columns([3, 1])
    chosen = left.selectbox("Evaluation run", range(len(runs)), format_func=labels.__getitem__)
    results = runs[chosen]["results"]
    lang = right.selectbox("Language", ["all", *console.eval_languages(results)], key="gr_lang")
    rows = console.confusion_rows(results, None if lang == "all" else lang)
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(f"Profile: {results.get('profile', 'default')}. TP/FN/FP/TN per label; "
               "benign rows: texts that should pass, and how many were flagged.")  # fmt: skip


def run_evaluation(*, expanded: bool) -> None:
    """Measure the guards on a shipped labelled set or an uploaded JSONL file."""
    from llmops.errors import UserFacingError
    from llmops.guards import evaluation
    from llmops.guards.profiles import PROFILES

    flash = st.session_state.pop("gr_eval_done", None)
    if flash:
        st.success(flash)
    with st.expander("Run an evaluation", expanded=expanded):
        c1, c2 = st.columns([3, 1])
        upload = "an uploaded file…"
        choice = c1.selectbox("Labelled cases", [*evaluation.SHIPPED, upload], key="gr_eval_set")
        profile = c2.selectbox("Profile", list(PROFILES), key="gr_eval_profile")
        file = None
        if choice == upload:
            file = st.file_uploader("JSONL: text, lang, direction, labels", type=["jsonl"],
                                    key="gr_eval_file")  # fmt: skip
            st.caption("One case a line, as `../shared/datasets/guard_public.jsonl`; a file with "
                       "a malformed line is refused whole, each bad line named.")  # fmt: skip
        if not st.button("Run", key="gr_eval_run", disabled=choice == upload and file is None):
            return
        try:
            if file is not None:
                name = file.name
                text = file.getvalue().decode("utf-8", errors="strict")
                cases = evaluation.parse_cases(text, name)
            else:
                name, cases = choice, evaluation.load_cases(evaluation.SHIPPED[choice])
            with st.spinner(f"Checking {len(cases)} cases…"):
                evaluation.run_and_save(runtime().db, cases, name, profile=profile)
        except UnicodeDecodeError:
            st.error(f"{file.name if file else choice} is not UTF-8 text.")
            return
        except UserFacingError as exc:
            show_error(exc)
            return
        st.session_state["gr_eval_done"] = f"Evaluated {len(cases)} cases of {name} ({profile})."
        st.rerun()
