"""``llmops monitor``: alert checks for cron, metrics, alert rules, prices, exports, rollups.

Registered on the main ``llmops`` app as one sub-app. The shared helpers (one JSON document
with ``--json``, the runtime, trailing ``--days`` windows) come from ``llmops.cliutil``; the root
command there turns every error into one line on stderr (exit code 2 for bad input).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from llmops import cliutil as cli
from llmops.errors import InvalidInputError

monitor_app = typer.Typer(
    help="Monitoring: alert checks, metrics, alert rules, model prices, feedback exports.",
    no_args_is_help=True,
)
rules_app = typer.Typer(help="Alert rules.", no_args_is_help=True)
prices_app = typer.Typer(
    help="The model price table (USD per million tokens).", no_args_is_help=True
)
monitor_app.add_typer(rules_app, name="rules")
monitor_app.add_typer(prices_app, name="prices")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


FIRST_YEAR, LAST_YEAR = 1970, 9998  # epoch seconds, with room to align ranges to whole days


def _when(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"--{what} must be an ISO date or time such as 2026-11-30T12:00, not {text!r}."
        ) from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidInputError(
            f"--{what} must be between the years {FIRST_YEAR} and {LAST_YEAR}, not {text!r}."
        )
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@monitor_app.command("check")
def check(
    as_json: JsonOpt = False,
    notify: Annotated[bool, typer.Option(help="Call webhooks on state changes.")] = True,
) -> None:
    """Evaluate every enabled alert rule and the canary's rollback rules (rolling a bad
    canary back); exit code 1 while any rule fires or a canary was rolled back (for cron)."""
    from llmops.monitoring import alerts
    from llmops.releases import rollback

    with cli.runtime() as rt:
        s = rt.settings
        results = alerts.evaluate(
            rt.db,
            notify=notify,
            default_webhook=s.alert_webhook_url,
            timeout_s=s.alert_webhook_timeout_s,
            console_url=s.console_url,
        )
        rolled = rollback.check(
            rt.db,
            default_webhook=s.alert_webhook_url if notify else None,
            timeout_s=s.alert_webhook_timeout_s,
            console_url=s.console_url,
        )
    firing = [r.rule.id for r in results if r.firing]
    if as_json:
        cli.print_json(
            {
                "checked_at": datetime.now(UTC).isoformat(),
                "firing": firing,
                "rules": [r.as_dict() for r in results],
                "rolled_back": [
                    {"release_id": b.release_id, "rule": b.rule.as_dict(), "message": b.message,
                     "delivery": b.delivery}
                    for b in rolled
                ],
            }
        )  # fmt: skip
    elif not results and not rolled:
        typer.echo("no enabled alert rules")
    else:
        for r in results:
            state = "FIRING" if r.firing else "ok"
            change = f" ({r.changed}; webhook {r.delivery})" if r.changed else ""
            typer.echo(
                f"{state:<7} #{r.rule.id} {r.rule.name}: {r.rule.describe()} — {r.reason}{change}"
            )
    if not as_json:
        for back in rolled:
            typer.echo(f"ROLLED BACK {back.message}")
    if firing or rolled:
        raise typer.Exit(1)


@monitor_app.command("metrics")
def show_metrics(
    range_: Annotated[
        str, typer.Option("--range", help="Trailing range: 30m, 6h, 24h, 7d, 90d.")
    ] = "24h",
    since: Annotated[str | None, typer.Option(help="Start (ISO), instead of --range.")] = None,
    until: Annotated[str | None, typer.Option(help="End (ISO); default now.")] = None,
    group: Annotated[str, typer.Option(help="none, release or model")] = "none",
    release: Annotated[str | None, typer.Option(help="Only this release id.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    series: Annotated[bool, typer.Option(help="Per time bucket instead of totals.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Volume, errors, latency percentiles, tokens, cost, feedback and guard rates."""
    from llmops.monitoring import metrics
    from llmops.monitoring.alerts import parse_window

    end = _when(until, "until") or datetime.now(UTC)
    start = _when(since, "since") or end - timedelta(minutes=parse_window(range_))
    scope = metrics.Scope(start, end, release_id=release, model=model)
    period = metrics.period_for(scope)
    with cli.runtime() as rt:
        fn = metrics.series if series else metrics.summary
        rows = fn(rt.db, scope, group=group)
    if as_json:
        cli.print_json(
            {
                "since": period.since.isoformat(),
                "until": period.until.isoformat(),
                "grain": period.grain,
                "group": group,
                "rows": [r.as_dict() for r in rows],
            }
        )
        return
    typer.echo(
        f"{period.since:%Y-%m-%d %H:%M} → {period.until:%Y-%m-%d %H:%M} UTC by {period.grain}"
    )
    head = f"{'bucket' if series else 'group':<18}{'traces':>9}{'err%':>7}{'p50':>8}{'p95':>8}{'p99':>8}{'cost $':>10}{'👍%':>6}{'viol%':>7}"
    typer.echo(head)
    for r in rows:
        label = f"{r.bucket:%m-%d %H:%M}" if series and r.bucket else (r.group or "all")
        typer.echo(
            f"{label[:17]:<18}{r.traces:>9,}{_pct(r.error_rate):>7}{_ms(r.latency['p50']):>8}"
            f"{_ms(r.latency['p95']):>8}{_ms(r.latency['p99']):>8}{r.cost:>10.4f}"
            f"{_pct(r.thumbs_up_rate):>6}{_pct(r.violation_rate):>7}"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


@monitor_app.command("history")
def history(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Alert transitions (firing / resolved), newest first."""
    from llmops.monitoring import alerts

    with cli.runtime() as rt:
        rows, total = alerts.history(rt.db, limit=limit)
    if as_json:
        cli.print_json({"total": total, "events": [r.as_dict() for r in rows]})
        return
    for r in rows:
        typer.echo(f"{r.at:%Y-%m-%d %H:%M:%S}  {r.state:<9} #{r.rule_id} {r.message}")


@rules_app.command("list")
def rules_list(as_json: JsonOpt = False) -> None:
    """Every alert rule with its current state."""
    from llmops.monitoring import alerts

    with cli.runtime() as rt:
        rules = alerts.list_rules(rt.db)
    if as_json:
        cli.print_json([r.as_dict() for r in rules])
        return
    for r in rules:
        flag = "" if r.enabled else " (disabled)"
        typer.echo(f"#{r.id} {r.state:<7} {r.name}: {r.describe()}{flag}")


@rules_app.command("add")
def rules_add(
    metric: Annotated[str, typer.Option(help="e.g. error_rate, latency_p95, thumbs_up_rate")],
    threshold: Annotated[float, typer.Option(help="Rates as fractions (0.05 = 5 %), ms, USD.")],
    name: Annotated[str | None, typer.Option(help="Default: the rule's description.")] = None,
    op: Annotated[str, typer.Option("--op", help="> >= < <=")] = ">",
    window: Annotated[str, typer.Option(help="Trailing window: 15m, 1h, 1d.")] = "1h",
    release: Annotated[str | None, typer.Option(help="Only this release id.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    min_samples: Annotated[int, typer.Option(help="Samples needed before a rate fires.")] = 20,
    webhook: Annotated[str | None, typer.Option(help="URL to POST state changes to.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an alert rule."""
    from llmops.monitoring import alerts

    spec = alerts.make_spec(
        name=name or f"{metric} {op} {threshold}",
        metric=metric,
        comparison=op,
        threshold=threshold,
        window_minutes=alerts.parse_window(window, limit=alerts.MAX_WINDOW_MINUTES),
        release_id=release,
        model=model,
        min_samples=min_samples,
        webhook_url=webhook,
    )
    with cli.runtime() as rt:
        rule = alerts.create_rule(rt.db, spec, actor=cli.actor())
    if as_json:
        cli.print_json(rule.as_dict())
    else:
        typer.echo(f"alert rule #{rule.id} added: {rule.describe()}")


@rules_app.command("delete")
def rules_delete(rule_id: Annotated[int, typer.Argument(help="The rule's id.")]) -> None:
    """Delete an alert rule and its history."""
    from llmops.monitoring import alerts

    with cli.runtime() as rt:
        alerts.delete_rule(rt.db, rule_id, actor=cli.actor())
    typer.echo(f"alert rule #{rule_id} deleted")


@prices_app.command("list")
def prices_list(
    history: Annotated[bool, typer.Option(help="Every version, not only those in force.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Model prices in force (or their whole history)."""
    from llmops.monitoring import pricing

    with cli.runtime() as rt:
        prices = pricing.list_prices(rt.db, history=history)
    if as_json:
        cli.print_json([p.as_dict() for p in prices])
        return
    for p in prices:
        typer.echo(
            f"{p.model:<30} in {p.input_per_mtok:>8.4f}  out {p.output_per_mtok:>8.4f} "
            f"USD/Mtok  from {p.effective_from:%Y-%m-%d %H:%M}  {p.note}"
        )


@prices_app.command("set")
def prices_set(
    model: Annotated[str, typer.Argument(help="Model name as traces record it.")],
    input_price: Annotated[float, typer.Option("--input", help="USD per million input tokens.")],
    output_price: Annotated[float, typer.Option("--output", help="USD per million output tokens.")],
    effective_from: Annotated[
        str | None, typer.Option("--from", help="In force from (ISO); default now.")
    ] = None,
    note: Annotated[str, typer.Option(help="Why (shown in the history).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Add a price version for a model; traces written from then on are priced with it."""
    from llmops.monitoring import pricing

    start = _when(effective_from, "from")
    with cli.runtime() as rt:
        price = pricing.set_price(
            rt.db, model, input_price, output_price, effective_from=start, note=note,
            actor=cli.actor(),
        )  # fmt: skip
    if as_json:
        cli.print_json(price.as_dict())
    else:
        typer.echo(
            f"{price.model}: {price.input_per_mtok} / {price.output_per_mtok} USD per "
            f"million tokens from {price.effective_from:%Y-%m-%d %H:%M} UTC"
        )


@monitor_app.command("export")
def export(
    kind: Annotated[str, typer.Argument(help="feedback, or finetune (thumbs-up conversations)")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="File to write; default stdout.")] = None,
    days: Annotated[float | None, typer.Option(min=0.001, help="Only the last N days.")] = None,
    since: Annotated[str | None, typer.Option(help="Only feedback from (ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Only feedback before (ISO).")] = None,
    release: Annotated[str | None, typer.Option(help="Only this release id.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    down_only: Annotated[bool, typer.Option(help="Only thumbs down.")] = False,
    has_comment: Annotated[bool, typer.Option(help="Only ratings with a comment.")] = False,
) -> None:
    """Stream feedback (CSV/JSONL) or fine-tuning examples (OpenAI chat JSONL)."""
    from llmops.monitoring.feedback import FeedbackFilter
    from llmops.monitoring.feedback import export as run_export

    start = _when(since, "since")
    if days is not None:
        start = cli.days_ago(days)
    flt = FeedbackFilter(
        since=start,
        until=_when(until, "until"),
        release_id=release,
        model=model,
        down_only=down_only,
        has_comment=has_comment,
    )
    with cli.runtime() as rt:
        if out is None:
            n = run_export(rt.db, sys.stdout, kind=kind, fmt=fmt, flt=flt, actor=cli.actor())
        else:
            tmp = out.with_name(out.name + ".part")  # no half-written file on failure
            try:
                with tmp.open("w", encoding="utf-8", newline="") as fh:
                    n = run_export(rt.db, fh, kind=kind, fmt=fmt, flt=flt, actor=cli.actor())
                tmp.replace(out)
            finally:
                tmp.unlink(missing_ok=True)
    typer.echo(f"exported {n:,} {kind} records", err=True)


@monitor_app.command("rollup")
def rollup(
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Recompute every rollup from the stored rows.")
    ] = False,
) -> None:
    """Rollups are kept at write time; --rebuild recomputes them (after a retention job)."""
    from llmops.monitoring import rollups

    if not rebuild:
        raise InvalidInputError("Nothing to do: rollups are kept at write time; pass --rebuild.")
    with cli.runtime() as rt, rt.db.engine.begin() as conn:
        report = rollups.rebuild(conn, rt.db.dialect)
    typer.echo(
        f"rebuilt rollups from {report.traces:,} traces: {report.rollup_rows:,} rollup rows, "
        f"{report.histogram_rows:,} histogram rows"
    )
