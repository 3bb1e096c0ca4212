"""``llmops release``: list, show, diff, create, promote, roll back, canary, compare, rules.

Registered on the main ``llmops`` app as one sub-app. Shared helpers (``--json`` output, the
runtime) come from ``llmops.cliutil``; every error becomes one line on stderr there (exit code 2 for bad input).
A release is named by its id, a unique id prefix (``rel_3f2a``) or a label (``production``,
``canary``, ``staging``).
"""

from __future__ import annotations

import json
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from llmops import cliutil as cli
from llmops.errors import InvalidInputError
from llmops.types import JSONDict, JSONValue

release_app = typer.Typer(
    help="Releases: create, compare, promote, roll back, canary.", no_args_is_help=True
)
rules_app = typer.Typer(help="Automatic rollback rules for a canary.", no_args_is_help=True)
release_app.add_typer(rules_app, name="rules")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why (kept in the audit log).")]


def _share(weight: float) -> str:
    return f"{weight * 100:.0f} %" if weight else "-"


@release_app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Releases newest first, with their labels and the share of sessions each serves."""
    from llmops.releases import core

    with cli.runtime() as rt:
        rows = core.list_releases(rt.db, limit=limit, offset=offset)
        total = core.count_releases(rt.db)
    if as_json:
        cli.print_json({"total": total, "releases": [r.as_dict() for r in rows]})
        return
    typer.echo(f"{'id':<18}{'labels':<22}{'traffic':>8}  {'created':<17}{'by':<12}name")
    for r in rows:
        typer.echo(
            f"{r.id:<18}{','.join(r.labels) or '-':<22}{_share(r.traffic_share):>8}  "
            f"{r.created_at:%Y-%m-%d %H:%M}  {r.created_by[:11]:<12}{r.name}"
        )
    if total > offset + len(rows):
        typer.echo(f"… {total - offset - len(rows)} more (--offset {offset + len(rows)})")


@release_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="Release id, id prefix or label.")],
    as_json: JsonOpt = False,
) -> None:
    """A release's whole configuration."""
    from llmops.releases import core

    with cli.runtime() as rt:
        info = core.resolve_ref(rt.db, ref)
    data = {
        "id": info.id,
        "name": info.name,
        "label": info.label,
        "description": info.description,
        "created_at": info.created_at.isoformat(timespec="seconds") if info.created_at else None,
        "created_by": info.created_by,
        "config": info.config.model_dump(mode="json"),
    }
    if as_json:
        cli.print_json(data)
        return
    typer.echo(f"{info.name} ({info.id})" + (f" · {info.label}" if info.label else ""))
    if info.description:
        typer.echo(f"note: {info.description}")
    typer.echo(json.dumps(data["config"], indent=2, ensure_ascii=False))


@release_app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="The first release (id, prefix or label).")],
    b: Annotated[str, typer.Argument(help="The second release.")],
    as_json: JsonOpt = False,
) -> None:
    """Two releases field by field; the system prompts as a unified diff."""
    from llmops.releases import core
    from llmops.releases import diff as rdiff

    with cli.runtime() as rt:
        ra, rb = core.resolve_ref(rt.db, a), core.resolve_ref(rt.db, b)
    changes = rdiff.changes(ra.config, rb.config)
    prompt = rdiff.prompt_diff(
        ra.config.system_prompt, rb.config.system_prompt, names=(ra.id, rb.id)
    )
    if as_json:
        cli.print_json(
            {"a": ra.id, "b": rb.id, "changes": [c.as_dict() for c in changes], "prompt": prompt}
        )
        return
    if not changes:
        typer.echo(f"{ra.id} and {rb.id} have the same configuration")
        return
    for c in changes:
        if c.path != "system_prompt":
            typer.echo(f"{c.path}: {c.a!r} → {c.b!r}")
    if prompt:
        typer.echo(prompt.rstrip("\n"))


