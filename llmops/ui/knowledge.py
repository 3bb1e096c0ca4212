"""Knowledge page widgets: the sources (upload, re-ingest, remove), a source's chunks, a
retrieval playground that retrieves as each release does, the knowledge-base versions
(compare, publish a draft) and the knowledge gaps (refresh, to a dataset, an article stub,
resolve).

Everything goes through ``llmops.rag``: ingest stores a file whole or not at all and makes
one version per change; removal and publishing need an explicit confirmation. Lists are
paged in SQL; gaps are SQL aggregates; a source's chunks are fetched by id, a page at a time.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import altair as alt
import streamlit as st

from llmops.errors import InvalidInputError, UserFacingError
from llmops.governance.roles import Capability
from llmops.markdown import safe_markdown
from llmops.rag import gaps, versions
from llmops.rag.knowledge import SUPPORTED, IngestReport, list_sources
from llmops.releases import core
from llmops.ui.auth import can
from llmops.ui.deps import runtime
from llmops.ui.widgets import Sections, actor, pager, show_error

PAGE_SIZE = 25
CHUNK_PAGE = 10
SECTIONS = ["Sources", "Chunks", "Retrieval", "Versions", "Gaps"]
_SECTIONS = Sections("kn", SECTIONS)
section_picker, _done, _go = _SECTIONS.pick, _SECTIONS.done, _SECTIONS.go
_error = show_error
RANGES = {"Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
LANGS = {"All languages": None, "English": "en", "Spanish": "es"}
SNIPPET = 240


def _short(digest: str | None) -> str:
    return (digest or "")[:12]


# -- sources ---------------------------------------------------------------------------------
def sources_section() -> None:
    db = runtime().db
    text = st.text_input("Filter", key="kn_filter", placeholder="part of a source name or title")
    if st.session_state.get("kn_filter_was") != text:  # a new filter starts at page 1
        st.session_state["kn_filter_was"] = text
        st.session_state["kn_page"] = 0
    page = int(st.session_state.get("kn_page", 0))
    rows, total = list_sources(db, contains=text, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    st.dataframe(
        [{"source": r.source, "title": r.title, "language": r.lang or "", "chunks": r.chunks,
          "hash": _short(r.content_hash), "ingested": r.ingested_at, "by": r.ingested_by}
         for r in rows],
        hide_index=True, width="stretch", key="kn_sources",
    )  # fmt: skip
    pager("kn_page", page, more=(page + 1) * PAGE_SIZE < total,
          caption=f"{total:,} source(s)" + (" match" if text else ""))  # fmt: skip
    if not can(Capability.KNOWLEDGE):
        return
    if rows:
        _source_actions([r.source for r in rows])
    _upload()


def _source_actions(sources: list[str]) -> None:
    picked = st.selectbox("Source", sources, key="kn_pick")
    if picked is None:
        return
    left, right = st.columns(2)
    if left.button("Browse its chunks", key="kn_browse"):
        st.session_state["kn_chunk_pick"] = picked
        _go("Chunks")
    with right.container(border=True):
        note = st.text_input("Why remove it?", key="kn_rm_note")
        sure = st.checkbox(f"Confirm: take {picked} out of the knowledge base", key="kn_rm_ok")
        if st.button("Remove source", disabled=not sure, key="kn_remove"):
            try:
                report = runtime().kb.remove([picked], actor=actor(), note=note)
            except UserFacingError as exc:
                _error(exc)
                return
            st.session_state.pop("kn_rm_ok", None)
            if not report.removed:
                st.warning(f"{picked} is no longer in the knowledge base.")
                return
            _done(f"Removed {picked}: version {report.version} is published.")


def _source_name(folder: str, filename: str) -> str:
    """``folder/filename`` as a source name; a folder ``en`` or ``es`` also sets the language."""
    parts = [p for p in PurePosixPath(folder.strip().strip("/")).parts if p not in ("", ".")]
    name = PurePosixPath(filename.replace("\\", "/")).name
    if ".." in parts or not name or name in (".", ".."):
        raise InvalidInputError(f"Not a usable source name: {folder!r} / {filename!r}.")
    return "/".join([*parts, name])


def _upload() -> None:
    st.markdown("**Add or update sources**")
    nonce = int(st.session_state.get("kn_upload_n", 0))  # a new key empties the uploader
    types = sorted(ext.lstrip(".") for ext in SUPPORTED)
    files = st.file_uploader(
        "Markdown, text or PDF files", type=types, accept_multiple_files=True,
        key=f"kn_upload_{nonce}",
    )  # fmt: skip
    st.caption(
        "A file with the name of a current source replaces it (re-ingest); an unchanged file "
        "is skipped by its content hash. Each file is stored whole or not at all."
    )
    c1, c2, c3 = st.columns([1, 2, 1])
    folder = c1.text_input("Folder", key="kn_folder", placeholder="en",
                           help="Prefix for the source names, e.g. en/ or es/ (sets the "
                           "language); leave empty for none.")  # fmt: skip
    note = c2.text_input("Note", key="kn_note", placeholder="what changed, why")
    mode = c3.radio("Version", ["Publish now", "Draft"], key="kn_publish",
                    help="A draft is served only by releases that pin it.")  # fmt: skip
    if st.button("Ingest", type="primary", disabled=not files, key="kn_ingest"):
        try:
            report = ingest_uploads(files or [], folder, note=note, publish=mode == "Publish now")
        except UserFacingError as exc:
            _error(exc)
        else:
            st.session_state["kn_report"] = (report.as_dict(), mode == "Publish now")
            st.session_state["kn_upload_n"] = nonce + 1
            st.rerun()
    shown = st.session_state.get("kn_report")
    if shown:
        _report(*shown)


def ingest_uploads(files: list[Any], folder: str, *, note: str, publish: bool) -> IngestReport:
    """Write the uploads to a temporary folder and ingest them under their source names."""
    with tempfile.TemporaryDirectory(prefix="llmops-upload-") as tmp:
        paths: list[Path] = []
        names: dict[Path, str] = {}
        for i, f in enumerate(files):
            source = _source_name(folder, f.name)
            path = Path(tmp, str(i), *PurePosixPath(source).parts)  # one folder per upload
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f.getvalue())
            paths.append(path)
            names[path] = source
        return runtime().kb.ingest(paths, actor=actor(), note=note, publish=publish, names=names)


def _report(report: dict[str, Any], published: bool) -> None:
    rows = [{"source": s, "result": kind, "reason": ""}
            for kind in ("added", "updated", "unchanged") for s in report[kind]]  # fmt: skip
    rows += [{"source": x["source"], "result": "skipped", "reason": x["reason"]}
             for x in report["skipped"]]  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch", key="kn_results")
    version = report["version"]
    if version is None:
        st.info("Nothing changed: no new version.")
    elif published:
        st.success(f"Version {version} is published ({report['chunks']} chunks written).")
    else:
        st.success(f"Draft version {version}: only releases that pin it serve it "
                   f"({report['chunks']} chunks written).")  # fmt: skip


# -- chunks ------------------------------------------------------------------------------------
def chunks_section() -> None:
    db = runtime().db
    text = st.text_input("Find a source", key="kn_chunk_find", placeholder="name or title")
    rows, total = list_sources(db, contains=text, limit=50)
    options = [r.source for r in rows]
    chosen = st.session_state.get("kn_chunk_pick")  # set by "Browse its chunks" too
    if chosen and chosen not in options:
        options.insert(0, chosen)
    if not options:
        st.info("No source matches." if text else "No sources yet: upload some in Sources.")
        return
    if total > len(rows):
        st.caption(f"The first {len(rows)} of {total:,} matches: narrow the search.")
    source = st.selectbox("Source", options, key="kn_chunk_pick")
    if source is None:
        return
    if st.session_state.get("kn_chunk_was") != source:  # another source starts at page 1
        st.session_state["kn_chunk_was"] = source
        st.session_state["kn_chunk_page"] = 0
    page = int(st.session_state.get("kn_chunk_page", 0))
    try:
        docs, count = runtime().kb.chunks(source, limit=CHUNK_PAGE, offset=page * CHUNK_PAGE)
    except UserFacingError as exc:
        _error(exc)
        return
    for d in docs:
        with st.container(border=True):
            m = d.metadata
            st.caption(f"#{m.get('chunk_index')} · `{d.id}` · {m.get('lang') or '-'} · "
                       f"{len(d.page_content):,} characters")  # fmt: skip
            st.markdown(safe_markdown(d.page_content))
    pager("kn_chunk_page", page, more=(page + 1) * CHUNK_PAGE < count,
          caption=f"{count:,} chunk(s) in {source}")  # fmt: skip


# -- retrieval playground ---------------------------------------------------------------------
def _release_choices(limit: int = 200) -> dict[str, str]:
    rows = core.list_releases(runtime().db, limit=limit)
    return {r.id: f"{r.name} · {r.id}" + (f" · {', '.join(r.labels)}" if r.labels else "")
            for r in rows}  # fmt: skip


def retrieve(question: str, release_ids: list[str]) -> list[dict[str, Any]]:
    """Per release: its retrieval settings, the version it serves and the chunks found."""
    db = runtime().db
    out = []
    for rid in release_ids:
        info = core.get_release(db, rid)
        cfg = info.config
        entry: dict[str, Any] = {"id": info.id, "name": info.name, "k": cfg.retrieval.k,
                                 "min_score": cfg.retrieval.min_score,
                                 "pinned": cfg.kb_version is not None, "hits": [],
                                 "error": None}  # fmt: skip
        try:
            # the version resolved now, so the results are the version the caption names
            # (the knowledge base re-reads the latest only every few seconds)
            vid = versions.resolve(db, cfg.kb_version)
            entry["version"] = versions.name(vid)
            docs = runtime().kb.search(question, k=cfg.retrieval.k,
                                       min_score=cfg.retrieval.min_score, version=vid)  # fmt: skip
        except UserFacingError as exc:
            entry["version"], entry["error"] = cfg.kb_version, exc.message
            out.append(entry)
            continue
        entry["hits"] = [
            {"rank": i, "score": d.metadata.get("score"),
             "retriever": d.metadata.get("retriever", ""), "source": d.metadata.get("source", ""),
             "chunk": d.metadata.get("chunk_id", ""),
             "text": " ".join(d.page_content.split())[:SNIPPET]}
            for i, d in enumerate(docs, start=1)
        ]  # fmt: skip
        out.append(entry)
    return out


def retrieval_section() -> None:
    options = _release_choices()
    if not options:
        st.info("No release yet: run `llmops db upgrade`.")
        return
    production = core.labels(runtime().db).production
    default = [production] if production in options else list(options)[:1]
    picked = st.multiselect("Releases", list(options), default=default, max_selections=3,
                            format_func=options.__getitem__, key="kn_rt_pick")  # fmt: skip
    question = st.text_input("Question", key="kn_rt_q", placeholder="What is LLMOps?")
    if st.button("Retrieve", type="primary", disabled=not (picked and question.strip()),
                 key="kn_rt_run"):  # fmt: skip
        with st.spinner("Retrieving as each release does…"):
            st.session_state["kn_rt_result"] = retrieve(question.strip(), list(picked))
    results = st.session_state.get("kn_rt_result")
    if not results:
        return
    for col, r in zip(st.columns(len(results)), results, strict=True):
        with col.container(border=True):
            follows = "pinned" if r["pinned"] else "latest published"
            st.markdown(f"**{r['name']}** · `{r['id']}`")
            st.caption(f"{r['version'] or 'no version'} ({follows}) · k {r['k']} · "
                       f"min score {r['min_score']:g}")  # fmt: skip
            if r["error"]:
                st.error(r["error"])
            elif not r["hits"]:
                st.info("Nothing retrieved: this release would decline.")
            else:
                st.dataframe(r["hits"], hide_index=True, width="stretch",
                             key=f"kn_rt_hits_{r['id']}")  # fmt: skip


# -- versions ------------------------------------------------------------------------------------
def versions_section() -> None:
    db = runtime().db
    page = int(st.session_state.get("kn_v_page", 0))
    rows = versions.list_versions(db, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE)
    st.dataframe(
        [{"version": v.name, "created": v.created_at, "by": v.created_by, "note": v.note,
          "sources": v.sources, "chunks": v.chunks,
          "state": "latest" if v.latest else "published" if v.published else "draft",
          "pinned by": ", ".join(v.releases)} for v in rows[:PAGE_SIZE]],
        hide_index=True, width="stretch", key="kn_versions",
    )  # fmt: skip
    pager("kn_v_page", page, more=len(rows) > PAGE_SIZE, caption=f"page {page + 1}")
    recent = versions.list_versions(db, limit=200)
    if not recent:
        st.info("No version yet: ingest sources first.")
        return
    _compare([v.name for v in recent])
    if can(Capability.KNOWLEDGE):
        _publish([v for v in recent if not v.published])


def _compare(names: list[str]) -> None:
    st.markdown("**Compare two versions**")
    c1, c2 = st.columns(2)
    a = c1.selectbox("Version A", names, index=min(1, len(names) - 1), key="kn_cmp_a")
    b = c2.selectbox("Version B", names, index=0, key="kn_cmp_b")
    va, vb = versions.parse(a), versions.parse(b)
    if va is None or vb is None:
        return
    changes = versions.compare(runtime().db, va, vb)
    if not changes:
        st.info(f"{a} and {b} hold the same content.")
        return
    counts = {k: sum(c.change == k for c in changes) for k in ("added", "changed", "removed")}
    st.caption(", ".join(f"{n} {k}" for k, n in counts.items()) + f" from {a} to {b}")
    st.dataframe(
        [{"source": c.source, "change": c.change, "A": _short(c.a), "B": _short(c.b)}
         for c in changes],
        hide_index=True, width="stretch", key="kn_compare",
    )  # fmt: skip


def _publish(drafts: list[versions.VersionRow]) -> None:
    if not drafts:
        return
    st.markdown("**Publish a draft**")
    draft = st.selectbox("Draft", [v.name for v in drafts], key="kn_pub_pick")
    vid = versions.parse(draft)
    if vid is None:
        return
    sure = st.checkbox(f"Confirm: releases that follow the latest serve {draft}",
                       key="kn_pub_ok")  # fmt: skip
    if st.button("Publish", disabled=not sure, key="kn_pub"):
        try:
            versions.publish(runtime().db, vid, actor=actor())
        except UserFacingError as exc:
            _error(exc)
            return
        st.session_state.pop("kn_pub_ok", None)
        _done(f"{draft} is published.")


# -- gaps ----------------------------------------------------------------------------------------
def gaps_section() -> None:
    db = runtime().db
    c1, c2, c3 = st.columns([2, 2, 1])
    label = c1.selectbox("Range", list(RANGES), index=1, key="kn_gap_range")
    lang = c2.selectbox("Language", list(LANGS), key="kn_gap_lang")
    if c3.button("Refresh", key="kn_gap_refresh", help="Cluster new declined, weak and "
                 "thumbs-down questions."):  # fmt: skip
        with st.spinner("Clustering new questions…"):
            report = gaps.refresh(db, runtime().embeddings)
        st.success(f"{report.clustered} new question(s) clustered ({report.new_clusters} new "
                   f"gap(s), {report.feedback} from thumbs-down).")  # fmt: skip
    days = RANGES[label]
    until = datetime.now(UTC)
    found = gaps.gaps(db, since=until - timedelta(days=days), until=until, lang=LANGS[lang])
    if not found:
        st.info("No open knowledge gaps in this range. Refresh to cluster new questions.")
        return
    st.dataframe(
        [{"gap": g.id, "label": g.label, "language": g.lang, "questions": g.count,
          "declined": g.declined, "low score": g.low_score, "thumbs-down": g.thumbs_down,
          "last": g.last_at} for g in found],
        hide_index=True, width="stretch", key="kn_gaps",
    )  # fmt: skip
    for g in found:
        with st.expander(f"#{g.id} · {g.count} question(s) · {g.label}"):
            _gap(g, until - timedelta(days=days))


def trend_chart(g: gaps.Gap, since: datetime) -> alt.Chart:
    """Questions per day over the range (``g.trend`` starts on ``since``'s UTC day)."""
    first = since.astimezone(UTC).date()
    data = [{"day": (first + timedelta(days=i)).isoformat(), "questions": n}
            for i, n in enumerate(g.trend)]  # fmt: skip
    return (
        alt.Chart(alt.Data(values=data))
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=None),
            y=alt.Y("questions:Q", title="questions"),
            tooltip=["day:T", "questions:Q"],
        )
        .properties(height=140)
    )


