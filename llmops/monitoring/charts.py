"""View-models and Altair charts for the Overview and Feedback pages (no Streamlit here).

Times are shown in UTC, like the buckets. Every time-series chart carries a point selection
named ``pick`` on the bucket, so a page can turn a click on a spike into a link to the
Traces page filtered to that bucket (``drill_link``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import altair as alt

from llmops.monitoring.metrics import GRAIN_SECONDS, METRICS, Stats, format_value
from llmops.types import JSONDict

KPIS = (
    "traces", "error_rate", "latency_p50", "latency_p95", "latency_p99",
    "ttft_p95", "tokens", "cost", "thumbs_up_rate", "violation_rate",
)  # fmt: skip
NEUTRAL = {"traces", "tokens", "input_tokens", "output_tokens", "feedback"}
PICK = "pick"


def kpi(metric: str, now: Stats, before: Stats) -> JSONDict:
    """A tile: value, change vs the previous period, and which direction is bad."""
    m = METRICS[metric]
    value, prev = now.value(metric), before.value(metric)
    delta: str | None = None
    if value is not None and prev is not None:
        if m.unit == "ratio":
            delta = f"{(value - prev) * 100:+.1f} pp"
        elif prev:
            delta = f"{(value - prev) / prev:+.1%}"
    color = "off" if metric in NEUTRAL else "inverse" if m.higher_is_worse else "normal"
    return {
        "label": m.label,
        "value": format_value(metric, value),
        "delta": delta,
        "delta_color": color,
        "help": f"Previous period: {format_value(metric, prev)}",
    }


def when(bucket: datetime | None, grain: str) -> str:
    if bucket is None:
        return ""
    return bucket.strftime("%Y-%m-%d" if grain == "day" else "%Y-%m-%d %H:%M") + " UTC"


def label_for(group: str, names: dict[str, str]) -> str:
    if not group:
        return "all"
    return f"{names[group]} ({group})" if group in names else group


MIN_RATE_SAMPLES = 5  # a rate from fewer turns than this is not drawn (it means little)
MAX_FILLED_BUCKETS = 2_000


def _rows(series: Iterable[Stats], grain: str, names: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"bucket": s.bucket.isoformat() if s.bucket else None, "when": when(s.bucket, grain),
         "series": label_for(s.group, names), "stats": s}
        for s in series
    ]  # fmt: skip


def _gaps(
    data: list[dict[str, Any]], grain: str, domain: tuple[datetime, datetime] | None
) -> list[dict[str, Any]]:
    """A null row for every bucket of the range a series has no value in, so a line breaks
    there instead of being drawn across hours without data."""
    if domain is None or not data:
        return data
    step = timedelta(seconds=GRAIN_SECONDS[grain])
    start, end = domain
    if (end - start) / step > MAX_FILLED_BUCKETS:
        return data
    buckets = []
    at = start
    while at < end:
        buckets.append(at.isoformat())
        at += step
    have: dict[str, set[str]] = {}
    for row in data:
        have.setdefault(row["series"], set()).add(row["bucket"])
    filled = list(data)
    for name, seen in have.items():
        filled += [{"bucket": b, "series": name, "value": None} for b in buckets if b not in seen]
    return filled


def _x(domain: tuple[datetime, datetime] | None = None) -> alt.X:
    """Time on x; with ``domain`` the axis spans the chosen range, not just the data."""
    scale = alt.Scale(type="utc")
    if domain is not None:
        scale = alt.Scale(type="utc", domain=[d.isoformat() for d in domain])
    return alt.X("bucket:T", title=None, scale=scale,
                 axis=alt.Axis(format="%m-%d %H:%M", labelOverlap=True))  # fmt: skip


def _legend() -> alt.Legend:
    # below the chart, wrapped, and long enough for "release name (rel_…)" labels
    return alt.Legend(orient="bottom", columns=2, labelLimit=320, symbolLimit=50)


def time_chart(
    series: list[Stats],
    metric: str,
    grain: str,
    names: dict[str, str],
    *,
    height: int = 220,
    domain: tuple[datetime, datetime] | None = None,
) -> alt.LayerChart:
    """One metric over time, a line (or stacked bars for counts) per group. A rate is drawn
    only where a bucket has ``MIN_RATE_SAMPLES`` turns; lines break where there is no value;
    with ``domain`` the x axis spans the chosen range."""
    m = METRICS[metric]
    bars = m.unit in ("count", "tokens", "usd")
    data = []
    for row in _rows(series, grain, names):
        stats: Stats = row.pop("stats")
        value, samples = stats.value(metric), stats.samples(metric)
        if value is None or (m.unit == "ratio" and samples < MIN_RATE_SAMPLES):
            continue
        data.append({**row, "value": value, "shown": format_value(metric, value),
                     "samples": samples})  # fmt: skip
    if not bars:
        data = _gaps(data, grain, domain)
    axis = alt.Axis(format="%") if m.unit == "ratio" else alt.Axis(format="~s")
    pick = alt.selection_point(name=PICK, fields=["bucket"], on="click", nearest=True)
    base = alt.Chart(alt.Data(values=data)).encode(
        x=_x(domain),
        y=alt.Y("value:Q", title=m.label, axis=axis, stack=bars),
        color=alt.Color("series:N", title=None, legend=_legend()),
        tooltip=[alt.Tooltip("when:N", title="bucket"), alt.Tooltip("series:N", title="group"),
                 alt.Tooltip("shown:N", title=m.label), alt.Tooltip("samples:Q", title="samples")],
    )  # fmt: skip
    mark = base.mark_bar() if bars else base.mark_line(invalid="break-paths-filter-domains")
    return _pickable(base, mark, visible=not bars, pick=pick, height=height)


def _pickable(
    base: alt.Chart, mark: alt.Chart, *, visible: bool, pick: Any, height: int
) -> alt.LayerChart:
    """The mark plus a point layer that carries the click selection: Vega-Lite's ``nearest``
    works on points (not on lines or bars), so a click anywhere picks the closest bucket."""
    points = base.mark_point(filled=True, size=36, opacity=1 if visible else 0).add_params(pick)
    return alt.LayerChart(layer=[mark, points], height=height)


def percentile_chart(
    series: list[Stats],
    kind: str,
    grain: str,
    names: dict[str, str],
    *,
    height: int = 220,
    domain: tuple[datetime, datetime] | None = None,
) -> alt.LayerChart:
    """p50/p95/p99 lines (one group), or p95 per group when grouped."""
    grouped = len({s.group for s in series}) > 1 or any(s.group for s in series)
    data = []
    for row in _rows(series, grain, names):
        stats: Stats = row.pop("stats")
        values = stats.latency if kind == "latency" else stats.ttft
        for q in ("p95",) if grouped else ("p50", "p95", "p99"):
            if values.get(q) is not None:
                label = f"{row['series']} {q}" if grouped else q
                data.append({**row, "series": label, "value": values[q],
                             "shown": f"{values[q]:,.0f} ms"})  # fmt: skip
    data = _gaps(data, grain, domain)
    title = "Latency (ms)" if kind == "latency" else "Time to first token (ms)"
    pick = alt.selection_point(name=PICK, fields=["bucket"], on="click", nearest=True)
    base = alt.Chart(alt.Data(values=data)).encode(
        x=_x(domain),
        y=alt.Y("value:Q", title=title, scale=alt.Scale(type="log"), axis=alt.Axis(format="~s")),
        color=alt.Color("series:N", title=None, legend=_legend()),
        tooltip=[alt.Tooltip("when:N", title="bucket"), alt.Tooltip("series:N", title="series"),
                 alt.Tooltip("shown:N", title="value")],
    )  # fmt: skip
    return _pickable(
        base,
        base.mark_line(invalid="break-paths-filter-domains"),
        visible=True,
        pick=pick,
        height=height,
    )


def picked(selection: Any) -> datetime | None:
    """The bucket a user clicked, from ``st.altair_chart(..., on_select="rerun")``'s state."""
    try:
        points = (selection or {}).get("selection", {}).get(PICK) or []
    except AttributeError:
        return None
    for point in points:
        value = point.get("bucket") if isinstance(point, dict) else None
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def drill_params(
    bucket: datetime,
    grain: str,
    *,
    status: str | None = None,
    release_id: str | None = None,
    model: str | None = None,
) -> dict[str, str]:
    """Query parameters of the Traces page for one bucket (and filters)."""
    end = bucket + timedelta(seconds=GRAIN_SECONDS[grain])
    params = {
        "since": bucket.isoformat(timespec="seconds"),
        "until": end.isoformat(timespec="seconds"),
    }
    for key, value in (("status", status), ("release", release_id), ("model", model)):
        if value:
            params[key] = value
    return params


