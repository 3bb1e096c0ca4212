"""AppTest: the Knowledge page — the shipped sources and their chunks, an upload with a bad
file among good ones (per-file results, one new version, nothing half-imported), re-ingest,
removal behind a confirmation, retrieval per release (a pinned release keeps its older
version), comparing and publishing versions, and gaps from declined questions to a dataset
and an article stub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from llmops.evals.datasets import list_items
from llmops.rag import versions
from llmops.rag.knowledge import list_sources
from llmops.releases import core
from llmops.ui.deps import runtime

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
SHIPPED = len([*KNOWLEDGE.glob("en/*.md"), *KNOWLEDGE.glob("es/*.md")])  # sources ingested
pytestmark = pytest.mark.ui

GUIDE = b"""# Quokka protocol

## What it is

The zephyrine quokka protocol is how the platform team rotates its on-call pager every
Thursday at noon. Whoever holds the pager hands it over in the #quokka channel.

## Exceptions

On public holidays the quokka handover moves to the next working day.
"""
PARKING = [
    "Where can I park my car at the office?",
    "Is there parking for employees at the office building?",
    "How do I get a parking space at the office?",
]


def _page(at: AppTest, section: str) -> AppTest:
    at.run()
    at.session_state["kn_section"] = section
    at.switch_page("pages/knowledge.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Knowledge"
    return at


def _table(at: AppTest, column: str) -> Any:
    """The first dataframe with ``column`` (display-only dataframes carry no key)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a {column!r} column")


def _tables(at: AppTest, column: str) -> list[Any]:
    return [df.value for df in at.dataframe if column in df.value.columns]


def _texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.error, *at.success, *at.info, *at.warning, *at.caption)]
    return "\n".join(str(p) for p in parts)


def _uploader(at: AppTest) -> Any:
    return next(w for w in at.file_uploader if (w.key or "").startswith("kn_upload_"))


def _ingest_file(tmp_path: Path, name: str, body: bytes, *, publish: bool = True) -> str:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    report = runtime().kb.ingest([path], actor="test", publish=publish, names={path: name})
    assert report.version, report
    return report.version


def test_the_sources_list_the_shipped_kb_and_a_source_has_its_chunks(admin_app: AppTest) -> None:
    at = _page(admin_app, "Sources")
    rows, total = list_sources(runtime().db, limit=500)
    assert total == SHIPPED and all(r.source.startswith(("en/", "es/")) for r in rows)
    table = _table(at, "source")
    assert list(table["source"]) == [r.source for r in rows][:25]  # the first page
    assert f"{total:,} source(s)" in _texts(at)
    first = rows[0]
    assert (
        table.iloc[0]["chunks"] == first.chunks and table.iloc[0]["hash"] == first.content_hash[:12]
    )

    at.text_input(key="kn_filter").set_value("ES/").run()
    filtered = _table(at, "source")
    assert len(filtered) == len(list(KNOWLEDGE.glob("es/*.md")))
    assert all(s.startswith("es/") for s in filtered["source"])

    at.selectbox(key="kn_pick").set_value("es/monitoring.md").run()
    at.button(key="kn_browse").click().run()
    assert at.session_state["kn_section"] == "Chunks"
    doc = next(r for r in rows if r.source == "es/monitoring.md")
    shown = [c.value for c in at.caption if "` · " in c.value]
    assert len(shown) == min(doc.chunks, 10)
    assert f"`{doc.content_hash[:16]}-0000`" in shown[0]
    assert f"{doc.chunks:,} chunk(s) in es/monitoring.md" in _texts(at)