def _gap(g: gaps.Gap, since: datetime) -> None:
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Example questions**")
        for q in g.examples:
            st.markdown(f"- {safe_markdown(' '.join(q.split()))}")
        rel = ", ".join(f"{r or '?'} ({n})" for r, n in g.releases.items())
        st.caption(f"Answered by {rel}" if rel else "")
    right.altair_chart(trend_chart(g, since), width="stretch")
    if not can(Capability.KNOWLEDGE):
        return
    db = runtime().db
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Dataset", key=f"kn_gap_ds_{g.id}", placeholder="knowledge gaps")
    if c1.button("Add to dataset", disabled=not name.strip(), key=f"kn_gap_add_{g.id}"):
        try:
            n = gaps.to_dataset(db, g.id, name.strip(), actor=actor())
        except UserFacingError as exc:
            _error(exc)
        else:
            st.success(f"{n} question(s) added to {name.strip()}.")
    if c2.button("Draft article", key=f"kn_gap_draft_{g.id}"):
        try:
            st.session_state[f"kn_gap_article_{g.id}"] = gaps.draft_article(db, g.id)
        except UserFacingError as exc:
            _error(exc)
    note = c3.text_input("Resolution note", key=f"kn_gap_note_{g.id}",
                         placeholder="article written")  # fmt: skip
    if c3.button("Resolve", key=f"kn_gap_resolve_{g.id}"):
        try:
            gaps.resolve(db, g.id, note=note, actor=actor())
        except UserFacingError as exc:
            _error(exc)
        else:
            st.session_state.pop(f"kn_gap_article_{g.id}", None)
            _done(f"Gap #{g.id} is resolved.")
    article = st.session_state.get(f"kn_gap_article_{g.id}")
    if article:
        st.code(article, language="markdown")
        st.download_button("Download the article", article.encode(),
                           file_name=f"gap-{g.id}.md", mime="text/markdown",
                           key=f"kn_gap_dl_{g.id}")  # fmt: skip
