"""The ``llmops`` command: a thin shell over the library, for people, CI jobs and cron.

``--json`` prints exactly one JSON document on stdout. Every error ends in one place, the
root command's ``main`` (``_exit_code``), and is one line on stderr:

- a bad value, option, argument or file (click's usage errors, ``UserFacingError``, an
  ``OSError`` about a named file, text that is not UTF-8, a bad ``LLMOPS_*`` setting):
  ``error: ...``, exit code 2;
- a store failure (``LLMOpsError``): its message, exit code 1;
- anything else is a bug: ``error: internal error: <Type>: <message>``, exit code 1.

``--debug`` (or ``LLMOPS_DEBUG=1``) adds the full traceback, also to logged warnings. Output
never fails on a character the terminal cannot encode: a lone surrogate (what Python makes of
invalid UTF-8 in an argument or a file name) is written as a backslash escape, and as a JSON
escape in ``--json`` output, which stays valid JSON.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeGuard

import click
import typer
from typer.core import TyperGroup

from llmops.cliutil import SURROGATE as _SURROGATE
from llmops.cliutil import finite
from llmops.cliutil import one_shot as _one_shot
from llmops.cliutil import print_json as _print_json
from llmops.cliutil import runtime as _runtime
from llmops.errors import InvalidInputError, LLMOpsError, UserFacingError

if TYPE_CHECKING:
    from pydantic import ValidationError

# -- sub-command groups ------------------------------------------------------------------------
# One line per group: (name, "module:Typer app", the one-line help `llmops --help` shows).
# The root registers them; a group's module imports llmops.cliutil for the shared helpers and
# never this module, and is imported only when its group runs (or prints its own help), so
# `llmops --help` and the commands below start without loading every library.
GROUPS: list[tuple[str, str, str]] = [
    ("kb", "llmops.rag.cli:kb_app", "Manage the knowledge base."),
    ("eval", "llmops.evals.cli:eval_app", "Evaluation: run a release over a dataset, compare runs, gate CI."),
    ("monitor", "llmops.monitoring.cli:monitor_app", "Monitoring: alert checks, metrics, alert rules, model prices, feedback exports."),
    ("release", "llmops.releases.cli:release_app", "Releases: create, compare, promote, roll back, canary."),
    ("review", "llmops.review.cli:review_app", "Human review queues."),
    ("improve", "llmops.improve.cli:improve_app", "Improvements: evidence → dataset → candidate → gate → canary → promote."),
    ("redteam", "llmops.redteam.cli:redteam_app", "Red-team scans: attack a release, gate CI on the attack success rate."),
    ("erase", "llmops.governance.cli:erase_app", "Erase everything derived from a user or a session."),
    ("retention", "llmops.governance.cli:retention_app", "Delete data past its retention."),
    ("audit", "llmops.governance.cli:audit_app", "Read and export the audit log."),
    ("admin", "llmops.governance.accounts_cli:admin_app", "Console administration: accounts and roles."),
]  # fmt: skip


class _Options:
    """Global options of one invocation (set before any command runs)."""

    debug = False


def _env_flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


MAX_OFFSET = 2**63 - 1  # the largest OFFSET SQLite and PostgreSQL accept


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_message(exc: click.ClickException) -> str:
    """click's usage error as one line that names the option and how to get help."""
    message = _one_line(exc.format_message()).rstrip(".")
    # click names its range types "integer range" / "float range": the value is not a number
    message = re.sub(r"is not a valid (integer|float) range", r"is not a valid \1", message)
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _exit_code(exc: BaseException) -> int:
    """Report ``exc`` on stderr (one line; a traceback first with --debug): the exit code."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return exc.exit_code  # the help is already on screen
    if isinstance(exc, click.ClickException):
        message, code = _usage_message(exc), 2
    elif isinstance(exc, click.Abort):
        message, code = "aborted", 1
    elif isinstance(exc, UserFacingError):
        message, code = str(exc), 2
    elif isinstance(exc, LLMOpsError):
        message, code = str(exc), 1
    elif _is_settings_error(exc):
        # a bad LLMOPS_* environment variable (llmops.config reads them all)
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = f"setting {field} (LLMOPS_{field.upper()}): {first['msg']}"
        code = 2
    elif isinstance(exc, UnicodeEncodeError) and _SURROGATE.search(str(exc.object)):
        # only arguments, environment variables and file names hold lone surrogates: what
        # Python makes of bytes that are not UTF-8
        bad = exc.object[max(0, exc.start - 20) : exc.end + 20]
        message = f"{bad!r} is not valid UTF-8 text (an argument or a name holds other bytes)"
        code = 2
    elif isinstance(exc, OSError) and exc.filename is not None:
        # a file or folder the user named (or LLMOPS_HOME) that cannot be read or written
        message, code = f"{exc.filename}: {exc.strerror or type(exc).__name__}", 2
    else:
        text = _one_line(str(exc))
        text = text if len(text) <= 300 else text[:299] + "…"
        message = f"internal error: {type(exc).__name__}: {text}"
        if not _Options.debug:
            message += " (run with --debug for the traceback)"
        code = 1
    if _Options.debug and not isinstance(exc, click.ClickException | click.Abort):
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"error: {_one_line(message)}", err=True)
    return code


def _tolerant_output() -> None:
    """Never fail on printing: what the terminal cannot encode is written as a backslash
    escape on stdout too (Python already does so on stderr)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def _is_settings_error(exc: BaseException) -> TypeGuard[ValidationError]:
    """A bad ``LLMOPS_*`` environment variable (pydantic's error from ``llmops.config``);
    pydantic is only looked up when something imported it, so it never slows the start."""
    pydantic = sys.modules.get("pydantic")
    return (
        pydantic is not None
        and isinstance(exc, pydantic.ValidationError)
        and exc.title == "Settings"
    )


