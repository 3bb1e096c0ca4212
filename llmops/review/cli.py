"""``llmops review``: create review queues, take and label items, follow progress, export
what reviewers said as evaluation cases or fine-tuning data, and measure agreement.

Registered on the main ``llmops`` app as one sub-app. The shared helpers (one JSON document
with ``--json``, the runtime) come from ``llmops.cliutil``; the root command there turns every error
into one line on stderr (exit code 2 for bad input).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from llmops import cliutil as cli
from llmops.errors import InvalidInputError, NotFoundError

review_app = typer.Typer(help="Human review queues.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
QueueArg = Annotated[str, typer.Argument(help="The queue's name or id.")]
ReviewerOpt = Annotated[str, typer.Option(help="Who reviews (recorded with the verdict).")]

MAX_ID = 2**63 - 1  # the largest integer key the store can hold
FEEDBACK = ("any", "down", "up", "none")
_WINDOW = re.compile(r"^\s*\d{1,12}\s*(m|min|h|d)?\s*$", re.I)


def _queue(ref: str) -> str:
    """A queue name or id; an id larger than any key is reported as missing, not sent to SQL."""
    ref = ref.strip()
    if not ref:
        raise InvalidInputError("Name a review queue: its name or id (see 'llmops review queues').")
    if ref.isdigit() and not 1 <= int(ref) <= MAX_ID:
        raise NotFoundError(f"Review queue {ref!r} does not exist.")
    return ref


def _reviewer(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("--reviewer needs a name of 1 to 200 characters.")
    return name


def _since(text: str) -> datetime:
    """A trailing window (``7d``, ``12h``) or an ISO date or time → its start (UTC)."""
    from llmops.monitoring.alerts import parse_window

    if _WINDOW.match(text):
        try:
            return datetime.now(UTC) - timedelta(minutes=parse_window(text))
        except InvalidInputError as exc:
            raise InvalidInputError(f"--since: {exc}") from None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"--since is a window such as 7d or 12h, or an ISO date such as 2026-11-30, "
            f"not {text!r}."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- queues ------------------------------------------------------------------------------------
@review_app.command("queues")
def queues_(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Every review queue with how far it got."""
    from llmops.review import queues

    with cli.runtime() as rt:
        rows = queues.list_queues(rt.db, limit=limit)
    if as_json:
        cli.print_json([q.as_dict() for q in rows])
        return
    if not rows:
        typer.echo("no review queues")
    for q in rows:
        flt = ", ".join(f"{k}={v}" for k, v in q.filter.items() if v not in (None, False, "any"))
        typer.echo(
            f"#{q.id:<4} {q.name:<30} {q.done:>5}/{q.items:<5} done  {q.status:<8} "
            f"{q.reviewers_per_item} per item  {flt or 'all live traces'}"
        )


