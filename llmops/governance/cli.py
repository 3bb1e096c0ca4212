"""``llmops erase`` and ``llmops retention apply``: erasure and retention from the shell or
cron, and ``llmops audit list|export``; the root command lists them in ``llmops.cli.GROUPS``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from llmops import cliutil as cli
from llmops.errors import InvalidInputError

erase_app = typer.Typer(
    help="Erase everything derived from a user or a session.", invoke_without_command=True
)
retention_app = typer.Typer(help="Delete data past its retention.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and export the audit log.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Only count what would go; change nothing.")
]


@erase_app.callback()
def erase(
    user: Annotated[
        str | None, typer.Option("--user", help="The user id as the app was given it.")
    ] = None,
    session: Annotated[str | None, typer.Option("--session", help="A chat session id.")] = None,
    dry_run: DryRunOpt = False,
    actor: Annotated[
        str, typer.Option(help="Who asks (recorded in the audit row); default cli:<OS user>.")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Erase everything derived from a user or a session: traces, spans, feedback, guard
    events, review items, dataset items and their evaluation traces, gap candidates; scrub
    their ids from improvements and the audit log; adjust the rollups; audit it."""
    from llmops.governance.erasure import erase as run

    if (user is None) == (session is None):
        raise InvalidInputError("Give exactly one of --user or --session.")
    with cli.runtime() as rt:
        rt.writer.flush()  # this process's own pending turns first
        report = run(rt.db, user=user, session=session, actor=actor or cli.actor(),
                     dry_run=dry_run, settings=rt.settings)  # fmt: skip
    if as_json:
        cli.print_json(report.as_dict())
        return
    verb = "would erase" if dry_run else "erased"
    typer.echo(f"{verb} {report.total:,} rows of {report.kind} {report.subject_hash}")
    for table, n in sorted(report.counts.items()):
        if n:
            typer.echo(f"  {table}: {n:,}")
    for table, n in sorted(report.scrubbed.items()):
        if n:
            typer.echo(f"  {table}: {n:,} rows {'to scrub' if dry_run else 'scrubbed'}")
    if report.audit_id is not None:
        typer.echo(f"audit row {report.audit_id}")
    if report.compacted is False:
        typer.echo("! the SQLite log could not be truncated while others read it; run again")


@retention_app.command("apply")
def retention_apply(
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete traces, evaluation traces, feedback, guard events and audit rows older than
    their LLMOPS_RETENTION_*_DAYS, in bounded batches (safe to run from cron on several
    machines at once); rollups keep their aggregates."""
    from llmops.governance.retention import apply

    with cli.runtime() as rt:
        report = apply(rt.db, settings=rt.settings, dry_run=dry_run, actor=cli.actor())
    if as_json:
        cli.print_json(report.as_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    for kind, k in report.kinds.items():
        if not k.days:
            typer.echo(f"{kind}: kept forever")
        else:
            typer.echo(f"{kind}: {verb} {k.rows:,} older than {k.days} days")
    typer.echo(f"{report.total:,} rows in {report.seconds:.1f}s")


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"{option} must be an ISO date or time, not {text!r}.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@audit_app.command("export")
def audit_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "jsonl",
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    action: Annotated[
        str | None, typer.Option(help="An action, or a family (release = release.*).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO date or time.")] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO date or time.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Export the audit log (filtered) as CSV or JSONL."""
    from llmops.governance.audit import AuditFilter, export_lines, record

    flt = AuditFilter(actor, action, _when(since, "--since"), _when(until, "--until"))
    with cli.runtime() as rt:
        lines = export_lines(rt.db, flt, fmt)
        if out is None:
            for line in lines:
                sys.stdout.write(line)
        else:
            with out.open("w", encoding="utf-8", newline="") as fh:
                fh.writelines(lines)
        record(rt.db, cli.actor(), "audit.export", str(out) if out else "stdout", format=fmt,
               filter={"actor": actor, "action": action, "since": since, "until": until})  # fmt: skip