def test_an_upload_reports_each_file_and_makes_one_version(admin_app: AppTest) -> None:
    at = _page(admin_app, "Sources")
    db = runtime().db
    before = versions.latest(db)
    _uploader(at).set_value([("quokka.md", GUIDE, "text/markdown"),
                             ("broken.md", b"\xff\xfe not utf-8 \x00", "text/markdown")])  # fmt: skip
    at.text_input(key="kn_note").set_value("on-call handbook")
    at.run()
    at.button(key="kn_ingest").click().run()
    assert not at.exception, at.exception
    results = _table(at, "result")
    got = dict(zip(results["source"], results["result"], strict=True))
    assert got == {"quokka.md": "added", "broken.md": "skipped"}
    reason = results.loc[results["source"] == "broken.md", "reason"].item()
    assert "UTF-8" in reason
    after = versions.latest(db)
    assert after == (before or 0) + 1
    assert f"Version {versions.name(after)} is published" in _texts(at)
    (made,) = versions.list_versions(db, limit=1)
    assert (made.note, made.created_by) == ("on-call handbook", "admin")
    # the good file is whole, the bad one is not there at all
    rows, _ = list_sources(db, contains="quokka")
    assert [(r.source, r.ingested_by) for r in rows] == [("quokka.md", "admin")]
    assert list_sources(db, contains="broken")[1] == 0
    chunks, count = runtime().kb.chunks("quokka.md", limit=50)
    assert count == rows[0].chunks == len(chunks) >= 2
    assert all(c.metadata["doc_hash"] == rows[0].content_hash for c in chunks)
    assert "quokka.md" in set(versions.manifest(db, after))
    assert "broken.md" not in set(versions.manifest(db, after))

    # the uploader is empty again; the same name again, changed, is an update (re-ingest)
    assert not _uploader(at).value
    _uploader(at).set_value(("quokka.md", GUIDE + b"\nThe pager is orange.\n", "text/markdown"))
    at.radio(key="kn_publish").set_value("Draft")
    at.run()
    at.button(key="kn_ingest").click().run()
    results = _table(at, "result")
    assert list(results["result"]) == ["updated"]
    assert f"Draft version {versions.name(after + 1)}" in _texts(at)
    assert versions.latest(db) == after  # a draft is not what the latest serves
    assert versions.newest(db) == after + 1


def test_a_source_is_removed_only_after_confirming(admin_app: AppTest) -> None:
    at = _page(admin_app, "Sources")
    db = runtime().db
    before = versions.latest(db)
    at.selectbox(key="kn_pick").set_value("en/monitoring.md")
    at.text_input(key="kn_rm_note").set_value("outdated")
    at.run()
    assert at.button(key="kn_remove").disabled
    at.checkbox(key="kn_rm_ok").check().run()
    at.button(key="kn_remove").click().run()
    assert not at.exception, at.exception
    removed = versions.latest(db)
    assert removed == (before or 0) + 1
    assert f"Removed en/monitoring.md: version {versions.name(removed)}" in _texts(at)
    assert "en/monitoring.md" not in set(_table(at, "source")["source"])
    assert list_sources(db, contains="en/monitoring")[1] == 0
    assert "en/monitoring.md" not in versions.manifest(db, removed)
    (made,) = versions.list_versions(db, limit=1)
    assert (made.note, made.sources) == ("outdated", SHIPPED - 1)
    assert not at.checkbox(key="kn_rm_ok").value  # the confirmation does not carry over


def test_retrieval_is_shown_per_release_with_its_pinned_version(
    admin_app: AppTest, tmp_path: Path
) -> None:
    at = _page(admin_app, "Retrieval")
    db = runtime().db
    old = versions.name(versions.latest(db))
    prod = core.get_release(db, core.labels(db).production or "")
    pinned = core.create_release(
        db, prod.config.model_copy(update={"kb_version": old}), name="pinned", actor="test"
    )
    new = _ingest_file(tmp_path, "quokka.md", GUIDE)
    at.run()
    at.multiselect(key="kn_rt_pick").set_value([prod.id, pinned.id])
    at.text_input(key="kn_rt_q").set_value("What is the zephyrine quokka protocol?")
    at.run()
    at.button(key="kn_rt_run").click().run()
    assert not at.exception, at.exception
    texts = _texts(at)
    assert f"{new} (latest published) · k {prod.config.retrieval.k}" in texts
    assert f"{old} (pinned) · k {prod.config.retrieval.k}" in texts
    hits = _tables(at, "retriever")
    assert len(hits) == 2
    latest_hits, pinned_hits = hits
    assert latest_hits.iloc[0]["source"] == "quokka.md"
    assert {"dense", "keyword", "dense+keyword"} >= set(latest_hits["retriever"])
    assert "keyword" in latest_hits.iloc[0]["retriever"]  # "quokka" is in no other source
    assert len(latest_hits) <= prod.config.retrieval.k
    assert "quokka.md" not in set(pinned_hits["source"])


