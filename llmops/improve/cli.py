"""``llmops improve``: the guided improvement loop from the command line.

    evidence → dataset → candidate → evaluate (gate) → canary → promote | abandon

Each verb is one step of ``llmops.improve.loop`` and leaves a row in the improvement's
history (who, when, what). Shared helpers come from ``llmops.cliutil``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from llmops import cliutil as cli
from llmops.errors import InvalidInputError

improve_app = typer.Typer(
    help="Improvements: evidence → dataset → candidate → gate → canary → promote.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _show(rec: Any, as_json: bool) -> None:
    if as_json:
        cli.print_json(rec.as_dict())
        return
    gate = {True: "passed", False: "failed", None: "not run"}[rec.gate_passed]
    typer.echo(f"#{rec.id} {rec.title} [{rec.status}]")
    ev = rec.evidence
    typer.echo(f"  evidence: {ev.get('kind')} {ev.get('ref') or ''} {ev.get('summary') or ''}")
    typer.echo(f"  dataset: {rec.dataset or '-'}"
               + (f" (regression: {rec.regression_dataset})" if rec.regression_dataset else ""))  # fmt: skip
    typer.echo(
        f"  candidate: {rec.candidate_release_id or '-'} vs {rec.baseline_release_id or '-'}"
    )
    typer.echo(f"  gate: {gate}" + (" · promoted with an override" if rec.overridden else ""))
    if rec.reason:
        typer.echo(f"  reason: {rec.reason}")


def _evidence(text: str) -> tuple[str, str | None]:
    """``gap:12`` → ("gap", "12"); ``note`` → ("note", None)."""
    from llmops.improve.loop import EVIDENCE_KINDS

    kind, _, ref = text.partition(":")
    if kind not in EVIDENCE_KINDS:
        raise InvalidInputError(
            f"--from is KIND[:REF] with KIND one of {', '.join(EVIDENCE_KINDS)}, not {text!r}."
        )
    return kind, ref.strip() or None


@improve_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Improvements, newest first, with where each stands."""
    from llmops.improve import loop

    with cli.runtime() as rt:
        rows = loop.list_improvements(rt.db, status=status, limit=limit)
    if as_json:
        cli.print_json([r.as_dict() for r in rows])
        return
    for r in rows:
        typer.echo(f"#{r.id:<4} {r.status:<10} {r.updated_at:%Y-%m-%d %H:%M}  {r.title}")


@improve_app.command("show")
def show(improvement_id: int, as_json: JsonOpt = False) -> None:
    """One improvement and its history."""
    from llmops.improve import loop

    with cli.runtime() as rt:
        rec = loop.get(rt.db, improvement_id)
        steps = loop.events(rt.db, improvement_id)
    if as_json:
        cli.print_json({**rec.as_dict(), "events": [s.as_dict() for s in steps]})
        return
    _show(rec, False)
    for s in steps:
        typer.echo(f"  {s.at:%Y-%m-%d %H:%M:%S}  {s.step:<10} by {s.actor}  {s.details or ''}")


@improve_app.command("start")
def start(
    title: Annotated[str, typer.Option(help="What is wrong, in a line.")],
    source: Annotated[
        str,
        typer.Option(
            "--from", help="Evidence: gap:ID, thumbs_down, review:QUEUE, eval_run:ID, note."
        ),
    ] = "note",
    summary: Annotated[str, typer.Option(help="Where it shows, what users saw.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Open an improvement from a piece of evidence."""
    from llmops.improve import loop

    kind, ref = _evidence(source)
    with cli.runtime() as rt:
        rec = loop.start(rt.db, title, kind=kind, ref=ref, summary=summary, actor=cli.actor())
    _show(rec, as_json)


@improve_app.command("dataset")
def dataset(
    improvement_id: int,
    name: Annotated[str, typer.Argument(help="The dataset that shows the problem.")],
    regression: Annotated[
        str | None, typer.Option(help="A dataset that must not get worse.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Choose the dataset the candidate is judged on."""
    from llmops.improve import loop

    with cli.runtime() as rt:
        rec = loop.set_dataset(rt.db, improvement_id, name, regression_dataset=regression,
                               actor=cli.actor())  # fmt: skip
    _show(rec, as_json)


@improve_app.command("candidate")
def candidate(
    improvement_id: int,
    ref: Annotated[str, typer.Argument(help="The release meant to fix it.")],
    as_json: JsonOpt = False,
) -> None:
    """Choose the candidate release (the baseline is production as it is now)."""
    from llmops.improve import loop

    with cli.runtime() as rt:
        rec = loop.set_candidate(rt.db, improvement_id, ref, actor=cli.actor())
    _show(rec, as_json)


@improve_app.command("evaluate")
def evaluate(
    improvement_id: int,
    max_regression: Annotated[
        float, typer.Option("--max-regression", help="Largest allowed drop of any score.")
    ] = 0.02,
    as_json: JsonOpt = False,
) -> None:
    """Run the gate: the candidate against the baseline on the dataset(s); exit 1 if it fails."""
    from llmops.evals.runner import EvalRunner
    from llmops.improve import loop

    cli.finite(max_regression, "--max-regression")
    with cli.runtime() as rt:
        rec = loop.evaluate(EvalRunner.from_runtime(rt), improvement_id,
                            max_regression=max_regression, actor=cli.actor())  # fmt: skip
    _show(rec, as_json)
    if rec.gate_passed is not True:
        raise typer.Exit(1)


@improve_app.command("canary")
def canary(
    improvement_id: int,
    weight: Annotated[float, typer.Option(help="Share of sessions, 0 < w ≤ 0.5.")] = 0.1,
    as_json: JsonOpt = False,
) -> None:
    """Serve the candidate to a sticky share of sessions (its gate must have passed)."""
    from llmops.improve import loop

    cli.finite(weight, "--weight")
    with cli.runtime() as rt:
        rec = loop.start_canary(rt.db, improvement_id, weight, actor=cli.actor())
    _show(rec, as_json)


@improve_app.command("promote")
def promote(
    improvement_id: int,
    override: Annotated[
        bool, typer.Option("--override", help="Promote although the gate has not passed.")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why (required with --override).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Make the candidate production; refused while its gate has not passed, unless
    --override with a --reason (audited)."""
    from llmops.improve import loop

    with cli.runtime() as rt:
        rec = loop.promote(
            rt.db, improvement_id, actor=cli.actor(), override=override, reason=reason
        )
    _show(rec, as_json)


@improve_app.command("abandon")
def abandon(
    improvement_id: int,
    reason: Annotated[str, typer.Option(help="Why it is dropped.")],
    as_json: JsonOpt = False,
) -> None:
    """Close an improvement without promoting it."""
    from llmops.improve import loop

    with cli.runtime() as rt:
        rec = loop.abandon(rt.db, improvement_id, reason, actor=cli.actor())
    _show(rec, as_json)