def parse_assignment(text: str) -> tuple[str, JSONValue]:
    """``model.temperature=0.2`` → ("model.temperature", 0.2). The value is JSON when it
    parses (numbers, true/false, null, quoted strings), else the text itself; ``@FILE``
    reads the value from a file (a system prompt)."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InvalidInputError(f"--set takes FIELD=VALUE (e.g. retrieval.k=6), not {text!r}.")
    if raw.startswith("@"):
        return path, Path(raw[1:]).read_text(encoding="utf-8")
    try:
        return path, json.loads(raw)
    except ValueError:
        return path, raw


def apply_assignments(config: JSONDict, assignments: list[str]) -> JSONDict:
    """A copy of ``config`` with each ``FIELD=VALUE`` set (dotted paths into sections)."""
    from llmops.releases.diff import flatten

    known = set(flatten(config))
    out = json.loads(json.dumps(config))
    for text in assignments:
        path, value = parse_assignment(text)
        if path not in known:
            raise InvalidInputError(
                f"Unknown release field {path!r}; one of {', '.join(sorted(known))}."
            )
        node = out
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return out


def _parse(path: Path, text: str) -> object:
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


def _read_config(path: Path) -> JSONDict:
    text = path.read_text(encoding="utf-8")
    try:
        data = _parse(path, text)
    except Exception as exc:  # noqa: BLE001 - any parser's error: a bad file, not a bug
        kind = path.suffix[1:].upper() or "JSON"
        raise InvalidInputError(f"{path}: not valid {kind}: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: a release configuration is an object.")
    return data.get("config", data) if isinstance(data.get("config"), dict) else data


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@release_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A short name for the release.")],
    base: Annotated[
        str, typer.Option("--from", help="Start from a copy of this release.")
    ] = "production",
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="FIELD=VALUE, repeatable (retrieval.k=6, model.name=…)."),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A whole configuration (JSON, YAML or TOML).")
    ] = None,
    note: NoteOpt = "",
    label: Annotated[str | None, typer.Option(help="Also point this label at it: staging.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a release from a copy of another with some fields changed (or from a file).
    Releases are immutable; saving an existing configuration returns that release."""
    from llmops.releases import core

    if label not in (None, core.STAGING):
        raise InvalidInputError(
            "--label can only be staging; use `promote` or `canary` for live traffic."
        )
    with cli.runtime() as rt:
        if file is not None:
            data = _read_config(file)
        else:
            data = core.resolve_ref(rt.db, base).config.model_dump(mode="json")
        config = core.parse_config(apply_assignments(data, sets or []))
        existed = core.exists(rt.db, config.release_id())
        info = core.create_release(rt.db, config, name=name, description=note, actor=cli.actor())
        if label:
            core.set_label(rt.db, label, info.id, actor=cli.actor(), note=note)
    if as_json:
        cli.print_json({"id": info.id, "name": info.name, "created": not existed})
        return
    if existed:
        typer.echo(f"{info.id} already has this configuration ({info.name}); nothing created")
    else:
        typer.echo(f"created {info.id} ({info.name})" + (f", labelled {label}" if label else ""))


