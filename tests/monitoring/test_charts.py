"""View-models of the Overview: KPI deltas, chart selections → drill-down links, hot spots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from llmops.monitoring import charts
from llmops.monitoring.metrics import Stats

B = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _stats(traces: int, errors: int = 0, p95: float | None = 100.0, **kw: object) -> Stats:
    s = Stats(bucket=kw.pop("bucket", B), traces=traces, errors=errors, **kw)  # type: ignore[arg-type]
    s.latency = {"p50": p95 and p95 / 2, "p95": p95, "p99": p95 and p95 * 2}
    s.ttft = {"p50": None, "p95": None, "p99": None}
    return s


def test_kpi_deltas_say_which_way_is_bad() -> None:
    now, before = _stats(110, errors=11, p95=200), _stats(100, errors=5, p95=100)
    err = charts.kpi("error_rate", now, before)
    assert (err["value"], err["delta"], err["delta_color"]) == ("10.0%", "+5.0 pp", "inverse")
    lat = charts.kpi("latency_p95", now, before)
    assert (lat["value"], lat["delta"]) == ("200 ms", "+100.0%")
    vol = charts.kpi("traces", now, before)
    assert (vol["delta"], vol["delta_color"]) == ("+10.0%", "off")
    empty = charts.kpi("thumbs_up_rate", now, Stats())
    assert empty["value"] == "—" and empty["delta"] is None


def test_a_clicked_point_becomes_a_traces_link() -> None:
    ms = int(B.timestamp() * 1000)
    assert charts.picked({"selection": {charts.PICK: [{"bucket": ms}]}}) == B
    assert charts.picked({"selection": {charts.PICK: [{"bucket": "2026-11-30T12:00:00Z"}]}}) == B
    assert charts.picked({"selection": {charts.PICK: []}}) is None
    assert charts.picked(None) is None
    link = charts.drill_link(B, "hour", status="error", release_id="rel_1", model=None)
    q = dict(parse_qsl(urlsplit(link).query))
    assert urlsplit(link).path == "/traces"
    assert q == {"since": B.isoformat(), "until": (B + timedelta(hours=1)).isoformat(),
                 "status": "error", "release": "rel_1"}  # fmt: skip


def test_hot_spots_rank_error_bursts_and_latency_spikes() -> None:
    calm = [_stats(50, bucket=B + timedelta(hours=i)) for i in range(10)]
    burst = _stats(50, errors=20, bucket=B + timedelta(hours=10))
    spike = _stats(50, p95=900.0, bucket=B + timedelta(hours=11))
    tiny = _stats(2, errors=2, bucket=B + timedelta(hours=12))  # too few traces to matter
    spots = charts.hot_spots([*calm, burst, spike, tiny], "hour")
    assert [s["bucket"] for s in spots] == [charts.when(spike.bucket, "hour"),
                                            charts.when(burst.bucket, "hour")]  # fmt: skip
    assert spots[0]["vs typical p95"] == "9.0×" and "status=error" in spots[1]["errors"]
    assert charts.hot_spots(calm, "hour") == []


def test_charts_build_for_every_metric() -> None:
    series = [_stats(10, bucket=B + timedelta(hours=i), group=g) for i in range(3) for g in "ab"]
    for metric in ("traces", "error_rate", "cost", "thumbs_up_rate", "violation_rate"):
        spec = charts.time_chart(series, metric, "hour", {"a": "release A"}).to_json()
        assert f'"name": "{charts.PICK}"' in spec and '"nearest": true' in spec
    spec = charts.percentile_chart(series, "latency", "hour", {}).to_json()
    assert '"series": "a p95"' in spec and '"series": "b p95"' in spec
    assert '"series": "a p50"' not in spec  # grouped: one p95 line per group


def _spec(chart: object) -> dict:
    import json

    return json.loads(chart.to_json())  # type: ignore[attr-defined]


def test_lines_break_over_empty_hours_and_the_axis_spans_the_range() -> None:
    # traffic at 12:00, 13:00 and 16:00 of a 12:00-18:00 range: 14, 15 and 17 had none
    series = [_stats(20, errors=2, bucket=B + timedelta(hours=h)) for h in (0, 1, 4)]
    domain = (B, B + timedelta(hours=6))
    spec = _spec(charts.time_chart(series, "error_rate", "hour", {}, domain=domain))
    line = spec["layer"][0]
    assert line["mark"] == {"type": "line", "invalid": "break-paths-filter-domains"}
    rows = spec["data"]["values"]
    empty = sorted(r["bucket"] for r in rows if r["value"] is None)
    assert empty == [(B + timedelta(hours=h)).isoformat() for h in (2, 3, 5)]
    x = line["encoding"]["x"]["scale"]
    assert x["domain"] == [B.isoformat(), (B + timedelta(hours=6)).isoformat()]


def test_a_rate_from_too_few_turns_is_not_drawn() -> None:
    series = [_stats(20, errors=2, bucket=B), _stats(2, errors=2, bucket=B + timedelta(hours=1))]
    spec = _spec(charts.time_chart(series, "error_rate", "hour", {}))
    rows = spec["data"]["values"]
    assert [(r["bucket"], r["value"]) for r in rows] == [(B.isoformat(), 0.1)]  # not 100 %
    counts = _spec(charts.time_chart(series, "traces", "hour", {}))  # counts are always drawn
    assert len(counts["data"]["values"]) == 2
