"""The Audit page: the audit log (filtered, paged, exported), erasure of a user or a session
behind a preview and a confirmation, and retention (what the settings keep, apply now).

All logic is in ``llmops.governance``; this module reads inputs and renders."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from llmops.errors import UserFacingError
from llmops.governance import audit, erasure, retention
from llmops.governance.roles import Actor, Capability, require
from llmops.ui.deps import runtime
from llmops.ui.widgets import Sections, actor, show_error

SECTIONS = ["Audit log", "Erasure", "Retention"]
_SECTIONS = Sections("au", SECTIONS)
section_picker, _done = _SECTIONS.pick, _SECTIONS.done
PAGE = 50
ANY = "(any)"
CONFIRM = "ERASE"


# -- audit log -----------------------------------------------------------------------------------
@st.cache_data(ttl=30, show_spinner=False)
def _choices() -> tuple[list[str], list[str]]:
    db = runtime().db
    return audit.actors(db), audit.actions(db)


def _day_start(d: date | None) -> datetime | None:
    return datetime.combine(d, time(), tzinfo=UTC) if d else None


def filter_bar() -> audit.AuditFilter:
    actors, actions = _choices()
    families = sorted({a.split(".", 1)[0] for a in actions})
    c1, c2, c3, c4 = st.columns(4)
    who = c1.selectbox("Actor", [ANY, *actors], key="au_actor")
    what = c2.selectbox(
        "Action", [ANY, *families, *actions], key="au_action",
        help="A family (release) covers all of its actions (release.promote, ...).",
    )  # fmt: skip
    since = c3.date_input("From (UTC)", value=None, key="au_since")
    until = c4.date_input("To (UTC, inclusive)", value=None, key="au_until")
    end = datetime.combine(until, time(), tzinfo=UTC) + timedelta(days=1) if isinstance(
        until, date) else None  # fmt: skip
    return audit.AuditFilter(
        actor=None if who == ANY else who,
        action=None if what == ANY else what,
        since=_day_start(since) if isinstance(since, date) else None,
        until=end,
    )


def _rows(rows: list[audit.AuditRow]) -> list[dict[str, Any]]:
    return [
        {"id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "target": r.target,
         "details": ", ".join(f"{k}={v}" for k, v in (r.details or {}).items())}
        for r in rows
    ]  # fmt: skip


def _exporter(flt: audit.AuditFilter, fmt: str, who: Actor) -> Any:
    """Built when the download is clicked: the export, audited as one itself."""

    def build() -> str:
        db = runtime().db
        name = require(db, who, Capability.EXPORTS, action="audit.export")
        data = audit.export_text(db, flt, fmt)
        audit.record(db, name, "audit.export", None, format=fmt, actor=flt.actor,
                     action=flt.action)  # fmt: skip
        return data

    return build


def audit_section() -> None:
    db = runtime().db
    flt = filter_bar()
    if st.session_state.get("au_filter") != flt:  # a new filter starts at the newest row
        st.session_state["au_filter"] = flt
        st.session_state["au_cursors"] = []
    cursors: list[int | None] = st.session_state.setdefault("au_cursors", [])
    before = cursors[-1] if cursors else None
    rows, more = audit.page(db, flt, limit=PAGE, before_id=before)
    total = audit.count(db, flt)
    if not rows:
        st.info("No audit rows match these filters.")
    else:
        st.dataframe(_rows(rows), hide_index=True, width="stretch", key="au_table")
    prev, info, nxt = st.columns([1, 3, 1])
    if prev.button("← Newer", disabled=not cursors, key="au_prev"):
        cursors.pop()
        st.rerun()
    info.caption(f"{total:,} row(s) · page {len(cursors) + 1} · newest first")
    if nxt.button("Older →", disabled=not more, key="au_next"):
        cursors.append(rows[-1].id)
        st.rerun()
    c1, c2 = st.columns(2)
    for col, fmt in ((c1, "csv"), (c2, "jsonl")):
        col.download_button(
            f"Export {fmt.upper()}", data=_exporter(flt, fmt, actor()),
            file_name=f"audit.{fmt}", mime="text/csv" if fmt == "csv" else "application/jsonl",
            key=f"au_export_{fmt}",
        )  # fmt: skip
    st.caption("Exports follow the filters and are audit rows themselves.")


# -- erasure -------------------------------------------------------------------------------------
def _subject() -> tuple[str | None, str | None] | None:
    """(user, session): one of them, or None while nothing is typed."""
    c1, c2 = st.columns([1, 3])
    kind = c1.radio("Erase", ["user", "session"], key="au_er_kind", horizontal=True)
    value = c2.text_input(
        "User id (as the app was given it, e.g. the e-mail)" if kind == "user" else "Session id",
        key="au_er_value", max_chars=500,
    ).strip()  # fmt: skip
    if not value:
        return None
    return (value, None) if kind == "user" else (None, value)


def _counts(report: erasure.ErasureReport) -> list[dict[str, Any]]:
    rows = [{"table": t, "rows": n} for t, n in sorted(report.counts.items()) if n]
    rows += [{"table": f"{t} (scrubbed)", "rows": n} for t, n in sorted(report.scrubbed.items())
             if n]  # fmt: skip
    return rows


def erasure_section() -> None:
    st.caption(
        "Removes every trace, span, feedback, guard event, review item, dataset item and "
        "evaluation trace derived from one person, scrubs their ids from improvements and the "
        "audit log, and adjusts the dashboards' rollups. It cannot be undone; the audit row "
        "keeps counts and a keyed hash of the subject, never the id."
    )
    subject = _subject()
    if subject is None:
        return
    db, settings = runtime().db, runtime().settings
    try:
        preview = erasure.erase(db, user=subject[0], session=subject[1], dry_run=True,
                                actor=actor(), settings=settings)  # fmt: skip
    except UserFacingError as exc:
        show_error(exc)
        return
    if not preview.total:
        st.info("Nothing in the store belongs to this subject.")
        return
    st.write(f"**{preview.total:,} row(s)** would be erased or scrubbed:")
    st.dataframe(_counts(preview), hide_index=True, key="au_er_preview")
    typed = st.text_input(f"Type {CONFIRM} to confirm", key="au_er_confirm")
    if st.button("Erase", type="primary", disabled=typed.strip() != CONFIRM, key="au_er_go"):
        try:
            report = erasure.erase(db, user=subject[0], session=subject[1], actor=actor(),
                                   settings=settings)  # fmt: skip
        except UserFacingError as exc:
            show_error(exc)
            return
        st.session_state.pop("au_er_value", None)
        st.session_state.pop("au_er_confirm", None)
        _choices.clear()
        _done(f"Erased {report.total:,} row(s); audit row {report.audit_id}.")


# -- retention -----------------------------------------------------------------------------------
LABELS = {
    "traces": "Traces and spans (chat, playground, red team)",
    "eval_traces": "Evaluation traces",
    "feedback": "Feedback",
    "guard_events": "Guard events",
    "audit_log": "Audit log",
}


def retention_section() -> None:
    db, settings = runtime().db, runtime().settings
    due = retention.apply(db, settings=settings, dry_run=True)
    st.dataframe(
        [{"data": LABELS[k], "kept for": f"{r.days} days" if r.days else "forever",
          "past retention now": r.rows if r.days else None} for k, r in due.kinds.items()],
        hide_index=True, key="au_retention",
    )  # fmt: skip
    st.caption(
        "Set with LLMOPS_RETENTION_*_DAYS (docs/governance.md). The app's background worker "
        f"applies them every {settings.retention_interval_s:g} s, `llmops retention apply` "
        "from cron; the dashboards keep their aggregates after raw rows go."
    )
    error = st.session_state.pop("au_ret_error", None)
    if error is not None:
        show_error(error)
    st.button("Apply retention now", disabled=not due.total, key="au_ret_go",
              on_click=_apply_now, args=(actor(),))  # fmt: skip


def _apply_now(who: Actor) -> None:
    """Runs before the page is drawn again, so the table above shows what is left."""
    rt = runtime()
    try:
        report = retention.apply(rt.db, settings=rt.settings, actor=who)
    except UserFacingError as exc:
        st.session_state["au_ret_error"] = exc
    else:
        # setdefault: a callback fired again in the same run (AppTest) must not hide the count
        st.session_state.setdefault("au_flash", f"Deleted {report.total:,} row(s) past retention.")