@release_app.command("promote")
def promote(
    ref: Annotated[str, typer.Argument(help="The release to make production.")],
    note: NoteOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Make a release production (a canary of it ends). Audited: who, when, from → to."""
    from llmops.releases import core, deploy

    with cli.runtime() as rt:
        before = core.labels(rt.db).production
        info = deploy.promote(rt.db, ref, actor=cli.actor(), note=note)
    if as_json:
        cli.print_json({"production": info.id, "previous": before})
        return
    typer.echo(f"production: {before} → {info.id} ({info.name})")


@release_app.command("report")
def report(
    ref: Annotated[str, typer.Argument(help="Release id, id prefix or label.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md (Markdown) or json.")] = "md",
    max_asr: Annotated[
        float, typer.Option("--max-asr", help="Red-team gate: highest ASR per category.")
    ] = 0.05,
    max_regression: Annotated[
        float, typer.Option("--max-regression", help="Evaluation gate: largest drop allowed.")
    ] = 0.02,
    min_fairness: Annotated[
        float, typer.Option("--min-fairness", help="Fairness gate: lowest fairness mean.")
    ] = 0.9,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a gate failed (CI).")
    ] = False,
) -> None:
    """The risk report an approver reads before promoting: guard quality, the latest red-team
    scan, bias probes and fairness, evaluation results and gates, PII handling and retention,
    open findings. Sections without data say which command fills them."""
    from llmops.redteam import report as risk
    from llmops.redteam.report_md import render

    fmt = fmt.strip().lower()
    if fmt not in ("md", "json"):
        raise InvalidInputError(f"--format must be md or json, not {fmt!r}.")
    for value, option in ((max_asr, "--max-asr"), (max_regression, "--max-regression"),
                          (min_fairness, "--min-fairness")):  # fmt: skip
        cli.finite(value, option)
    with cli.runtime() as rt:
        result = risk.build(rt.db, ref, max_asr=max_asr, max_regression=max_regression,
                            min_fairness=min_fairness)  # fmt: skip
    if fmt == "json":
        cli.print_json(result.as_dict())
    else:
        typer.echo(render(result), nl=False)
    if strict and result.failed_gates:
        raise typer.Exit(1)


@release_app.command("rollback")
def rollback(note: NoteOpt = "", as_json: JsonOpt = False) -> None:
    """Point production back at the release it served before the current one."""
    from llmops.releases import core, deploy

    with cli.runtime() as rt:
        before = core.labels(rt.db).production
        info = deploy.rollback(rt.db, actor=cli.actor(), note=note)
    if as_json:
        cli.print_json({"production": info.id, "previous": before})
        return
    typer.echo(f"production rolled back: {before} → {info.id} ({info.name})")


@release_app.command("canary")
def canary(
    ref: Annotated[str | None, typer.Argument(help="The release to serve as canary.")] = None,
    weight: Annotated[
        float | None, typer.Option(help="Share of sessions, 0 < w ≤ 0.5 (0.2 = 20 %).")
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Take the canary out of traffic.")] = False,
    note: NoteOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Serve a release to a sticky share of sessions (same session → same release), or stop
    the running canary. A first canary gets the default automatic-rollback rules."""
    from llmops.releases import core, deploy

    if stop == (ref is not None):
        raise InvalidInputError("Name a release and a --weight, or give --stop (not both).")
    with cli.runtime() as rt:
        if stop:
            running = core.labels(rt.db).canary
            deploy.stop_canary(rt.db, actor=cli.actor(), note=note)
            result: JSONDict = {"canary": None, "stopped": running}
            message = f"canary {running} stopped; production serves everyone"
        else:
            if weight is None:
                raise InvalidInputError("Give the canary's share with --weight, e.g. 0.1.")
            cli.finite(weight, "--weight")
            info = deploy.start_canary(rt.db, ref or "", weight, actor=cli.actor(), note=note)
            result = {"canary": info.id, "weight": weight}
            message = f"canary {info.id} ({info.name}) serves {weight:.0%} of sessions"
    if as_json:
        cli.print_json(result)
    else:
        typer.echo(message)


@release_app.command("which")
def which(
    sessions: Annotated[list[str], typer.Option("--session", help="Session id, repeatable.")],
    as_json: JsonOpt = False,
) -> None:
    """The release each session is served now, and why (canary share or production)."""
    from llmops.releases import core

    with cli.runtime() as rt:
        rows = core.which(rt.db, sessions)
    if as_json:
        cli.print_json([r.__dict__ for r in rows])
        return
    for r in rows:
        typer.echo(f"{r.session_id}: {r.release_id} ({r.release_name}) via {r.label}")


@release_app.command("compare")
def compare(
    window: Annotated[str, typer.Option(help="Trailing window: 30m, 1h, 24h, 7d.")] = "1h",
    canary_ref: Annotated[
        str | None, typer.Option("--canary", help="Another release than the running canary.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Production against the canary on live traffic: error rate, latency, thumbs-up,
    violations and cost, with differences, intervals and p-values, and a verdict."""
    from llmops.monitoring.alerts import parse_window
    from llmops.releases import compare as cmp
    from llmops.releases import core

    minutes = parse_window(window)
    with cli.runtime() as rt:
        cid = core.resolve_ref(rt.db, canary_ref).id if canary_ref else None
        result = cmp.compare(rt.db, window=timedelta(minutes=minutes), canary_id=cid)
    if as_json:
        cli.print_json(result.as_dict())
        return
    for name, arm in (("production", result.production), ("canary", result.canary)):
        if arm is not None:
            typer.echo(f"{name:<11}{arm.release_id} ({arm.name}): {arm.turns:,} turns")
    for m in result.metrics:
        typer.echo(f"  {cmp.format_diff(m)}")
    typer.echo(result.verdict)


@release_app.command("history")
def history(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Label moves, newest first: promotions, rollbacks, canaries, automatic rollbacks."""
    from llmops.releases import core

    with cli.runtime() as rt:
        rows = core.history(rt.db, limit=limit)
    if as_json:
        cli.print_json([r.as_dict() for r in rows])
        return
    for r in rows:
        weight = f" {r.weight:.0%}" if r.label == core.CANARY and r.weight else ""
        note = f" — {r.note}" if r.note else ""
        typer.echo(
            f"{r.at:%Y-%m-%d %H:%M:%S}  {r.label:<10} {r.action:<16} "
            f"{r.previous_release_id or '-'} → {r.release_id or '-'}{weight}  by {r.actor}{note}"
        )


@release_app.command("try")
def try_(
    question: Annotated[list[str], typer.Argument(help="One or more questions.")],
    releases: Annotated[
        list[str] | None, typer.Option("--release", help="Release to try, repeatable.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The playground: each question through each release side by side, kept out of live
    traffic and monitoring (sessions marked ``playground:``)."""
    from llmops.releases import core, playground

    with cli.runtime() as rt:
        infos = [core.resolve_ref(rt.db, r) for r in (releases or ["production"])]
        rows = playground.run(rt.chat, question, infos, actor=cli.actor())
    if as_json:
        cli.print_json([[a.as_dict() for a in row] for row in rows])
        return
    for row in rows:
        typer.echo(f"Q: {row[0].question}")
        for a in row:
            ms = f"{a.latency_ms:,.0f} ms" if a.latency_ms is not None else "-"
            typer.echo(f"  [{a.release_id}] {a.status} · {ms} · trace {a.trace_id}")
            typer.echo("    " + a.answer.replace("\n", "\n    "))


# -- rollback rules ------------------------------------------------------------------------------
@rules_app.command("list")
def rules_list(as_json: JsonOpt = False) -> None:
    """The rules that roll a bad canary back."""
    from llmops.releases import rollback as rb

    with cli.runtime() as rt:
        rules = rb.list_rules(rt.db)
    if as_json:
        cli.print_json([r.as_dict() for r in rules])
        return
    if not rules:
        typer.echo("no rollback rules (a first canary adds the defaults)")
    for r in rules:
        state = "on " if r.enabled else "off"
        typer.echo(f"#{r.id:<4}{state} {r.name}: {r.describe()}")


@rules_app.command("add")
def rules_add(
    metric: Annotated[str, typer.Option(help="error_rate, latency_p95, thumbs_up_rate, …")],
    kind: Annotated[
        str, typer.Option(help="worse (than production) or limit (an absolute bound).")
    ] = "worse",
    threshold: Annotated[float, typer.Option(help="Rates as fractions: 0.05 = 5 points.")] = 0.0,
    p_value: Annotated[float, typer.Option("--p-value")] = 0.05,
    min_samples: Annotated[int, typer.Option("--min-samples")] = 20,
    window: Annotated[str, typer.Option(help="Trailing window: 30m, 1h.")] = "1h",
    name: Annotated[str, typer.Option()] = "",
    webhook: Annotated[str | None, typer.Option(help="Notify this URL on rollback.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a rule; the first that fires takes the canary out of traffic."""
    from llmops.monitoring.alerts import parse_window
    from llmops.releases import rollback as rb

    cli.finite(threshold, "--threshold")
    cli.finite(p_value, "--p-value")
    with cli.runtime() as rt:
        rule = rb.add_rule(
            rt.db, name=name, metric=metric, kind=kind, threshold=threshold, p_value=p_value,
            min_samples=min_samples, window_minutes=parse_window(window), webhook_url=webhook,
            actor=cli.actor(),
        )  # fmt: skip
    if as_json:
        cli.print_json(rule.as_dict())
    else:
        typer.echo(f"rule #{rule.id}: {rule.describe()}")


@rules_app.command("defaults")
def rules_defaults(as_json: JsonOpt = False) -> None:
    """Add each default rule that is missing (error rate and guard violations worse than
    production)."""
    from llmops.releases import rollback as rb

    with cli.runtime() as rt:
        added = rb.add_default_rules(rt.db, actor=cli.actor())
    if as_json:
        cli.print_json([r.as_dict() for r in added])
        return
    typer.echo(f"added {len(added)} default rule(s)")


def _set_enabled(rule_id: int, enabled: bool) -> None:
    from llmops.releases import rollback as rb

    with cli.runtime() as rt:
        rb.set_enabled(rt.db, rule_id, enabled, actor=cli.actor())
    typer.echo(f"rule #{rule_id} {'enabled' if enabled else 'disabled'}")


@rules_app.command("enable")
def rules_enable(rule_id: int) -> None:
    """Turn a rule on."""
    _set_enabled(rule_id, True)


@rules_app.command("disable")
def rules_disable(rule_id: int) -> None:
    """Turn a rule off (kept, with its history)."""
    _set_enabled(rule_id, False)


@rules_app.command("delete")
def rules_delete(rule_id: int) -> None:
    """Delete a rule."""
    from llmops.releases import rollback as rb

    with cli.runtime() as rt:
        rb.delete_rule(rt.db, rule_id, actor=cli.actor())
    typer.echo(f"rule #{rule_id} deleted")


@rules_app.command("events")
def rules_events(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20, as_json: JsonOpt = False
) -> None:
    """Automatic rollbacks, newest first: which rule, the values, the p-value."""
    from llmops.releases import rollback as rb

    with cli.runtime() as rt:
        rows = rb.events(rt.db, limit=limit)
    if as_json:
        cli.print_json([r.as_dict() for r in rows])
        return
    for r in rows:
        typer.echo(f"{r.at:%Y-%m-%d %H:%M:%S}  {r.release_id}  {r.message} (webhook {r.delivery})")
