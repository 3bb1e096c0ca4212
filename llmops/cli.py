"""The ``llmops`` command: a thin shell over the library, for people, CI jobs and cron.

``--json`` prints exactly one JSON document on stdout. Errors the user can fix print one line
on stderr and exit with code 2.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from llmops.errors import InvalidInputError, LLMOpsError, UserFacingError
from llmops.evals.cli import eval_app
from llmops.monitoring.cli import monitor_app

app = typer.Typer(
    help="llmops: offline RAG chat with a built-in LLMOps console.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
traces_app = typer.Typer(help="Read traces from the store.", no_args_is_help=True)
kb_app = typer.Typer(help="Manage the knowledge base.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
admin_app = typer.Typer(help="Console administration.", no_args_is_help=True)
demo_app = typer.Typer(help="Synthetic data for demos and benchmarks.", no_args_is_help=True)
guard_app = typer.Typer(
    help="Guardrails: check a text, evaluate on labelled cases.", no_args_is_help=True
)
app.add_typer(traces_app, name="traces")
app.add_typer(kb_app, name="kb")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(demo_app, name="demo")
app.add_typer(guard_app, name="guard")
app.add_typer(eval_app, name="eval")
app.add_typer(monitor_app, name="monitor")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
T = TypeVar("T")


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _runtime(migrate: bool = True) -> Iterator[Any]:
    from llmops.runtime import Runtime

    rt = Runtime(migrate=migrate)
    try:
        yield rt
    finally:
        rt.close()


def _guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except UserFacingError as exc:
        _fail(str(exc))
    except LLMOpsError as exc:
        _fail(str(exc), code=1)
    raise AssertionError("unreachable")


@app.command()
def chat(
    message: Annotated[str, typer.Argument(help="The question to ask.")],
    session: Annotated[str | None, typer.Option(help="Session id (sticky release).")] = None,
    user: Annotated[str | None, typer.Option(help="User id recorded on the trace.")] = None,
    release: Annotated[str | None, typer.Option(help="Serve with this release id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the assistant one question; the answer streams unless --json."""

    def go() -> None:
        with _runtime() as rt:
            stream = rt.chat.respond(message, session_id=session, user_id=user, release_id=release)
            if as_json:
                turn = stream.collect()
                _print_json(turn.as_dict())
                return
            for chunk in stream:
                typer.echo(chunk, nl=False)
            typer.echo()
            turn = stream.turn
            assert turn is not None
            for c in turn.citations:
                typer.echo(f"  [{c.n}] {c.source} (score {c.score:.2f})")
            typer.echo(f"trace {turn.trace_id} · release {turn.release_name} ({turn.release})")

    _guarded(go)