class _Root(TyperGroup):
    """The ``llmops`` group: runs a command and turns whatever it raises into an exit code.

    The groups in ``GROUPS`` are imported when a command line names them; its help lists
    them from ``GROUPS`` without importing them."""

    _listing = False  # formatting the help: list GROUPS without importing them

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return [*own, *(name for name, _, _ in GROUPS if name not in own)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        entry = next((g for g in GROUPS if g[0] == cmd_name), None)
        if command is not None or entry is None:
            return command
        name, target, short_help = entry
        if self._listing:  # a stand-in that carries the help line
            return click.Group(name, help=short_help, short_help=short_help)
        module, _, attr = target.partition(":")
        group = typer.main.get_group(getattr(importlib.import_module(module), attr))
        group.name = name
        self.add_command(group, name)
        return group

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:  # the caller handles errors itself
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        _Options.debug = _env_flag(os.environ.get("LLMOPS_DEBUG"))
        _tolerant_output()
        try:
            rv = super().main(
                args, prog_name or "llmops", complete_var, False, windows_expand_args, **extra
            )
        except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
            sys.exit(_exit_code(exc))
        sys.exit(rv if isinstance(rv, int) else 0)


class _LogFormatter(logging.Formatter):
    """One line per record: an exception's type and message, its traceback with --debug."""

    def format(self, record: logging.LogRecord) -> str:
        if _Options.debug or not record.exc_info or record.exc_info[1] is None:
            return super().format(record)
        exc = record.exc_info[1]
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return f"{super().format(plain)} ({type(exc).__name__}: {_one_line(str(exc))})"


app = typer.Typer(
    name="llmops",
    cls=_Root,
    help="llmops: offline RAG chat with a built-in LLMOps console.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
traces_app = typer.Typer(help="Read traces from the store.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
demo_app = typer.Typer(help="Synthetic data for demos and benchmarks.", no_args_is_help=True)
guard_app = typer.Typer(
    help="Guardrails: check a text, evaluate on labelled cases.", no_args_is_help=True
)
app.add_typer(traces_app, name="traces")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(guard_app, name="guard")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@app.callback()
def _global_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error (LLMOPS_DEBUG=1).")
    ] = False,
) -> None:
    if debug:
        _Options.debug = True


# -- commands ----------------------------------------------------------------------------------
@app.command()
def chat(
    message: Annotated[str, typer.Argument(help="The question to ask.")],
    session: Annotated[str | None, typer.Option(help="Session id (sticky release).")] = None,
    user: Annotated[str | None, typer.Option(help="User id recorded on the trace.")] = None,
    release: Annotated[str | None, typer.Option(help="Serve with this release id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the assistant one question; the answer streams unless --json."""
    with _runtime() as rt:
        stream = rt.chat.respond(message, session_id=session, user_id=user, release_id=release)
        if as_json:
            turn = stream.collect()
            _print_json(turn.as_dict())
            return
        for chunk in stream:
            typer.echo(chunk, nl=False)
        typer.echo()
        turn = stream.collect()  # the stream is exhausted: this returns its turn
        for c in turn.citations:
            typer.echo(f"  [{c.n}] {c.source} (score {c.score:.2f})")
        typer.echo(f"trace {turn.trace_id} · release {turn.release_name} ({turn.release})")


@traces_app.command("list")
def traces_list(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    offset: Annotated[int, typer.Option(min=0, max=MAX_OFFSET)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List recent traces."""
    from llmops.store.queries import list_traces

    with _runtime() as rt:
        rows = list_traces(rt.db, limit=limit, offset=offset)
    if as_json:
        _print_json([r.as_dict() for r in rows])
        return
    for r in rows:
        text = (r.input or "").replace("\n", " ")[:60]
        latency = f"{r.latency_ms:.0f}ms" if r.latency_ms is not None else "-"
        typer.echo(f"{r.id}  {r.started_at:%Y-%m-%d %H:%M:%S}  {r.status:<8} {latency:>7}  {text}")


@traces_app.command("show")
def traces_show(
    trace_id: Annotated[str, typer.Argument(help="The trace id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one trace with its span tree and feedback."""
    from llmops.store.queries import get_trace

    with _runtime() as rt:
        detail = get_trace(rt.db, trace_id)
    if as_json:
        _print_json(detail.as_dict())
        return
    t = detail.trace
    typer.echo(f"trace {t['id']}  {t['status']}  {t['latency_ms']} ms  release {t['release_id']}")
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


@app.command()
def feedback(
    trace_id: Annotated[str, typer.Argument(help="The trace the feedback is about.")],
    thumb: Annotated[str, typer.Argument(help="up or down")],
    comment: Annotated[str | None, typer.Option(help="Optional comment.")] = None,
    user: Annotated[str | None, typer.Option(help="Who gives the feedback.")] = None,
) -> None:
    """Record thumbs up/down on a trace."""
    from llmops import feedback as fb

    score = fb.parse_thumb(thumb)
    with _runtime() as rt:
        fid = fb.record(rt.db, trace_id, score, comment=comment, user_id=user, source="cli")
    typer.echo(f"feedback {fid} recorded on trace {trace_id}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations and create the default release if there is none."""
    from llmops.config import get_settings
    from llmops.runtime import bootstrap
    from llmops.store.db import Database, describe
    from llmops.store.migrate import current_revision

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


@db_app.command("doctor")
def db_doctor(
    retry: Annotated[
        bool, typer.Option("--retry", help="Try the quarantined records again first.")
    ] = False,
    readiness: Annotated[
        bool,
        typer.Option(
            "--readiness", help="Exit 1 only when not ready to serve (for health checks)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check readiness (store reachable, schema current, Chroma reachable, trace writer
    healthy) and what needs attention: quarantined trace records (with their errors), records
    tracing dropped, the spool, the OTLP exporter and spans it could not deliver. Exits 1 when
    not ready or something needs attention (with --readiness: only when not ready). Never
    migrates: `llmops db upgrade` does."""
    from llmops import readiness as ready_mod
    from llmops.tracing import health

    with _runtime(migrate=False) as rt:
        state = ready_mod.check(rt.settings, rt.db, writer=rt.writer)
        report = retried = None
        if state.checks[0].ok and state.checks[1].ok:
            rt.writer.flush()
            retried = health.retry_quarantine(rt.db, rt.settings.spool_dir) if retry else None
            report = health.doctor(rt.db, rt.settings.spool_dir)
    problems = [f"not ready: {c.name}: {c.detail}" for c in state.failing]
    problems += report.problems if report else []
    if state.otlp.get("dropped_24h"):
        problems.append(
            f"{state.otlp['dropped_24h']} span(s) not delivered to the OTLP collector in 24 h "
            "(stored all the same): see docs/tracing-export.md"
        )
    if as_json:
        _print_json(
            {
                **(report.as_dict() if report else {}),
                **state.as_dict(),
                "problems": problems,
                "retried": retried.__dict__ if retried else None,
            }
        )
    else:
        for c in state.checks:
            typer.echo(f"{'ok ' if c.ok else 'NO ' if c.required else '!  '} {c.name}: {c.detail}")
        typer.echo(f"knowledge base version {state.kb_version}; last trace {state.last_trace_at}")
        if report is not None:
            _print_doctor(report, retried)
        for problem in problems:
            typer.echo(f"! {problem}")
        typer.echo("ready" if state.ready else "NOT READY")
        if not problems:
            typer.echo("ok")
    if not state.ready or (problems and not readiness):
        raise typer.Exit(1)


def _print_doctor(report: Any, retried: Any) -> None:
    typer.echo(f"store {report.store} at revision {report.revision} (head {report.head})")
    if retried is not None:
        typer.echo(
            f"retried quarantine: {retried.stored} stored, {retried.still_rejected} still rejected"
        )
    day, total = report.losses_24h, report.losses_total
    typer.echo(
        f"quarantined {total['quarantined']} ({day['quarantined']} in 24 h), "
        f"dropped {total['dropped']} ({day['dropped']}), "
        f"refused {total['refused']} ({day['refused']})"
    )
    for q in report.recent_quarantine:
        typer.echo(f"  #{q['id']} {q['at']} {q['kind']} trace {q['trace_id']}: {q['error']}")
    typer.echo(
        f"spool {report.spool_dir}: {report.spool_files} file(s), {report.spool_bytes:,} bytes"
        + (f", oldest {report.spool_oldest}" if report.spool_oldest else "")
    )


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
    from llmops.demo import seed_guard_evals

    finite(days, "--days")
    with _runtime() as rt:
        report = run_seed(rt.db, traces=traces, days=days, seed=seed)
        report.guard_evals = seed_guard_evals(rt.db)
    if as_json:
        _print_json(report.__dict__)
    else:
        typer.echo(
            f"seeded {report.traces:,} traces, {report.spans:,} spans, "
            f"{report.feedback:,} feedback, {report.guard_events:,} guard events "
            f"in {report.seconds:.1f}s"
        )


def _skip_iri_grammar() -> None:
    """guardrails imports jsonschema, which builds a grammar for its ``iri`` string format
    from ``rfc3987_syntax`` when that is installed: over a second of CPU, half of importing
    guardrails. A guard command validates plain text and never checks that format, so this
    process goes without it (jsonschema skips the format when the import fails)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


@guard_app.command("check")
def guard_check(
    text: Annotated[str, typer.Argument(help="The text to check.")],
    direction: Annotated[str, typer.Option(help="input or output")] = "input",
    profile: Annotated[str, typer.Option(help="Guard profile.")] = "default",
    as_json: JsonOpt = False,
) -> None:
    """Run a guard profile on a text: violations, actions and the fixed text."""
    _skip_iri_grammar()
    if direction not in ("input", "output"):
        raise InvalidInputError(f"--direction must be input or output, not {direction!r}.")
    with _one_shot():  # no garbage-collection pauses while guardrails and the rules load
        from llmops.guards.profiles import get_profile
        from llmops.guards.runner import ACTIONS, ERROR, GuardRunner

        prof = get_profile(profile)
        runner = GuardRunner(profile)
        runner.preload(text, direction, prof)  # type: ignore[arg-type]
        verdict = runner.inspect(text, direction, prof, {})  # type: ignore[arg-type]
    fixed, failures = verdict.text, verdict.failures
    result: dict[str, Any] = {
        "passed": not failures and not verdict.errors,
        # a validator that raised blocks for block and fix rules (guards fail closed)
        "blocked": any(r.action == "block" for r, _, _ in failures) or verdict.fails_closed(),
        "text": text if verdict.fails_closed() else fixed,
        "violations": [
            {"validator": r.validator, "direction": direction,
             "action": ACTIONS[r.action], "message": m}
            for r, m, _ in failures
        ] + [
            {"validator": r.validator, "direction": direction, "action": ERROR,
             "message": f"the check failed: {e}"}
            for r, e in verdict.errors
        ],
    }  # fmt: skip
    fixed = result["text"]
    if as_json:
        _print_json(result)
        return
    if result["passed"]:
        typer.echo("passed")
    for v in result["violations"]:
        typer.echo(f"{v['action']:<8} {v['validator']}: {v['message']}")
    if fixed != text:
        typer.echo(f"fixed text: {fixed}")


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
    _skip_iri_grammar()
    from llmops.guards.evaluation import evaluate, load_cases

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


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
