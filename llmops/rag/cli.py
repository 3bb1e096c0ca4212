"""``llmops kb``: ingest and remove sources, list sources and versions, try retrieval as a
release serves it, and read knowledge gaps.

Registered on the main ``llmops`` app as one sub-app. The shared helpers (one JSON document
with ``--json``, the runtime) come from ``llmops.cliutil``; the root command there turns every error
into one line on stderr (exit code 2 for bad input).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from llmops import cliutil as cli
from llmops.errors import InvalidInputError, NotFoundError
from llmops.store.db import Database
from llmops.types import JSONDict

kb_app = typer.Typer(help="Manage the knowledge base.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

MAX_OFFSET = 2**63 - 1  # the largest OFFSET SQLite and PostgreSQL accept
MAX_GAP_DAYS = 366  # a gap's trend has one count per day of the range
SNIPPET = 100


# -- sources -----------------------------------------------------------------------------------
@dataclass
class SourceRow:
    source: str
    title: str
    lang: str | None
    chunks: int
    content_hash: str
    ingested_at: datetime
    ingested_by: str

    def as_dict(self) -> JSONDict:
        return {
            "source": self.source,
            "title": self.title,
            "lang": self.lang,
            "chunks": self.chunks,
            "content_hash": self.content_hash,
            "ingested_at": self.ingested_at.isoformat(timespec="seconds"),
            "ingested_by": self.ingested_by,
        }


def list_sources(db: Database, *, limit: int = 50, offset: int = 0) -> tuple[list[SourceRow], int]:
    """One page of the current sources by name, and how many there are."""
    from llmops.store.models import Document

    with db.session() as s:
        total = int(s.scalar(select(func.count()).select_from(Document)) or 0)
        rows = s.execute(
            select(Document.source, Document.title, Document.lang, Document.chunk_count,
                   Document.content_hash, Document.ingested_at, Document.ingested_by)
            .order_by(Document.source).limit(limit).offset(offset)
        ).all()  # fmt: skip
    return [SourceRow(*r) for r in rows], total


@kb_app.command("ingest")
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders; default: the shipped KB.")
    ] = None,
    note: Annotated[str, typer.Option(help="Why (shown with the version).")] = "",
    draft: Annotated[
        bool,
        typer.Option(
            "--draft", help="Do not publish: only releases that pin the version serve it."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add or update sources (unchanged files are skipped by hash); a change is a new version."""
    with cli.runtime() as rt:
        report = rt.kb.ingest(paths or None, actor=cli.actor(), note=note, publish=not draft)
    if as_json:
        cli.print_json({**report.as_dict(), "published": not draft if report.version else None})
    else:
        typer.echo(
            f"added {len(report.added)}, updated {len(report.updated)}, "
            f"unchanged {len(report.unchanged)}, skipped {len(report.skipped)} "
            f"({report.chunks} chunks written)"
        )
        if report.version is None:
            typer.echo("no change: no new version")
        elif draft:
            typer.echo(f"draft version {report.version}: only releases that pin it serve it")
        else:
            typer.echo(f"version {report.version} published")
    for source, reason in report.skipped:
        typer.echo(f"skipped {source}: {reason}", err=True)


