"""Altair charts for the Evaluations page (no streamlit here: testable on their own)."""

from __future__ import annotations

import altair as alt

from llmops.evals.compare import Comparison
from llmops.types import JSONDict


def scores_chart(metrics: JSONDict) -> alt.LayerChart:
    """Mean score per evaluator with its 95% confidence interval."""
    data = [
        {"evaluator": name, "mean": s["mean"], "low": s["low"], "high": s["high"], "n": s["n"]}
        for name, s in (metrics.get("scores") or {}).items()
        if s.get("mean") is not None
    ]
    base = alt.Chart(alt.Data(values=data)).encode(y=alt.Y("evaluator:N", sort=None, title=None))
    bars = base.mark_bar(color="#6c8ebf", opacity=0.8).encode(
        x=alt.X("mean:Q", title="mean score (95% CI)", scale=alt.Scale(domain=[0, 1])),
        tooltip=["evaluator:N", alt.Tooltip("mean:Q", format=".3f"),
                 alt.Tooltip("low:Q", format=".3f"), alt.Tooltip("high:Q", format=".3f"), "n:Q"],
    )  # fmt: skip
    ci = base.mark_rule(color="#333", strokeWidth=2).encode(x="low:Q", x2="high:Q")
    return (bars + ci).properties(height=max(120, 26 * len(data)))


def delta_chart(cmp: Comparison) -> alt.LayerChart:
    """Candidate minus baseline per evaluator: the mean difference and its 95% CI."""
    data = [
        {"evaluator": name, "delta": m.stats.delta, "low": m.stats.ci_low,
         "high": m.stats.ci_high, "p": m.stats.p_value,
         "verdict": ("better" if (m.stats.delta or 0) > 0 else "worse")
         if m.significant else "no significant change"}
        for name, m in cmp.metrics.items()
    ]  # fmt: skip
    base = alt.Chart(alt.Data(values=data)).encode(y=alt.Y("evaluator:N", sort=None, title=None))
    colors = alt.Scale(domain=["better", "worse", "no significant change"],
                       range=["#82b366", "#b85450", "#999999"])  # fmt: skip
    points = base.mark_point(filled=True, size=80).encode(
        x=alt.X("delta:Q", title="candidate − baseline (95% CI)"),
        color=alt.Color("verdict:N", scale=colors, title=None),
        tooltip=["evaluator:N", alt.Tooltip("delta:Q", format="+.3f"),
                 alt.Tooltip("low:Q", format="+.3f"), alt.Tooltip("high:Q", format="+.3f"),
                 alt.Tooltip("p:Q", format=".3f"), "verdict:N"],
    )  # fmt: skip
    ci = base.mark_rule(strokeWidth=2).encode(
        x="low:Q", x2="high:Q", color=alt.Color("verdict:N", scale=colors, legend=None)
    )
    zero = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    return (ci + points + zero).properties(height=max(120, 28 * len(data)))


def outcomes_chart(cmp: Comparison) -> alt.Chart:
    """Per evaluator: items the candidate did better on, the same, worse."""
    data = []
    for name, m in cmp.metrics.items():
        for outcome, count in (("better", m.stats.wins), ("same", m.stats.ties),
                               ("worse", m.stats.losses)):  # fmt: skip
            data.append({"evaluator": name, "outcome": outcome, "items": count})
    return (
        alt.Chart(alt.Data(values=data))
        .mark_bar()
        .encode(
            y=alt.Y("evaluator:N", sort=None, title=None),
            x=alt.X("sum(items):Q", stack="normalize", title="share of paired items"),
            color=alt.Color("outcome:N", scale=alt.Scale(domain=["better", "same", "worse"],
                            range=["#82b366", "#cccccc", "#b85450"]), title=None),
            order=alt.Order("outcome:N"),
            tooltip=["evaluator:N", "outcome:N", "items:Q"],
        )
        .properties(height=max(120, 28 * len(cmp.metrics)))
    )  # fmt: skip
