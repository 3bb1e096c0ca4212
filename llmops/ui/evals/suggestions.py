"""Evaluations → Suggestions: production traces proposed as new cases."""

from __future__ import annotations

import streamlit as st

from llmops import console
from llmops.errors import UserFacingError
from llmops.evals import mining
from llmops.ui.deps import runtime
from llmops.ui.evals.common import PAGE_SIZE, cached_datasets, cached_suggestions, refresh
from llmops.ui.widgets import actor, offset_pager, show_error

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
    offset = offset_pager("ev_sugg_page", cached_suggestions(q, 0)[1], PAGE_SIZE)
    rows, _ = cached_suggestions(q, offset)
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
    names = [d.name for d in cached_datasets()]
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
            show_error(exc)
            return
        refresh()
        st.success(f"Added {added} case(s) to {name}.")
