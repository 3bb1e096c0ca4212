"""Evaluations → Datasets: import files, browse, edit and export a dataset's cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from llmops.errors import UserFacingError
from llmops.evals import datasets
from llmops.governance.roles import Capability
from llmops.ui.auth import can
from llmops.ui.deps import runtime
from llmops.ui.evals.common import PAGE_SIZE, cached_datasets, cached_items, refresh
from llmops.ui.widgets import actor, offset_pager, show_error


# -- datasets ----------------------------------------------------------------------------------
def _import_panel() -> None:
    with st.expander("Import cases (JSONL or CSV)", expanded=not cached_datasets()):
        st.caption(
            "One case a line: `input` (required), `expected`, `must_include` (list), `lang`, "
            "`tags`, `metadata`. A bad line is reported and nothing is imported."
        )
        upload = st.file_uploader("File", type=["jsonl", "csv"], key="ev_upload")
        pasted = st.text_area("…or paste JSONL", key="ev_paste", height=120)
        name = st.text_input("Dataset name", key="ev_import_name", max_chars=200)
        left, right = st.columns(2)
        if left.button("Import", type="primary", key="ev_import"):
            try:
                if upload is not None:
                    fmt = "csv" if upload.name.lower().endswith(".csv") else "jsonl"
                    cases = datasets.parse_cases(upload.getvalue(), fmt, upload.name)
                    target = name.strip() or upload.name.rsplit(".", 1)[0]
                else:
                    cases = datasets.parse_jsonl(pasted, "pasted text")
                    target = name.strip()
                info, added = datasets.import_cases(runtime().db, target, cases, actor=actor())
            except datasets.InvalidFileError as exc:
                st.error(f"{len(exc.errors)} invalid line(s): nothing was imported.")
                st.dataframe([{"line": n, "problem": m} for n, m in exc.errors],
                             hide_index=True, key="ev_import_errors")  # fmt: skip
                return
            except UserFacingError as exc:
                show_error(exc)
                return
            refresh()
            st.session_state["ev_dataset"] = info.name
            present = len(cases) - added
            st.success(
                f"Imported {added} case(s) into {info.name} (version {info.version})"
                + (f"; {present} already in the dataset." if present else ".")
            )
        if right.button("Load the demo dataset", key="ev_demo"):
            info = datasets.load_demo(runtime().db, actor=actor())
            refresh()
            st.session_state["ev_dataset"] = info.name
            st.success(f"{info.name}: {info.items} cases in English and Spanish.")


def _case_form(prefix: str, item: datasets.Item | None) -> dict[str, Any]:
    """The fields of a case as an import record (validated when the form is submitted)."""
    text = st.text_area("Input", value=item.input if item else "", key=f"{prefix}_input")
    expected = st.text_area(
        "Expected answer", value=(item.expected or "") if item else "", key=f"{prefix}_expected"
    )
    must = st.text_area(
        "Must include (one phrase a line)",
        value="\n".join(item.must_include) if item else "",
        key=f"{prefix}_must",
    )
    c1, c2 = st.columns(2)
    lang = c1.text_input("Language", value=(item.lang or "") if item else "", key=f"{prefix}_lang")
    tags = c2.text_input(
        "Tags (comma-separated)", value=", ".join(item.tags) if item else "", key=f"{prefix}_tags"
    )
    return {
        "input": text,
        "expected": expected or None,
        "must_include": [m.strip() for m in must.splitlines() if m.strip()],
        "lang": lang.strip() or None,
        "tags": [t.strip() for t in tags.split(",") if t.strip()],
        "metadata": item.metadata if item else None,
        "origin_trace_id": item.origin_trace_id if item else None,
    }


def _valid(record: dict[str, Any]) -> datasets.Case | None:
    try:
        return datasets.case_from_dict(record)
    except ValueError as exc:
        st.error(str(exc))
        return None


def _exporter(name: str, version: int, fmt: str) -> Callable[[], str]:
    """Built only when the download is clicked (on Streamlit's own thread); audited."""
    who = actor()
    return lambda: datasets.export_cases(runtime().db, name, version=version, fmt=fmt, actor=who)


def datasets_section() -> None:
    editor = can(Capability.DATASETS)
    if editor:
        _import_panel()
    all_sets = cached_datasets()
    if not all_sets:
        st.info("No dataset yet: import a file, load the demo dataset, or add thumbs-down "
                "traces from Suggestions.")  # fmt: skip
        return
    names = [d.name for d in all_sets]
    if st.session_state.get("ev_dataset") not in names:
        st.session_state["ev_dataset"] = names[0]
    name = st.selectbox("Dataset", names, key="ev_dataset")
    info = next(d for d in all_sets if d.name == name)
    st.caption(
        f"Version {info.version} · {info.items} items · by {info.created_by}"
        + (f" · source {info.source}" if info.source else "")
    )
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
    # widget keys per dataset (and version): a choice never outlives the list it came from
    versions = list(range(info.version, -1, -1))
    version = c1.selectbox("Version", versions, key=f"ev_version_{info.id}_{info.version}")
    text = c2.text_input("Search input or expected answer", key="ev_item_text", max_chars=200)
    for col, fmt in ((c3, "jsonl"), (c4, "csv")):
        col.download_button(
            f"Export {fmt.upper()}",
            data=_exporter(name, version, fmt),
            file_name=f"{name}-v{version}.{fmt}",
            mime="text/csv" if fmt == "csv" else "application/jsonl",
            key=f"ev_export_{fmt}",
        )
    offset = offset_pager(
        f"ev_items_page_{info.id}", cached_items(name, version, text, 0)[1], PAGE_SIZE
    )
    items, _ = cached_items(name, version, text, offset)
    st.dataframe(
        [{"id": i.id, "input": i.input, "expected": i.expected or "",
          "must include": " | ".join(i.must_include), "lang": i.lang, "tags": ", ".join(i.tags),
          "from trace": f"/traces?trace={i.origin_trace_id}" if i.origin_trace_id else None,
          "added in": i.added_in} for i in items],
        hide_index=True, width="stretch", key="ev_items",
        column_config={"from trace": st.column_config.LinkColumn(display_text="open")},
    )  # fmt: skip
    if version != info.version:
        st.caption("An older version is read-only; edits apply to the current version.")
        return
    if not editor:
        return
    by_id = {i.id: i for i in items}
    pick = st.selectbox(
        "Edit an item of this page",
        [None, *by_id],
        format_func=lambda i: "—" if i is None else f"#{i} · {by_id[i].input[:80]}",
        key=f"ev_edit_pick_{info.id}",
    )
    if pick is not None:
        item = by_id[pick]
        with st.form(f"ev_edit_{item.id}"):
            st.markdown(f"**Edit item {item.id}** (saving creates version {info.version + 1})")
            record = _case_form(f"ev_edit_{item.id}", item)
            save, remove = st.columns(2)
            saved = save.form_submit_button("Save", type="primary")
            removed = remove.form_submit_button("Remove from dataset")
        try:
            if saved and (case := _valid(record)) is not None:
                new = datasets.update_item(runtime().db, name, item.id, case, actor=actor())
                refresh()
                st.success(f"Saved as item {new.id}.")
            elif removed:
                datasets.remove_items(runtime().db, name, [item.id], actor=actor())
                refresh()
                st.success(f"Removed item {item.id}.")
        except UserFacingError as exc:
            show_error(exc)
    with st.expander("Add a case"), st.form("ev_add", clear_on_submit=True):
        record = _case_form("ev_add", None)
        if st.form_submit_button("Add") and (case := _valid(record)) is not None:
            try:
                _, added = datasets.import_cases(
                    runtime().db, name, [case], actor=actor(), create=False
                )
                refresh()
                if added:
                    st.success("Added.")
                else:
                    st.info("This case is already in the dataset.")
            except UserFacingError as exc:
                show_error(exc)
