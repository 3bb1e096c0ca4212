"""Altair charts for the Safety page (no streamlit here: testable on their own)."""

from __future__ import annotations

from typing import Any

import altair as alt

from llmops.redteam.scan import ScanRow


def asr_chart(by_category: dict[str, Any]) -> alt.LayerChart:
    """Attack success rate per category with its 95% Wilson interval."""
    data = [
        {"category": cat, "asr": e["asr"], "low": e["low"], "high": e["high"],
         "n": e["attacks"], "successes": e["successes"], "owasp": e.get("owasp", "")}
        for cat, e in by_category.items() if e.get("asr") is not None
    ]  # fmt: skip
    base = alt.Chart(alt.Data(values=data)).encode(y=alt.Y("category:N", sort=None, title=None))
    bars = base.mark_bar(color="#b85450", opacity=0.8).encode(
        x=alt.X("asr:Q", title="attack success rate (95% CI)", scale=alt.Scale(domain=[0, 1])),
        tooltip=["category:N", "owasp:N", alt.Tooltip("asr:Q", format=".0%"),
                 alt.Tooltip("low:Q", format=".0%"), alt.Tooltip("high:Q", format=".0%"),
                 "successes:Q", "n:Q"],
    )  # fmt: skip
    ci = base.mark_rule(color="#333", strokeWidth=2).encode(x="low:Q", x2="high:Q")
    return (bars + ci).properties(height=max(120, 26 * len(data)))


def history_chart(rows: list[ScanRow]) -> alt.Chart:
    """Each finished scan's attack success rate over time, one line per release."""
    data = [
        {"started": r.started_at.isoformat(timespec="seconds"), "asr": r.attack_success_rate,
         "release": f"{r.release_name} ({r.release_id})", "scan": r.id}
        for r in rows if r.status == "done" and r.attack_success_rate is not None
    ]  # fmt: skip
    return (
        alt.Chart(alt.Data(values=data))
        .mark_line(point=True)
        .encode(
            x=alt.X("started:T", title="scan started"),
            y=alt.Y("asr:Q", title="attack success rate", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("release:N", title="release"),
            tooltip=["scan:Q", "release:N", "started:T", alt.Tooltip("asr:Q", format=".0%")],
        )
        .properties(height=220)
    )


def bias_history_chart(points: list[Any]) -> alt.Chart:
    """Each attribute's refusal gap over the bias probe runs (``bias_runs.history``); a
    flagged run is a filled point."""
    data = [
        {"started": p.started_at.isoformat(timespec="seconds"), "attribute": p.attribute,
         "gap": p.refusal_gap, "similarity": p.similarity_mean, "flagged": p.flagged,
         "run": p.run_id, "release": p.release_id}
        for p in points if p.refusal_gap is not None
    ]  # fmt: skip
    return (
        alt.Chart(alt.Data(values=data))
        .mark_line(point=True)
        .encode(
            x=alt.X("started:T", title="run started"),
            y=alt.Y("gap:Q", title="refusal gap (most − least refused group)",
                    scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("attribute:N", title="attribute"),
            tooltip=["run:Q", "release:N", "attribute:N", "started:T", "flagged:N",
                     alt.Tooltip("gap:Q", format=".0%"),
                     alt.Tooltip("similarity:Q", format=".2f")],
        )
        .properties(height=200)
    )  # fmt: skip
