"""Console view-models: shapes the pages render, computed from store results (no streamlit)."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import altair as alt

from llmops.store.queries import TraceDetail

TIME_RANGES: dict[str, timedelta | None] = {
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "All time": None,
}

KIND_COLORS = {
    "chain": "#6c8ebf",
    "guard": "#d79b00",
    "retriever": "#82b366",
    "prompt": "#b0b0b0",
    "llm": "#9673a6",
    "parser": "#999999",
    "tool": "#b85450",
    "embedding": "#4d9a9a",
    "evaluator": "#e07b39",
}


def since_for(label: str, now: datetime | None = None) -> datetime | None:
    delta = TIME_RANGES.get(label)
    return None if delta is None else (now or datetime.now(UTC)) - delta


def span_rows(detail: TraceDetail) -> list[dict[str, Any]]:
    """Spans in tree order (parents before children), with depth and offsets in ms."""
    spans = detail.spans
    if not spans:
        return []
    ids = {s["id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s["parent_id"] if s["parent_id"] in ids else None
        children.setdefault(parent, []).append(s)
    for group in children.values():
        group.sort(key=lambda s: (s["started_at"], s["id"]))
    t0 = min(datetime.fromisoformat(s["started_at"]) for s in spans)
    rows: list[dict[str, Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            start = datetime.fromisoformat(s["started_at"])
            end = datetime.fromisoformat(s["ended_at"]) if s["ended_at"] else start
            rows.append(
                {
                    **s,
                    "depth": depth,
                    "label": f"{'  ' * depth}{s['name']}",
                    "order": len(rows),
                    "start_ms": round((start - t0).total_seconds() * 1000, 3),
                    "end_ms": round((end - t0).total_seconds() * 1000, 3),
                }
            )
            walk(s["id"], depth + 1)

    walk(None, 0)
    return rows


def waterfall(rows: list[dict[str, Any]]) -> alt.Chart:
    """The span tree as a waterfall: one bar per span from its start to its end."""
    data = [
        {
            "span": f"{r['order']:03d} {r['label']}",
            "kind": r["kind"],
            "start_ms": r["start_ms"],
            "end_ms": max(r["end_ms"], r["start_ms"] + 0.05),
            "duration_ms": r["duration_ms"],
            "status": r["status"],
        }
        for r in rows
    ]
    kinds = sorted({d["kind"] for d in data})
    return (
        alt.Chart(alt.Data(values=data))
        .mark_bar(cornerRadius=2)
        .encode(
            y=alt.Y(
                "span:N", sort=None, title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)
            ),
            x=alt.X("start_ms:Q", title="ms since the trace started"),
            x2="end_ms:Q",
            color=alt.Color(
                "kind:N",
                scale=alt.Scale(domain=kinds, range=[KIND_COLORS.get(k, "#888") for k in kinds]),
            ),
            tooltip=["span:N", "kind:N", "duration_ms:Q", "status:N"],
        )
        # a fixed step per row: at any number of spans the bars and labels never overlap
        .properties(height=alt.Step(26))
    )


# how the tracer writes a LangChain message ("human: ...", "AIMessageChunk: ...")
_MESSAGE = re.compile(r"^(system|human|ai|AIMessageChunk|AIMessage|HumanMessage|SystemMessage|tool"
                      r"|ToolMessage|function|chat): (.*)$", re.S)  # fmt: skip
ROLES = {"system": "system", "SystemMessage": "system", "human": "user", "HumanMessage": "user",
         "ai": "assistant", "AIMessage": "assistant", "AIMessageChunk": "assistant",
         "tool": "tool", "ToolMessage": "tool", "function": "tool", "chat": "user"}  # fmt: skip


def as_messages(value: Any) -> list[tuple[str, str]] | None:
    """A span input or output that holds chat messages, as (role, text) pairs; else None.

    Accepts what the tracer stores for chat models: a message string, a list of them (or a
    list of such lists, one per prompt), as JSON text or already parsed."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    items = value if isinstance(value, list) else [value]
    if len(items) == 1 and isinstance(items[0], list):
        items = items[0]
    out = []
    for item in items:
        m = _MESSAGE.match(item) if isinstance(item, str) else None
        if m is None:
            return None
        out.append((ROLES[m.group(1)], m.group(2)))
    return out or None


def feedback_label(up: int, down: int) -> str:
    return ("👍" * min(up, 3) + "👎" * min(down, 3)) or "—"


def violation_chart(series: list[dict[str, Any]]) -> alt.Chart:
    """Violation rate (events per trace) over time, one line per validator and direction."""
    data = [
        {**row, "series": f"{row['validator']} ({row['direction']})", "rate": row["rate"] or 0.0}
        for row in series
    ]
    return (
        alt.Chart(alt.Data(values=data))
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y("rate:Q", title="violations per trace", axis=alt.Axis(format="%")),
            color=alt.Color("series:N", title="validator"),
            tooltip=["bucket:T", "series:N", "events:Q", "traces:Q",
                     alt.Tooltip("rate:Q", format=".1%")],
        )
        .properties(height=260)
    )  # fmt: skip


def breakdown_chart(rows: list[dict[str, Any]]) -> alt.Chart:
    """Events per validator, stacked by what was done (blocked / fixed / flagged / error)."""
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            y=alt.Y("validator:N", sort="-x", title=None),
            x=alt.X("sum(events):Q", title="events"),
            color=alt.Color(
                "action:N",
                scale=alt.Scale(domain=["blocked", "fixed", "flagged", "error"],
                                range=["#b85450", "#d79b00", "#6c8ebf", "#7f7f7f"]),
            ),
            tooltip=["validator:N", "direction:N", "action:N", "events:Q"],
        )
        .properties(height=max(120, 30 * len({r["validator"] for r in rows})))
    )  # fmt: skip


def eval_languages(results: dict[str, Any]) -> list[str]:
    return sorted(results.get("by_lang") or {})


def confusion_rows(results: dict[str, Any], lang: str | None = None) -> list[dict[str, Any]]:
    """A guard evaluation as table rows: one per label, then benign false-positive rates;
    with ``lang``, the same counts for that language's cases only."""
    labels = (results.get("by_lang") or {}).get(lang, {}) if lang else results.get("labels")
    rows = [
        {"label": label, "support": m["support"], "TP": m["tp"], "FN": m["fn"], "FP": m["fp"],
         "TN": m["tn"], "precision": m["precision"], "recall": m["recall"], "FPR": m["fpr"]}
        for label, m in (labels or {}).items()
        if m["support"] or m["fp"]
    ]  # fmt: skip
    benign = results.get("benign") or {}
    if lang:
        benign = {k: v for k, v in benign.items() if k == f"lang:{lang}"}
    for key, m in benign.items():
        rows.append(
            {"label": f"benign · {key}", "support": m["fp"] + m["tn"], "TP": None, "FN": None,
             "FP": m["fp"], "TN": m["tn"], "precision": None, "recall": None, "FPR": m["fpr"]}
        )  # fmt: skip
    return rows