@traces_app.command("list")
def traces_list(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List recent traces."""
    from llmops.store.queries import list_traces

    def go() -> None:
        with _runtime() as rt:
            rows = list_traces(rt.db, limit=limit, offset=offset)
        if as_json:
            _print_json([r.as_dict() for r in rows])
            return
        for r in rows:
            text = (r.input or "").replace("\n", " ")[:60]
            latency = f"{r.latency_ms:.0f}ms" if r.latency_ms is not None else "-"
            typer.echo(
                f"{r.id}  {r.started_at:%Y-%m-%d %H:%M:%S}  {r.status:<8} {latency:>7}  {text}"
            )

    _guarded(go)


@traces_app.command("show")
def traces_show(
    trace_id: Annotated[str, typer.Argument(help="The trace id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one trace with its span tree and feedback."""
    from llmops.store.queries import get_trace

    def go() -> None:
        with _runtime() as rt:
            detail = get_trace(rt.db, trace_id)
        if as_json:
            _print_json(detail.as_dict())
            return
        t = detail.trace
        typer.echo(
            f"trace {t['id']}  {t['status']}  {t['latency_ms']} ms  release {t['release_id']}"
        )
        children: dict[str | None, list[dict[str, Any]]] = {}
        for s in detail.spans:
            children.setdefault(s["parent_id"], []).append(s)
        ids = {s["id"] for s in detail.spans}

        def show(span: dict[str, Any], depth: int) -> None:
            err = f"  ! {span['error']}" if span["error"] else ""
            typer.echo(
                f"{'  ' * depth}- {span['name']} [{span['kind']}] {span['duration_ms']} ms "
                f"{span['status']}{err}"
            )
            for child in children.get(span["id"], []):
                show(child, depth + 1)

        for root in [s for s in detail.spans if s["parent_id"] not in ids]:
            show(root, 1)
        for fb in detail.feedback:
            typer.echo(f"feedback: {fb['score']} {fb['comment'] or ''}")

    _guarded(go)


@app.command()
def feedback(
    trace_id: Annotated[str, typer.Argument(help="The trace the feedback is about.")],
    thumb: Annotated[str, typer.Argument(help="up or down")],
    comment: Annotated[str | None, typer.Option(help="Optional comment.")] = None,
    user: Annotated[str | None, typer.Option(help="Who gives the feedback.")] = None,
) -> None:
    """Record thumbs up/down on a trace."""
    from llmops import feedback as fb

    def go() -> None:
        score = fb.parse_thumb(thumb)
        with _runtime() as rt:
            fid = fb.record(rt.db, trace_id, score, comment=comment, user_id=user, source="cli")
        typer.echo(f"feedback {fid} recorded on trace {trace_id}")

    _guarded(go)


@kb_app.command("ingest")
def kb_ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders; default: the shipped KB.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add or update knowledge-base sources (unchanged files are skipped by hash)."""

    def go() -> None:
        with _runtime() as rt:
            report = rt.kb.ingest(paths or None)
        if as_json:
            _print_json(report.as_dict())
        else:
            typer.echo(
                f"added {len(report.added)}, updated {len(report.updated)}, "
                f"unchanged {len(report.unchanged)}, skipped {len(report.skipped)} "
                f"({report.chunks} chunks written)"
            )
        for source, reason in report.skipped:
            typer.echo(f"skipped {source}: {reason}", err=True)

    _guarded(go)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations and create the default release if there is none."""
    from llmops.runtime import bootstrap
    from llmops.store.db import Database, describe
    from llmops.store.migrate import current_revision

    def go() -> None:
        from llmops.config import get_settings

        settings = get_settings()
        settings.ensure_home()
        db = Database(settings.db_url, busy_timeout_ms=settings.db_busy_timeout_ms)
        try:
            release = bootstrap(db)
            typer.echo(
                f"store {describe(db.url)} at revision {current_revision(db)}; "
                f"production release {release.id}"
            )
        finally:
            db.dispose()

    _guarded(go)


@admin_app.command("set-password")
def admin_set_password(
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    secrets: Annotated[
        Path | None, typer.Option(help="secrets.toml to write; default .streamlit/secrets.toml")
    ] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Only print the hash (for the environment).")
    ] = False,
) -> None:
    """Set the console's admin password: stores only a salted argon2 hash."""
    from llmops import auth
    from llmops.config import get_settings

    def go() -> None:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("New admin password", hide_input=True, confirmation_prompt=True)
        hashed = auth.hash_password(password)
        if print_only:
            typer.echo(f"{auth.HASH_KEY}={hashed}")
            return
        path = secrets or get_settings().secrets_path
        auth.write_secret_hash(path, hashed)
        with _runtime() as rt:
            from llmops.releases import audit

            audit(rt.db, "cli", "admin.set_password", str(path))
        typer.echo(f"admin password hash written to {path}; restart the app to use it")

    _guarded(go)


