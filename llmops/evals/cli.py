"""``llmops eval …``: runs, comparisons, the CI gate, datasets and online scoring.

Registered on the main command in ``llmops/cli.py``. ``--json`` prints one JSON document on
stdout; progress bars go to stderr, so ``--json`` output stays parseable. Bad arguments and
unknown ids print one line on stderr and exit 2; a failed gate exits 1.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from llmops import cliutil as cli

if TYPE_CHECKING:
    from llmops.evals.runner import EvalRunner
    from llmops.evals.runs import RunInfo
    from llmops.runtime import Runtime
    from llmops.types import JSONDict

eval_app = typer.Typer(
    help="Evaluation: run a release over a dataset, compare runs, gate CI.",
    no_args_is_help=True,
)
dataset_app = typer.Typer(help="Evaluation datasets.", no_args_is_help=True)
eval_app.add_typer(dataset_app, name="dataset")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


_print_json = cli.print_json
_runtime = cli.runtime


ReleaseOpt = Annotated[
    str, typer.Option("--release", "-r", help="Label, release id or release .json file.")
]
EvaluatorsOpt = Annotated[
    str | None,
    typer.Option("--evaluators", "-e", help="Comma-separated evaluators (default: the defaults)."),
]


def _names(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [n.strip() for n in raw.split(",") if n.strip()]


def _runner(rt: Runtime) -> EvalRunner:
    from llmops.evals.runner import EvalRunner

    return EvalRunner.from_runtime(rt)


def _dataset_arg(rt: Runtime, dataset: str) -> str:
    """A stored dataset's name, the shipped ``demo``, or a JSONL/CSV file (synced by name)."""
    from llmops.evals import datasets as ds

    path = Path(dataset)
    if dataset.endswith((".jsonl", ".ndjson", ".json", ".csv")) or path.is_file():
        cases = ds.read_cases(path)
        info, _ = ds.sync_from_file(
            rt.db, path.stem, cases, source=f"file:{path.name}", actor=cli.actor()
        )
        return info.name
    if dataset == ds.DEMO_NAME and ds.find_dataset(rt.db, dataset) is None:
        return ds.load_demo(rt.db, actor=cli.actor()).name
    return ds.get_dataset(rt.db, dataset).name


def _run_json(rt: Runtime, run: RunInfo) -> JSONDict:
    from llmops.evals.runs import list_results

    items: list[JSONDict] = []
    offset = 0
    while True:
        rows, total = list_results(rt.db, run.id, limit=500, offset=offset)
        items += [
            {"input": r.input, "output": r.output, "scores": r.scores, "errors": r.errors,
             "trace_id": r.trace_id}
            for r in rows
        ]  # fmt: skip
        offset += len(rows)
        if not rows or offset >= total:
            break
    return {"run_id": run.id, "metrics": run.scores(), "errors": run.errors(), "items": items}


def _summary(run: RunInfo) -> None:
    m = run.metrics
    typer.echo(
        f"run {run.id} {run.status}: {m.get('items', {}).get('done', 0)}/{run.total_items} items"
        f" · {run.dataset} v{run.dataset_version} · release {run.release_id}"
    )
    for name, s in (m.get("scores") or {}).items():
        failed = s.get("errors") or 0
        errors = f"  {failed} error(s)" if failed else ""
        if s["mean"] is None:
            typer.echo(f"  {name:<22} n/a ({s['not_applicable']} not applicable){errors}")
        else:
            typer.echo(
                f"  {name:<22} {s['mean']:.3f}  [{s['low']:.3f}, {s['high']:.3f}]  "
                f"n={s['n']}{errors}"
            )
        if failed:
            typer.echo(f"  error: {name} failed on {failed} item(s): {s['first_error']}", err=True)
    lat = m.get("latency_ms") or {}
    if lat.get("p50") is not None:
        typer.echo(f"  latency p50 {lat['p50']:.0f} ms · p95 {lat['p95']:.0f} ms")
    if run.error:
        typer.echo(f"  error: {run.error}", err=True)