def test_versions_are_listed_compared_and_a_draft_published(
    admin_app: AppTest, tmp_path: Path
) -> None:
    db = runtime().db
    base = versions.latest(db) or 0
    path = tmp_path / "en" / "what-is-llmops.md"
    path.parent.mkdir()
    path.write_text((Path("knowledge/en/what-is-llmops.md")).read_text() + "\nOne more line.\n")
    guide = tmp_path / "quokka.md"
    guide.write_bytes(GUIDE)
    report = runtime().kb.ingest([path, guide], actor="ana", note="a try", publish=False,
                                 names={path: "en/what-is-llmops.md"})  # fmt: skip
    assert report.version == versions.name(base + 1)
    at = _page(admin_app, "Versions")
    table = _table(at, "state")
    assert list(table["version"][:2]) == [versions.name(base + 1), versions.name(base)]
    assert list(table["state"][:2]) == ["draft", "latest"]
    assert (table.iloc[0]["by"], table.iloc[0]["note"]) == ("ana", "a try")
    assert table.iloc[0]["sources"] == table.iloc[1]["sources"] + 1
    diff = _table(at, "change")
    assert dict(zip(diff["source"], diff["change"], strict=True)) == {
        "en/what-is-llmops.md": "changed",
        "quokka.md": "added",
    }
    at.selectbox(key="kn_cmp_a").set_value(versions.name(base + 1)).run()
    assert "hold the same content" in _texts(at)

    at.selectbox(key="kn_pub_pick").set_value(versions.name(base + 1)).run()
    assert at.button(key="kn_pub").disabled
    at.checkbox(key="kn_pub_ok").check().run()
    at.button(key="kn_pub").click().run()
    assert f"{versions.name(base + 1)} is published" in _texts(at)
    assert versions.latest(db) == base + 1
    assert _table(at, "state").iloc[0]["state"] == "latest"


def test_declined_questions_become_a_gap_with_a_dataset_and_an_article(
    admin_app: AppTest,
) -> None:
    at = _page(admin_app, "Gaps")
    assert "No open knowledge gaps" in _texts(at)
    rt = runtime()
    for q in PARKING:
        rt.chat.ask(q, session_id="live")
    assert rt.writer.flush()
    at.button(key="kn_gap_refresh").click().run()
    assert not at.exception, at.exception
    assert "3 new question(s) clustered (1 new gap(s)" in _texts(at)
    table = _table(at, "gap")
    assert len(table) == 1 and table.iloc[0]["questions"] == 3
    gid = int(table.iloc[0]["gap"])
    assert table.iloc[0]["declined"] + table.iloc[0]["low score"] == 3

    at.text_input(key=f"kn_gap_ds_{gid}").set_value("parking gaps").run()
    at.button(key=f"kn_gap_add_{gid}").click().run()
    assert "3 question(s) added to parking gaps" in _texts(at)
    items, total = list_items(rt.db, "parking gaps")
    assert total == 3 and {i.input for i in items} == set(PARKING)

    at.button(key=f"kn_gap_draft_{gid}").click().run()
    article = next(c.value for c in at.code if c.value.startswith("# "))
    assert all(f"## {q}" in article for q in PARKING)
    assert at.download_button(key=f"kn_gap_dl_{gid}")

    at.selectbox(key="kn_gap_lang").set_value("Spanish").run()
    assert "No open knowledge gaps" in _texts(at)
    at.selectbox(key="kn_gap_lang").set_value("English").run()
    at.text_input(key=f"kn_gap_note_{gid}").set_value("article written").run()
    at.button(key=f"kn_gap_resolve_{gid}").click().run()
    assert f"Gap #{gid} is resolved." in _texts(at)
    assert "No open knowledge gaps" in _texts(at)