@kb_app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, by source name.")] = 50,
    offset: Annotated[int, typer.Option(min=0, max=MAX_OFFSET)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """The current sources: title, language, chunks, content hash, when and by whom."""
    with cli.runtime() as rt:
        rows, total = list_sources(rt.db, limit=limit, offset=offset)
    if as_json:
        cli.print_json({"total": total, "sources": [r.as_dict() for r in rows]})
        return
    if not rows:
        typer.echo("no sources" if total == 0 else f"no sources past {offset:,} ({total:,} in all)")
        return
    for r in rows:
        typer.echo(
            f"{r.source:<40} {r.lang or '-':<3} {r.chunks:>5} chunks  {r.content_hash[:12]}  "
            f"{r.ingested_at:%Y-%m-%d %H:%M}  {r.ingested_by:<10} {r.title}"
        )
    typer.echo(f"{offset + 1:,}–{offset + len(rows):,} of {total:,} sources")


@kb_app.command("versions")
def versions_(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    offset: Annotated[int, typer.Option(min=0, max=MAX_OFFSET)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Knowledge-base versions, newest first: which is the latest, which releases pin each."""
    from llmops.rag.versions import list_versions

    with cli.runtime() as rt:
        rows = list_versions(rt.db, limit=limit, offset=offset)
    if as_json:
        cli.print_json([r.as_dict() for r in rows])
        return
    if not rows:
        typer.echo("no versions: ingest sources first")
    for v in rows:
        state = "latest" if v.latest else "published" if v.published else "draft"
        pins = f"  pinned by {', '.join(v.releases)}" if v.releases else ""
        note = f"  {' '.join(v.note.split())[:80]}" if v.note else ""
        typer.echo(
            f"{v.name:<8} {v.created_at:%Y-%m-%d %H:%M}  {v.created_by:<10} {state:<9} "
            f"{v.sources:>4} sources {v.chunks:>6} chunks{pins}{note}"
        )


@kb_app.command("remove")
def remove(
    sources: Annotated[list[str], typer.Argument(help="Source names, as 'kb list' shows them.")],
    note: Annotated[str, typer.Option(help="Why (shown with the version).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Take sources out: a new, published version without them."""
    with cli.runtime() as rt:
        report = rt.kb.remove(sources, actor=cli.actor(), note=note)
    if not report.removed:
        names = ", ".join(repr(s) for s in sources)
        raise NotFoundError(f"{names}: not in the knowledge base (see 'llmops kb list').")
    if as_json:
        cli.print_json(report.as_dict())
    else:
        typer.echo(f"removed {', '.join(report.removed)}: version {report.version}")
    for source, reason in report.skipped:
        typer.echo(f"skipped {source}: {reason}", err=True)


# -- retrieval ---------------------------------------------------------------------------------
@kb_app.command("search")
def search(
    question: Annotated[str, typer.Argument(help="The question to retrieve sources for.")],
    release: Annotated[
        str, typer.Option(help="Release id, id prefix or label whose settings to use.")
    ] = "production",
    k: Annotated[
        int | None, typer.Option("--k", min=1, max=50, help="How many; default the release's.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Retrieve as a release does: its k, min score and knowledge-base version."""
    from llmops.rag import versions
    from llmops.releases.core import resolve_ref

    if not question.strip():
        raise InvalidInputError("Give a question to search for.")
    with cli.runtime() as rt:
        rel = resolve_ref(rt.db, release)
        retrieval = rel.config.retrieval
        top_k = k or retrieval.k
        kb_version = versions.name(versions.resolve(rt.db, rel.config.kb_version))
        docs = rt.kb.search(
            question, k=top_k, min_score=retrieval.min_score, version=rel.config.kb_version
        )
    hits = [
        {
            "rank": i,
            "score": d.metadata.get("score"),
            "retriever": d.metadata.get("retriever", ""),
            "source": d.metadata.get("source", ""),
            "title": d.metadata.get("title", ""),
            "chunk_id": d.metadata.get("chunk_id", ""),
            "text": d.page_content,
        }
        for i, d in enumerate(docs, start=1)
    ]
    if as_json:
        cli.print_json(
            {
                "release": rel.id,
                "kb_version": kb_version,
                "pinned": rel.config.kb_version is not None,
                "k": top_k,
                "min_score": retrieval.min_score,
                "results": hits,
            }
        )
        return
    follows = "pinned" if rel.config.kb_version is not None else "latest"
    typer.echo(
        f"release {rel.name} ({rel.id}) · {kb_version or 'no version'} ({follows}) · "
        f"k {top_k} · min score {retrieval.min_score:g}"
    )
    if not hits:
        typer.echo("no results")
    for h in hits:
        text = " ".join(str(h["text"]).split())[:SNIPPET]
        typer.echo(f"{h['rank']:>2}. {h['score']:.3f} {h['retriever']:<13} {h['source']}  {text}")


# -- knowledge gaps ----------------------------------------------------------------------------
def _since(range_: str) -> datetime:
    from llmops.monitoring.alerts import parse_window

    try:
        minutes = parse_window(range_, limit=MAX_GAP_DAYS * 1440)
    except InvalidInputError as exc:
        raise InvalidInputError(f"--range: {exc}") from None
    if minutes < 1:
        raise InvalidInputError(f"--range must be at least 1 minute, not {range_!r}.")
    return datetime.now(UTC) - timedelta(minutes=minutes)


@kb_app.command("gaps")
def gaps_(
    range_: Annotated[str, typer.Option("--range", help="Trailing range: 24h, 7d, 30d.")] = "7d",
    refresh: Annotated[
        bool, typer.Option(help="Cluster new declined / thumbs-down questions first.")
    ] = True,
    lang: Annotated[str | None, typer.Option(help="Only this language (en, es).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, largest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Questions the knowledge base does not answer well, grouped by meaning, largest first."""
    from llmops.rag import gaps

    since = _since(range_)
    with cli.runtime() as rt:
        report = gaps.refresh(rt.db, rt.embeddings) if refresh else None
        found = gaps.gaps(rt.db, since=since, lang=lang, limit=limit)
    if as_json:
        cli.print_json([g.as_dict() for g in found])
        return
    if report is not None:
        typer.echo(
            f"refreshed: {report.clustered} new questions clustered "
            f"({report.new_clusters} new gaps, {report.feedback} from thumbs-down)"
        )
    if not found:
        typer.echo(f"no knowledge gaps in the last {range_.strip()}")
    for g in found:
        typer.echo(
            f"#{g.id:<5} {g.count:>5} questions  {g.lang:<3} declined {g.declined}, "
            f"low score {g.low_score}, thumbs-down {g.thumbs_down}  {g.label}"
        )
        for q in g.examples[:3]:
            typer.echo(f"         - {' '.join(q.split())[:SNIPPET]}")
