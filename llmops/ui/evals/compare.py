"""Evaluations → Compare: two runs side by side with paired significance tests."""

from __future__ import annotations

import streamlit as st

from llmops.errors import UserFacingError
from llmops.evals import charts
from llmops.ui.evals.common import PAGE_SIZE, cached_comparison, cached_runs
from llmops.ui.widgets import offset_pager, show_error


# -- compare -----------------------------------------------------------------------------------
def compare_section() -> None:
    runs, _ = cached_runs(None, 0)
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
        cmp = cached_comparison(run_a, run_b, None if metric in (None, "(all quality)") else metric)
    except UserFacingError as exc:
        show_error(exc)
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
    offset = offset_pager("ev_cmp_page", len(regressions), PAGE_SIZE)
    st.dataframe(
        [{"Δ": i.delta, "input": i.input, "lang": i.lang, "A output": i.output_a,
          "B output": i.output_b, "A trace": f"/traces?trace={i.trace_a}",
          "B trace": f"/traces?trace={i.trace_b}"}
         for i in regressions[offset : offset + PAGE_SIZE]],
        hide_index=True, width="stretch", key="ev_cmp_items",
        column_config={"A trace": st.column_config.LinkColumn(display_text="A"),
                       "B trace": st.column_config.LinkColumn(display_text="B")},
    )  # fmt: skip