def _execute(runner: EvalRunner, run_id: str) -> RunInfo:
    cancel = threading.Event()
    with cli.progress_bar(True, f"evaluating {run_id}") as progress:
        try:
            return runner.run(run_id, progress=progress, cancel=cancel)
        except KeyboardInterrupt:
            typer.echo(f"\ninterrupted; resume with: llmops eval resume {run_id}", err=True)
            raise


@eval_app.command("run")
def run_cmd(
    dataset: Annotated[str, typer.Argument(help="Dataset name, `demo`, or a JSONL/CSV file.")],
    release: ReleaseOpt = "production",
    evaluators: EvaluatorsOpt = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64)] = None,
    name: Annotated[str, typer.Option(help="A name for the run.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Run a release over a dataset with a progress bar; prints the scores."""
    with _runtime() as rt:
        runner = _runner(rt)
        created = runner.create(
            _dataset_arg(rt, dataset),
            release,
            evaluators=_names(evaluators),
            concurrency=concurrency,
            name=name,
            actor=cli.actor(),
        )
        run = _execute(runner, created.id)
        rt.tracer.flush()
        if as_json:
            _print_json(_run_json(rt, run))
        else:
            _summary(run)
    if run.status != "completed":
        raise typer.Exit(1)


@eval_app.command("resume")
def resume_cmd(
    run_id: Annotated[str, typer.Argument(help="An interrupted or cancelled run.")],
    as_json: JsonOpt = False,
) -> None:
    """Finish an interrupted run; items already scored are not run again."""
    with _runtime() as rt:
        run = _execute(_runner(rt), run_id)
        if as_json:
            _print_json(_run_json(rt, run))
        else:
            _summary(run)
    if run.status != "completed":
        raise typer.Exit(1)


@eval_app.command("cancel")
def cancel_cmd(run_id: Annotated[str, typer.Argument(help="A running run.")]) -> None:
    """Ask a running run to stop (its runner stops within a second)."""
    from llmops.evals.runs import cancel_run

    with _runtime() as rt:
        cancel_run(rt.db, run_id, actor=cli.actor())
    typer.echo(f"cancellation requested for {run_id}")


@eval_app.command("runs")
def runs_cmd(
    dataset: Annotated[str | None, typer.Option(help="Only runs of this dataset.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List evaluation runs, newest first."""
    from llmops.evals import datasets as ds
    from llmops.evals.runs import list_runs

    with _runtime() as rt:
        ds_id = ds.get_dataset(rt.db, dataset).id if dataset else None
        rows, _ = list_runs(rt.db, dataset_id=ds_id, limit=limit)
    if as_json:
        _print_json([r.as_dict() for r in rows])
        return
    for r in rows:
        scores = " ".join(f"{k}={v:.2f}" for k, v in list(r.scores().items())[:4] if v is not None)
        typer.echo(
            f"{r.id}  {r.created_at[:16]}  {'stalled' if r.stalled else r.status:<10} "
            f"{r.dataset} v{r.dataset_version}"
            f"  {r.release_id}  {scores}"
        )


@eval_app.command("show")
def show_cmd(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    as_json: JsonOpt = False,
) -> None:
    """A run's aggregate scores (with 95% intervals) and, with --json, every item."""
    from llmops.evals.runs import get_run

    with _runtime() as rt:
        run = get_run(rt.db, run_id)
        if as_json:
            _print_json({**run.as_dict(), **_run_json(rt, run)})
            return
        _summary(run)


@eval_app.command("compare")
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="Baseline run.")],
    run_b: Annotated[str, typer.Argument(help="Candidate run.")],
    metric: Annotated[str | None, typer.Option(help="Sort items by this evaluator.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Regressed items to list.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Paired comparison: deltas with 95% CI and p-values, wins/losses, worst items."""
    from llmops.evals.compare import compare_runs

    with _runtime() as rt:
        cmp = compare_runs(rt.db, run_a, run_b, metric=metric)
    if as_json:
        _print_json(cmp.as_dict())
        return
    typer.echo(f"{cmp.run_b.id} vs {cmp.run_a.id}: {len(cmp.items)} paired items")
    for note in cmp.notes:
        typer.echo(f"  note: {note}")
    typer.echo(f"  {'metric':<22}{'a':>7}{'b':>7}{'delta':>8}  95% CI           p     W/L/T")
    for m in cmp.metrics.values():
        st = m.stats
        typer.echo(
            f"  {m.name:<22}{st.mean_a:>7.3f}{st.mean_b:>7.3f}{st.delta:>+8.3f}  "
            f"[{st.ci_low:+.3f}, {st.ci_high:+.3f}] {st.p_value or 1.0:.3f} "
            f"{st.wins}/{st.losses}/{st.ties}{' *' if m.significant else ''}"
        )
    for item in cmp.regressions()[:limit]:
        typer.echo(f"  regressed {item.delta:+.3f}: {item.input[:70]}")
        typer.echo(f"    traces {item.trace_a} → {item.trace_b}")


@eval_app.command("gate")
def gate_cmd(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name or file.")],
    release: Annotated[str, typer.Option("--release", "-r", help="Candidate release.")],
    baseline: Annotated[
        str, typer.Option(help="Baseline label or release ('none' to skip).")
    ] = "production",
    min_: Annotated[
        list[str] | None,
        typer.Option("--min", help="METRIC=VALUE the candidate must reach (repeatable)."),
    ] = None,
    max_regression: Annotated[
        float, typer.Option(help="Largest allowed drop of any quality metric vs the baseline.")
    ] = 0.02,
    evaluators: EvaluatorsOpt = None,
    require_significance: Annotated[
        bool, typer.Option(help="Fail a drop only when a paired test gives p < 0.05.")
    ] = False,
    fresh_baseline: Annotated[
        bool, typer.Option(help="Always re-run the baseline instead of reusing a run.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a candidate release; exit 1 when a threshold or regression check fails."""
    from llmops.evals.gate import parse_mins, run_gate

    mins = parse_mins(min_)
    with _runtime() as rt:
        runner = _runner(rt)
        with cli.progress_bar(True, "gate") as progress:
            report = run_gate(
                runner,
                _dataset_arg(rt, dataset),
                release,
                baseline=None if baseline.lower() == "none" else baseline,
                mins=mins,
                max_regression=max_regression,
                evaluators=_names(evaluators),
                require_significance=require_significance,
                reuse_baseline=not fresh_baseline,
                progress=progress,
            )
        rt.tracer.flush()
    if as_json:
        _print_json(report.as_dict())
    else:
        typer.echo(report.render())
    if not report.passed:
        raise typer.Exit(1)


@eval_app.command("evaluators")
def evaluators_cmd(as_json: JsonOpt = False) -> None:
    """Every registered evaluator, and why a disabled one cannot run here."""
    from llmops.config import get_settings
    from llmops.evals.evaluators import EvalContext, all_evaluators
    from llmops.evals.judge import Judge

    # the embedding model is always installed; do not load it just to list evaluators
    ctx = EvalContext(embeddings=cast(Any, object()), judge=Judge.from_settings(get_settings()))
    rows = [
        {"name": e.name, "kind": e.kind, "default": e.default, "online": e.online,
         "disabled": e.unavailable(ctx), "description": e.description}
        for e in all_evaluators()
    ]  # fmt: skip
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        flag = "default" if r["default"] else ""
        typer.echo(f"{r['name']:<22}{r['kind']:<12}{flag:<8} {r['description']}")
        if r["disabled"]:
            typer.echo(f"{'':<22}disabled: {r['disabled']}")


@eval_app.command("online")
def online_cmd(
    once: Annotated[bool, typer.Option(help="One pass, then exit (for cron).")] = False,
    rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Sample rate (default: setting).")
    ] = None,
    settle: Annotated[
        float,
        typer.Option(
            min=0.0, max=31_536_000, help="Only traces that started this many seconds ago."
        ),
    ] = 120.0,
) -> None:
    """Score a sample of live traffic with the cheap evaluators (a background worker)."""
    import time

    from llmops.evals.online import OnlineEvaluator

    cli.finite(rate, "--rate")
    cli.finite(settle, "--settle")
    with _runtime() as rt:
        worker = OnlineEvaluator.from_settings(
            rt.settings,
            rt.db,
            rt.embeddings,
            **({"rate": rate} if rate is not None else {}),
            settle_s=settle,
        )
        if worker.rate <= 0:
            from llmops.errors import InvalidInputError

            raise InvalidInputError(
                "Online evaluation is off.", hint="set LLMOPS_ONLINE_EVAL_RATE or pass --rate"
            )
        while True:
            n = worker.run_once()
            if n:
                typer.echo(f"scored {n} trace(s)", err=True)
            if once:
                typer.echo(f"scored {worker.scored} trace(s) in total")
                return
            time.sleep(worker.interval_s)


# -- datasets ----------------------------------------------------------------------------------
@dataset_app.command("list")
def dataset_list(as_json: JsonOpt = False) -> None:
    """Datasets with their current version and item count."""
    from llmops.evals import datasets as ds

    with _runtime() as rt:
        rows = ds.list_datasets(rt.db, limit=500)
    if as_json:
        _print_json([r.as_dict() for r in rows])
        return
    for r in rows:
        typer.echo(f"{r.name:<30} v{r.version:<4} {r.items:>6} items  {r.source or ''}")


@dataset_app.command("import")
def dataset_import(
    path: Annotated[Path, typer.Argument(help="A .jsonl or .csv file.")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the file name).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a file's cases as one new version (all or nothing; bad lines are listed). Cases
    the dataset already holds are not added again: importing a file twice adds it once."""
    from llmops.evals import datasets as ds

    target = ds.check_name(path.stem if name is None else name)
    cases = ds.read_cases(path)
    with _runtime() as rt:
        info, added = ds.import_cases(rt.db, target, cases, actor=cli.actor())
    present = len(cases) - added
    if as_json:
        _print_json({**info.as_dict(), "added": added, "already_present": present})
    else:
        typer.echo(
            f"{info.name} v{info.version}: added {added}"
            + (f", {present} already in the dataset" if present else "")
            + f", {info.items} items"
        )


@dataset_app.command("export")
def dataset_export(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    version: Annotated[int | None, typer.Option(min=0, help="Default: current.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Default: stdout.")] = None,
) -> None:
    """Write a dataset version in the import format."""
    from llmops.evals import datasets as ds

    with _runtime() as rt:
        text = ds.export_cases(rt.db, name, version=version, fmt=fmt, actor=cli.actor())
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


@dataset_app.command("from-traces")
def dataset_from_traces(
    name: Annotated[str, typer.Argument(help="Dataset to add to (created if missing).")],
    feedback: Annotated[str, typer.Option(help="down, up or any")] = "down",
    guard_events: Annotated[bool, typer.Option(help="Only traces with guard events.")] = False,
    days: Annotated[float | None, typer.Option(min=0.0, help="Only the last N days.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Turn chat traces (thumbs-down by default) into cases; skips ones already added."""
    from llmops.errors import InvalidInputError
    from llmops.evals import mining

    if feedback not in ("down", "up", "any"):
        raise InvalidInputError(f"--feedback must be down, up or any, not {feedback!r}.")
    q = mining.TraceQuery(
        feedback=None if feedback == "any" else feedback,
        guard_events=guard_events,
        since=cli.days_ago(days) if days else None,
    )
    with _runtime() as rt:
        rows, _ = mining.candidate_traces(rt.db, q, limit=limit)
        added = (
            mining.add_from_traces(rt.db, name, [r.id for r in rows], actor=cli.actor())
            if rows
            else 0
        )
    if as_json:
        _print_json({"dataset": name, "matched": len(rows), "added": added})
    else:
        typer.echo(f"{name}: {len(rows)} matching trace(s), {added} added")


@dataset_app.command("demo")
def dataset_demo(as_json: JsonOpt = False) -> None:
    """Load (or update) the shipped demo dataset, English and Spanish."""
    from llmops.evals import datasets as ds

    with _runtime() as rt:
        info = ds.load_demo(rt.db, actor=cli.actor())
    if as_json:
        _print_json(info.as_dict())
    else:
        typer.echo(f"{info.name} v{info.version}: {info.items} items")
