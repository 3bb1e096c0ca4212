"""Alert rules: firing, not firing, resolving, webhooks to a real server on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from llmops.errors import InvalidInputError, NotFoundError
from llmops.monitoring import alerts
from llmops.store.db import Database
from llmops.tracing.records import TraceRecord
from llmops.tracing.writer import SpanWriter

from .webhook_server import webhook

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _traffic(db: Database, tmp_path: Path, *, errors: int, ok: int, minutes_ago: float = 10,
             release: str = "rel_x", latency_ms: float = 50.0) -> None:  # fmt: skip
    w = SpanWriter(db, tmp_path / "spool", flush_interval_s=0.01)
    start = NOW - timedelta(minutes=minutes_ago)
    for i in range(errors + ok):
        ns = int((start + timedelta(seconds=i)).timestamp() * 1e9)
        w.submit(
            TraceRecord(
                id=f"{ns // 1_000_000:012x}{i:04x}{hash(release) & 0xFFFF:04x}{'0' * 12}",
                name="chat",
                start_ns=ns,
                end_ns=ns + int(latency_ms * 1e6),
                release_id=release,
                model="m",
                status="error" if i < errors else "ok",
            )
        )
    assert w.flush()
    w.close()


def _rule(db: Database, **fields: object) -> alerts.Rule:
    spec = {"name": "errors", "metric": "error_rate", "comparison": ">", "threshold": 0.1,
            "window_minutes": 30, "min_samples": 5, **fields}  # fmt: skip
    return alerts.create_rule(db, alerts.make_spec(**spec), actor="test")


def test_a_rule_fires_once_notifies_and_resolves(db: Database, tmp_path: Path) -> None:
    _traffic(db, tmp_path, errors=4, ok=16)  # 20 % errors in the last 30 minutes
    with webhook() as hook:
        rule = _rule(db, webhook_url=hook.url)
        (ev,) = alerts.evaluate(db, now=NOW)
        assert ev.firing and ev.changed == "fired" and ev.delivery == "sent"
        assert ev.value == pytest.approx(0.2) and ev.samples == 20
        (again,) = alerts.evaluate(db, now=NOW + timedelta(minutes=1))
        assert again.firing and again.changed is None  # still firing: no second notification
        (later,) = alerts.evaluate(db, now=NOW + timedelta(hours=2))  # window moved on
        assert not later.firing and later.changed == "resolved"
    assert [h["alert"]["state"] for h in hook.received] == ["firing", "resolved"]
    first = hook.received[0]
    assert first["alert"]["rule_id"] == rule.id and first["alert"]["value"] == pytest.approx(0.2)
    assert "FIRING" in first["text"] and "/traces?since=" in first["text"]
    assert "status=error" in first["alert"]["traces_url"]
    assert hook.headers[0]["Content-Type"] == "application/json"
    rows, total = alerts.history(db)
    assert total == 2 and [r.state for r in rows] == ["resolved", "firing"]
    assert {r.delivery for r in rows} == {"sent"}
    assert alerts.get_rule(db, rule.id).state == "ok"


def test_rules_that_do_not_fire(db: Database, tmp_path: Path) -> None:
    _traffic(db, tmp_path, errors=1, ok=19)  # 5 %
    _rule(db, name="below threshold")
    _rule(db, name="too few samples", threshold=0.01, min_samples=50)
    _rule(db, name="other release", threshold=0.01, release_id="rel_other")
    _rule(db, name="disabled", threshold=0.01, enabled=False)
    results = {e.rule.name: e for e in alerts.evaluate(db, now=NOW)}
    assert set(results) == {"below threshold", "too few samples", "other release"}
    assert not any(e.firing for e in results.values())
    assert "too few samples (20 < 50)" in results["too few samples"].reason
    assert results["other release"].reason == "no data in the window"
    assert alerts.history(db)[1] == 0


def test_a_dead_mans_switch_fires_without_traffic(db: Database) -> None:
    _rule(db, name="no traffic", metric="traces", comparison="<", threshold=1)
    (ev,) = alerts.evaluate(db, now=NOW)
    assert ev.firing and ev.value == 0 and ev.samples == 0


def test_a_long_window_reads_the_rollups(db: Database, tmp_path: Path) -> None:
    _traffic(db, tmp_path, errors=0, ok=30, minutes_ago=600, latency_ms=4000)
    _rule(db, name="slow", metric="latency_p95", threshold=3000, window_minutes=1440)
    (ev,) = alerts.evaluate(db, now=NOW)
    assert ev.firing and abs(ev.value - 4000) <= 0.02 * 4000  # type: ignore[operator]


def test_a_failing_webhook_is_recorded_not_raised(db: Database, tmp_path: Path) -> None:
    _traffic(db, tmp_path, errors=10, ok=10)
    _rule(db)  # no URL of its own: the default webhook is used
    with webhook(status=500) as hook:
        (ev,) = alerts.evaluate(db, now=NOW, default_webhook=hook.url)
    assert len(hook.received) == 1
    assert ev.firing and ev.delivery == "failed" and "HTTP 500" in (ev.delivery_error or "")
    (row,), _ = alerts.history(db)
    assert row.delivery == "failed" and "500" in (row.delivery_error or "")
    closed = alerts.send_webhook("http://127.0.0.1:9/nothing-listens", {"text": "x"}, 1.0)
    assert closed[0] == "failed"


def test_notify_false_records_but_does_not_call(db: Database, tmp_path: Path) -> None:
    _traffic(db, tmp_path, errors=10, ok=10)
    with webhook() as hook:
        _rule(db, webhook_url=hook.url)
        (ev,) = alerts.evaluate(db, now=NOW, notify=False)
    assert ev.changed == "fired" and hook.received == []


def test_editing_a_rule_starts_its_state_over(db: Database, tmp_path: Path) -> None:
    _traffic(db, tmp_path, errors=10, ok=10)
    rule = _rule(db)
    alerts.evaluate(db, now=NOW)
    assert alerts.get_rule(db, rule.id).state == "firing"
    spec = alerts.make_spec(name="errors", metric="error_rate", threshold=0.9, min_samples=5)
    assert alerts.update_rule(db, rule.id, spec, actor="test").state == "ok"
    alerts.delete_rule(db, rule.id, actor="test")
    with pytest.raises(NotFoundError):
        alerts.get_rule(db, rule.id)
    assert alerts.history(db)[1] == 0  # history goes with the rule


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"metric": "latency"}, "unknown metric"),
        ({"comparison": "=="}, "comparison"),
        ({"threshold": float("nan")}, "finite"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"name": "  "}, "blank"),
        ({"webhook_url": "ftp://example.org/x"}, "http:// or https://"),
    ],
)
def test_bad_rules_say_what_is_wrong(fields: dict[str, object], message: str) -> None:
    spec = {"name": "r", "metric": "error_rate", "threshold": 0.1, **fields}
    with pytest.raises(InvalidInputError, match=message):
        alerts.make_spec(**spec)


def test_windows_parse() -> None:
    assert [alerts.parse_window(w) for w in ("15m", "2h", "1d", "90", 5)] == [15, 120, 1440, 90, 5]
    with pytest.raises(InvalidInputError, match="15m, 2h or 1d"):
        alerts.parse_window("soon")