def drill_link(bucket: datetime, grain: str, **filters: str | None) -> str:
    return "/traces?" + urlencode(drill_params(bucket, grain, **filters))


def hot_spots(
    series: list[Stats], grain: str, *, limit: int = 8, min_traces: int = 5
) -> list[dict[str, Any]]:
    """The buckets most worth a look: highest error rate, and slowest p95 (relative to the
    median bucket), each with links to its traces."""
    busy = [s for s in series if s.bucket is not None and s.traces >= min_traces]
    if not busy:
        return []
    p95s = sorted(v for s in busy if (v := s.latency.get("p95")) is not None)
    typical = p95s[len(p95s) // 2] if p95s else None
    scored = []
    for s in busy:
        err = s.error_rate or 0.0
        slow = (s.latency.get("p95") or 0.0) / typical if typical else 0.0
        scored.append((max(err * 10, slow - 1), s))
    out = []
    for score, s in sorted(scored, key=lambda x: -x[0])[:limit]:
        if score <= 0 or s.bucket is None:
            continue
        out.append(
            {
                "bucket": when(s.bucket, grain),
                "traces": s.traces,
                "error rate": format_value("error_rate", s.error_rate),
                "p95": format_value("latency_p95", s.latency.get("p95")),
                "vs typical p95": f"{(s.latency.get('p95') or 0) / typical:.1f}×"
                if typical
                else "—",
                "errors": drill_link(s.bucket, grain, status="error"),
                "all traces": drill_link(s.bucket, grain),
            }
        )
    return out


def breakdown_rows(rows: list[Stats], names: dict[str, str]) -> list[dict[str, Any]]:
    """One line per release or model: the numbers an operator compares side by side."""
    return [
        {
            "group": label_for(s.group, names),
            "traces": s.traces,
            "error rate": s.error_rate,
            "p50 ms": s.latency.get("p50"),
            "p95 ms": s.latency.get("p95"),
            "p99 ms": s.latency.get("p99"),
            "TTFT p95 ms": s.ttft.get("p95"),
            "tokens": s.tokens,
            "cost $": round(s.cost, 6),
            "ratings": s.feedback,
            "thumbs-up rate": s.thumbs_up_rate,
            "violation rate": s.violation_rate,
        }
        for s in sorted(rows, key=lambda s: -s.traces)
    ]