@demo_app.command("seed")
def demo_seed(
    traces: Annotated[int, typer.Option(min=1, max=10_000_000, help="How many traces.")] = 1000,
    days: Annotated[
        float, typer.Option(min=0.01, max=3650, help="Spread over this many days.")
    ] = 7,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
    as_json: JsonOpt = False,
) -> None:
    """Write synthetic history (releases, errors, latency spikes, feedback, guard events)
    through the span writer, so it is priced and rolled up like live traffic."""
    from llmops.demo import seed as run_seed

    def go() -> None:
        with _runtime() as rt:
            report = run_seed(rt.db, traces=traces, days=days, seed=seed)
        if as_json:
            _print_json(report.__dict__)
        else:
            typer.echo(
                f"seeded {report.traces:,} traces, {report.spans:,} spans, "
                f"{report.feedback:,} feedback, {report.guard_events:,} guard events "
                f"in {report.seconds:.1f}s"
            )

    _guarded(go)


@guard_app.command("check")
def guard_check(
    text: Annotated[str, typer.Argument(help="The text to check.")],
    direction: Annotated[str, typer.Option(help="input or output")] = "input",
    profile: Annotated[str, typer.Option(help="Guard profile.")] = "default",
    as_json: JsonOpt = False,
) -> None:
    """Run a guard profile on a text: violations, actions and the fixed text."""
    from llmops.guards.profiles import get_profile
    from llmops.guards.runner import GuardRunner

    def go() -> None:
        if direction not in ("input", "output"):
            raise InvalidInputError(f"--direction must be input or output, not {direction!r}.")
        prof = get_profile(profile)
        fixed, failures = GuardRunner(profile).run(text, direction, prof, {})  # type: ignore[arg-type]
        actions = {"block": "blocked", "fix": "fixed", "flag": "flagged"}
        result: dict[str, Any] = {
            "passed": not failures,
            "blocked": any(r.action == "block" for r, _, _ in failures),
            "text": fixed,
            "violations": [
                {"validator": r.validator, "direction": direction,
                 "action": actions[r.action], "message": m}
                for r, m, _ in failures
            ],
        }  # fmt: skip
        if as_json:
            _print_json(result)
            return
        if not failures:
            typer.echo("passed")
        for v in result["violations"]:
            typer.echo(f"{v['action']:<8} {v['validator']}: {v['message']}")
        if fixed != text:
            typer.echo(f"fixed text: {fixed}")

    _guarded(go)


@guard_app.command("eval")
def guard_eval(
    dataset: Annotated[Path, typer.Argument(help="Labelled cases (JSONL).")],
    as_json: JsonOpt = False,
    store: Annotated[bool, typer.Option(help="Save the results for the console.")] = True,
    profile: Annotated[str, typer.Option(help="Guard profile whose validators to measure.")] = (
        "default"
    ),
) -> None:
    """Precision, recall and false-positive rate of every guard on labelled cases."""
    from llmops.guards.evaluation import evaluate, load_cases

    def go() -> None:
        cases = load_cases(dataset)
        report = evaluate(cases, dataset.name, profile=profile)
        run_id = None
        if store:
            from llmops.guards.report import save_eval

            with _runtime() as rt:
                run_id = save_eval(rt.db, dataset.name, len(cases), report.as_dict())
        if as_json:
            _print_json({"run_id": run_id, **report.as_dict()})
            return
        typer.echo(
            f"{dataset.name}: {len(cases)} cases, profile {profile}; latency {report.latency_ms}"
        )
        langs = sorted(report.by_lang)
        head = "".join(f"{'recall ' + lang:>11}" for lang in langs)
        typer.echo(f"{'label':<20}{'support':>8}{'precision':>10}{'recall':>8}{'fpr':>8}{head}")
        for label, m in report.labels.items():
            per_lang = "".join(
                f"{_fmt(report.by_lang[lang].get(label, {}).get('recall')):>11}" for lang in langs
            )
            typer.echo(
                f"{label:<20}{m['support']:>8}{_fmt(m['precision']):>10}"
                f"{_fmt(m['recall']):>8}{_fmt(m['fpr']):>8}{per_lang}"
            )
        for key, m in report.benign.items():
            typer.echo(f"benign {key:<30} false-positive rate {_fmt(m['fpr'])}")

    _guarded(go)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