@review_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The queue's name.")],
    feedback: Annotated[str, typer.Option(help="down, up, none or any.")] = "any",
    release: Annotated[
        str | None, typer.Option(help="Only traces of this release (id, prefix or label).")
    ] = None,
    guard_events: Annotated[
        bool, typer.Option("--guard-events", help="Only traces with a guard violation.")
    ] = False,
    max_score: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Only traces whose --score is below this."),
    ] = None,
    score: Annotated[
        str, typer.Option(help="The evaluator score --max-score applies to.")
    ] = "groundedness",
    since: Annotated[
        str | None, typer.Option(help="Only traces from: a window (7d, 12h) or an ISO date.")
    ] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, help="A random sample of N of the matching traces.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random sample.")] = 0,
    reviewers: Annotated[
        int, typer.Option(min=1, max=10, help="Verdicts each item wants (2+ measures agreement).")
    ] = 1,
    lock_minutes: Annotated[
        int, typer.Option(min=1, max=24 * 60, help="How long a reviewer holds an item.")
    ] = 15,
    description: Annotated[str, typer.Option(help="What the queue is for.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a queue, filled now with the live traces the filter selects."""
    from llmops.releases.core import resolve_ref
    from llmops.review import queues

    if feedback.strip().lower() not in FEEDBACK:
        raise InvalidInputError(f"--feedback is one of {', '.join(FEEDBACK)}, not {feedback!r}.")
    with cli.runtime() as rt:
        flt = queues.parse_filter(
            {
                "feedback": feedback.strip().lower(),
                "guard_events": guard_events,
                "score_name": score if max_score is not None else None,
                "score_below": cli.finite(max_score, "--max-score"),
                "release_id": resolve_ref(rt.db, release).id if release is not None else None,
                "since": _since(since) if since is not None else None,
                "sample": sample,
                "seed": seed,
            }
        )
        q = queues.create_queue(
            rt.db, name, flt, description=description, reviewers_per_item=reviewers,
            lock_minutes=lock_minutes, actor=cli.actor(),
        )  # fmt: skip
    if as_json:
        cli.print_json(q.as_dict())
    else:
        typer.echo(f"review queue #{q.id} {q.name!r}: {q.items:,} items")


# -- reviewing ---------------------------------------------------------------------------------
def _show_task(t: Any) -> None:
    typer.echo(f"item {t.item_id} · queue {t.queue} · trace {t.trace_id} · release {t.release_id}")
    if t.locked_until:
        typer.echo(f"locked for you until {t.locked_until:%Y-%m-%d %H:%M} UTC")
    typer.echo("question:")
    typer.echo(f"  {t.question}")
    typer.echo("answer:")
    typer.echo(f"  {t.answer}")
    if t.sources:
        typer.echo("sources:")
    for i, src in enumerate(t.sources, start=1):
        score = src.get("score")
        shown = f" (score {score:.2f})" if isinstance(score, int | float) else ""
        snippet = " ".join(str(src.get("snippet", "")).split())[:160]
        typer.echo(f"  [{i}] {src.get('source', '')}{shown}: {snippet}")


@review_app.command("next")
def next_(
    queue: QueueArg,
    reviewer: ReviewerOpt,
    as_json: JsonOpt = False,
) -> None:
    """Take the next item (locked for you) and show the conversation and its sources."""
    from llmops.review import queues

    with cli.runtime() as rt:
        t = queues.next_item(rt.db, _queue(queue), _reviewer(reviewer))
    if as_json:
        cli.print_json(t.as_dict() if t is not None else None)
    elif t is None:
        typer.echo(f"nothing to review in queue {queue!r} for {reviewer.strip()}")
    else:
        _show_task(t)
        typer.echo(
            f"label it: llmops review label {t.item_id} --reviewer {reviewer.strip()} "
            f"--verdict correct|partly|wrong"
        )


@review_app.command("label")
def label(
    item_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The item's id.")],
    reviewer: ReviewerOpt,
    verdict: Annotated[str, typer.Option(help="correct, partly or wrong.")],
    category: Annotated[
        list[str] | None, typer.Option(help="What went wrong (repeat for several).")
    ] = None,
    correction: Annotated[str | None, typer.Option(help="The answer it should have given.")] = None,
    note: Annotated[str | None, typer.Option(help="A note for other reviewers.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record your verdict on an item (once per item) and release its lock."""
    from llmops.review import queues

    with cli.runtime() as rt:
        t = queues.label(
            rt.db, item_id, _reviewer(reviewer), verdict.strip().lower(),
            categories=category, corrected=correction, note=note,
        )  # fmt: skip
    if as_json:
        cli.print_json(t.as_dict())
    else:
        typer.echo(f"item {t.item_id} labelled {verdict.strip().lower()}: {t.status}")


@review_app.command("progress")
def progress(queue: QueueArg, as_json: JsonOpt = False) -> None:
    """How much of a queue is done, held and pending; verdicts by reviewer and kind."""
    from llmops.review import queues

    with cli.runtime() as rt:
        p = queues.progress(rt.db, _queue(queue))
    if as_json:
        cli.print_json(p.as_dict())
        return
    typer.echo(f"{p.done:,}/{p.total:,} done, {p.pending:,} pending ({p.locked:,} held now)")
    for who, n in sorted(p.by_reviewer.items(), key=lambda kv: -kv[1]):
        typer.echo(f"  {who:<30} {n:>6} verdicts")
    if p.verdicts:
        typer.echo("  " + ", ".join(f"{k} {v}" for k, v in sorted(p.verdicts.items())))


# -- using the verdicts ------------------------------------------------------------------------
def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as JSON lines: a temp file beside ``path``, then renamed over it, so a
    failure never leaves a half-written file."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@review_app.command("export")
def export(
    queue: QueueArg,
    dataset: Annotated[
        str | None, typer.Option(help="Add the reviewed items as cases of this dataset.")
    ] = None,
    finetune: Annotated[
        Path | None,
        typer.Option(help="Write chat fine-tuning examples (OpenAI JSONL) to this file."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reviewed items as evaluation cases (--dataset) and/or fine-tuning data (--finetune)."""
    from llmops.review import queues

    if dataset is None and finetune is None:
        raise InvalidInputError("Say where to export: --dataset NAME and/or --finetune FILE.jsonl.")
    out: dict[str, Any] = {}
    with cli.runtime() as rt:
        ref = _queue(queue)
        if finetune is not None:
            examples = queues.finetune_examples(rt.db, ref)
            if not examples:
                raise InvalidInputError(
                    "No reviewed item of this queue has a corrected or correct answer; "
                    "nothing to fine-tune on."
                )
            _write_jsonl(finetune, examples)
            from llmops.governance.audit import record

            record(rt.db, cli.actor(), "review.export", str(ref), format="finetune-jsonl",
                   examples=len(examples), path=str(finetune))  # fmt: skip
            out.update(finetune=str(finetune), examples=len(examples))
        if dataset is not None:
            out.update(
                dataset=dataset, cases=queues.to_dataset(rt.db, ref, dataset, actor=cli.actor())
            )
    if as_json:
        cli.print_json(out)
        return
    if "examples" in out:
        typer.echo(f"wrote {out['examples']:,} fine-tuning examples to {finetune}")
    if "cases" in out:
        typer.echo(f"added {out['cases']:,} cases to dataset {dataset!r}")


@review_app.command("agreement")
def agreement_(
    queue: QueueArg,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="An evaluator score at or above it passes.")
    ] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """How much reviewers agree (Cohen's and Fleiss' kappa), and each evaluator with them."""
    from llmops.review import agreement

    cli.finite(threshold, "--threshold")
    with cli.runtime() as rt:
        ref = _queue(queue)
        people = agreement.reviewers(rt.db, ref)
        machines = agreement.evaluators(rt.db, ref, threshold=threshold)
    if as_json:
        cli.print_json(
            {"reviewers": people.as_dict(), "evaluators": [e.as_dict() for e in machines]}
        )
        return
    fleiss = "-" if people.fleiss_kappa is None else f"{people.fleiss_kappa:.2f}"
    typer.echo(
        f"reviewers: {people.items:,} items with 2+ verdicts; Fleiss' kappa {fleiss} "
        f"over {people.fleiss_items:,} items"
    )
    for p in people.pairs:
        kappa = "-" if p.kappa is None else f"{p.kappa:.2f}"
        typer.echo(f"  {p.a} vs {p.b}: {p.items} items, agree {p.agreement:.0%}, kappa {kappa}")
    if not machines:
        typer.echo("evaluators: no evaluator scored the reviewed traces")
    for e in machines:
        kappa = "-" if e.kappa is None else f"{e.kappa:.2f}"
        typer.echo(
            f"  {e.evaluator:<24} {e.items:>5} items  accuracy {e.accuracy:.0%}  kappa {kappa}"
        )
