"""Traces page widgets: filter bar, paged table, trace detail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from llmops import console, feedback
from llmops.errors import NotFoundError, UserFacingError
from llmops.governance.roles import Capability
from llmops.store import queries
from llmops.ui.auth import can
from llmops.ui.deps import release_ids, runtime, trace_page
from llmops.ui.overview import models, release_names
from llmops.ui.widgets import actor, page_count, pager, show_error

PAGE_SIZE = 25
STATUSES = ["any", "ok", "error", "blocked", "invalid_input"]
FEEDBACK = {"any": None, "👍 up": "up", "👎 down": "down", "none": "none"}


DRILL_PARAMS = ("since", "until", "status", "release", "model")


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def drill_window() -> tuple[datetime, datetime] | None:
    """A window from the URL (``?since=...&until=...``, the Overview's drill-down links).

    The first time a link is opened, its status and release preset the filters."""
    qp = st.query_params
    since, until = _when(qp.get("since")), _when(qp.get("until"))
    if since is None or until is None or until <= since:
        if qp.get("since") or qp.get("until"):
            st.warning("The time window in the link is not valid; showing the usual range.")
        return None
    link = tuple(qp.get(k) for k in DRILL_PARAMS)
    if st.session_state.get("tr_drill") != link:
        st.session_state["tr_drill"] = link
        status, release = qp.get("status"), qp.get("release")
        st.session_state["tr_status"] = status if status in STATUSES else "any"
        st.session_state["tr_release"] = release if release in release_ids() else "any"
        st.session_state["tr_page"] = 0
    return since, until


def filter_bar() -> queries.TraceFilter:
    window = drill_window()
    model = st.query_params.get("model") if window else None
    c1, c2, c3, c4, c5 = st.columns([2, 1, 2, 1, 3])
    since: datetime | None
    until: datetime | None
    if window:
        since, until = window
        c1.markdown(f"**{since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M} UTC**")
        if model:
            c1.caption(f"model {model}")
        if c1.button("Clear window", key="tr_clear_window"):
            for key in DRILL_PARAMS:
                st.query_params.pop(key, None)
            st.rerun()
    else:
        when = c1.selectbox("Time range", list(console.TIME_RANGES), index=2, key="tr_range")
        since, until = console.since_for(when), None
    status = c2.selectbox("Status", STATUSES, key="tr_status")
    release = c3.selectbox("Release", ["any", *release_ids()], key="tr_release")
    fb = c4.selectbox("Feedback", list(FEEDBACK), key="tr_feedback")
    text = c5.text_input("Search input, output or trace id", key="tr_text", max_chars=500)
    more = more_filters(model)
    return queries.TraceFilter(
        **more,
        since=since,
        until=until,
        status=None if status == "any" else status,
        release_id=None if release == "any" else release,
        feedback=FEEDBACK[fb],
        text=text.strip() or None,
    )


ACTIONS = ["any", "blocked", "fixed", "flagged"]


def more_filters(drilled_model: str | None) -> dict[str, Any]:
    """Guard validator and action, latency range, model, user, session, tag, feedback-comment
    text, and the sort order: all applied in SQL."""
    with st.expander("More filters and sort"):
        c = st.columns(4)
        validator = c[0].selectbox("Guard validator", ["any", *validators()], key="tr_validator")
        action = c[1].selectbox("Guard action", ACTIONS, key="tr_action")
        low = c[2].number_input("Latency ≥ ms", min_value=0.0, value=None, key="tr_lat_min")
        high = c[3].number_input("Latency ≤ ms", min_value=0.0, value=None, key="tr_lat_max")
        d = st.columns(4)
        model = d[0].selectbox("Model", ["any", *models()], key="tr_model")
        user = d[1].text_input("User id", key="tr_user", max_chars=200)
        session = d[2].text_input("Session id", key="tr_session", max_chars=100)
        tag = d[3].text_input("Tag", key="tr_tag", max_chars=100)
        e = st.columns([2, 1, 1])
        comment = e[0].text_input("Text in a feedback comment", key="tr_comment", max_chars=200)
        sort = e[1].selectbox("Sort by", list(queries.SORTS), key="tr_sort")
        descending = e[2].toggle("Descending", value=True, key="tr_desc")
    return {
        "validator": None if validator == "any" else validator,
        "guard_action": None if action == "any" else action,
        "min_latency_ms": low,
        "max_latency_ms": high,
        "model": drilled_model or (None if model == "any" else model),
        "user_id": user.strip() or None,
        "session_id": session.strip() or None,
        "tag": tag.strip() or None,
        "comment": comment.strip() or None,
        "sort": sort,
        "descending": descending,
    }


@st.cache_data(ttl=60, show_spinner=False)
def validators() -> list[str]:
    return queries.validators_seen(runtime().db)


def _rows(items: list[queries.TraceSummary], names: dict[str, str]) -> list[dict[str, Any]]:
    """One readable row per trace: release names, numbers left numeric (so the column sorts)
    and formatted by ``TRACE_COLUMNS``."""
    return [
        {
            "time": t.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            "status": t.status,
            "release": names.get(t.release_id or "", t.release_id or "—"),
            "model": t.model or "—",
            "latency": t.latency_ms,
            "tokens": t.input_tokens + t.output_tokens,
            "cost": t.cost,
            "feedback": console.feedback_label(t.thumbs_up, t.thumbs_down),
            "input": " ".join((t.input or "").split())[:200],
            "session": f"/sessions?session={t.session_id}" if t.session_id else None,
            "user": t.user_id or "",
            "trace": t.id,
        }
        for t in items
    ]


def trace_columns() -> dict[str, Any]:
    """Widths and formats of the Traces list: the question gets the room, ids stay short."""
    cc = st.column_config
    return {
        "time": cc.TextColumn("time (UTC)", width="medium"),
        "status": cc.TextColumn("status", width="small"),
        "release": cc.TextColumn("release", width="medium"),
        "model": cc.TextColumn("model", width="medium"),
        "latency": cc.NumberColumn("latency", format="%.0f ms", width="small"),
        "tokens": cc.NumberColumn("tokens", format="localized", width="small"),
        "cost": cc.NumberColumn("cost", format="$%.5f", width="small"),
        "feedback": cc.TextColumn("feedback", width="small"),
        "input": cc.TextColumn("question", width="large"),
        "session": cc.LinkColumn(
            "session", display_text=r"/sessions\?session=(.{0,12}).*", width="small"
        ),
        "user": cc.TextColumn("user", width="small"),
        "trace": cc.TextColumn("trace", width="small"),
    }


def trace_list(flt: queries.TraceFilter) -> None:
    page = st.session_state.get("tr_page", 0)
    items, total = trace_page(flt, PAGE_SIZE, page * PAGE_SIZE)
    pages = page_count(total, PAGE_SIZE)
    if page >= pages:
        st.session_state["tr_page"] = page = 0
        items, total = trace_page(flt, PAGE_SIZE, 0)
    if not items:
        st.info("No traces match these filters.")
        return
    event = st.dataframe(
        _rows(items, release_names()),
        hide_index=True,
        width="stretch",
        row_height=40,
        on_select="rerun",
        selection_mode="single-row",
        key="tr_table",
        column_config=trace_columns(),
    )
    selected = event.selection.rows if event is not None else []
    if selected:
        st.query_params["trace"] = items[selected[0]].id
        st.rerun()
    pager(
        "tr_page",
        page,
        more=page + 1 < pages,
        caption=f"Page {page + 1} of {pages} · {total:,} traces",
    )


def _json(value: Any) -> None:
    if value in (None, "", {}):
        st.caption("—")
    elif isinstance(value, str):
        try:
            st.json(json.loads(value), expanded=False)
        except ValueError:
            st.code(value, language=None, wrap_lines=True)
    else:
        st.json(value, expanded=False)


def _value(value: Any) -> None:
    """Chat messages as messages (role and text); anything else as JSON or text."""
    messages = console.as_messages(value)
    if messages is None:
        _json(value)
        return
    for role, text in messages:
        with st.container(border=True):
            st.caption(role)
            st.text(text)


def violations_panel(trace_id: str) -> None:
    """What the guards did on this turn: validator, direction, action, message, excerpt."""
    events = queries.trace_violations(runtime().db, trace_id)
    st.markdown(f"**Guard violations** ({len(events)})")
    if not events:
        st.caption("No guard flagged, fixed or blocked anything on this turn.")
        return
    st.dataframe(
        [
            {"validator": e["validator"], "direction": e["direction"], "action": e["action"],
             "message": e["message"], "excerpt (redacted)": e["excerpt"] or ""}
            for e in events
        ],
        hide_index=True,
        width="stretch",
        key="tr_violations",
    )  # fmt: skip


def review_form(trace_id: str) -> None:
    """An operator's score and comment, stored as reviewer feedback (source ``reviewer``),
    apart from the end users' thumbs."""
    with st.form(f"tr_review_{trace_id}", clear_on_submit=True, border=True):
        st.markdown("**Review this turn**")
        c1, c2 = st.columns([1, 3])
        score = c1.slider("Score", 0.0, 1.0, 0.5, 0.05, key="tr_review_score",
                          help="0 = wrong or harmful, 1 = exactly right.")  # fmt: skip
        comment = c2.text_area("Comment", key="tr_review_comment", max_chars=4000, height=80)
        if st.form_submit_button("Save review"):
            try:
                feedback.review(runtime().db, trace_id, float(score), comment=comment or None,
                                actor=actor())  # fmt: skip
            except UserFacingError as exc:
                show_error(exc)
            else:
                st.success("Review saved as reviewer feedback.")
                st.rerun()


def trace_detail(trace_id: str) -> None:
    if st.button("← All traces"):
        del st.query_params["trace"]
        st.rerun()
    try:
        detail = queries.get_trace(runtime().db, trace_id)
    except NotFoundError:
        st.error(f"Trace `{trace_id}` not found.")
        return
    t = detail.trace
    st.subheader(f"Trace `{t['id']}`")
    m = st.columns(6)
    m[0].metric("Status", t["status"])
    m[1].metric("Latency", f"{t['latency_ms'] or 0:.0f} ms")
    m[2].metric("Tokens in / out", f"{t['input_tokens']} / {t['output_tokens']}")
    m[3].metric("Cost", f"${t['cost']:.6f}")
    release = release_names().get(t["release_id"] or "", t["release_id"] or "—")
    m[4].metric("Release", release, help=f"release id {t['release_id'] or '—'}")
    m[5].metric("Model", t["model"] or "—")
    st.caption(  # the tiles cut long values: release and model in full here too
        f"{t['started_at']} · release {release} · model {t['model'] or '—'} · "
        f"session {t['session_id'] or '—'} · user {t['user_id'] or '—'}"
    )
    if t["session_id"]:  # in this browser session: no second sign-in
        st.page_link("pages/sessions.py", label="Open the whole session →",
                     query_params={"session": t["session_id"]})  # fmt: skip
    left, right = st.columns(2)
    left.markdown("**Input**")
    left.code(t["input"] or "", language=None, wrap_lines=True)
    right.markdown("**Output**")
    right.code(t["output"] or "", language=None, wrap_lines=True)
    if t["error"]:
        st.error(t["error"])
    violations_panel(t["id"])
    st.markdown("**Feedback**")
    if detail.feedback:
        for f in detail.feedback:
            if f["source"] == "reviewer":
                mark = f"🧑‍⚖️ score {f['score']:.2f}"
            else:
                mark = "👍" if f["score"] >= 0.5 else "👎"
            who = f["source"] + (f" {f['user_id']}" if f["source"] == "reviewer" else "")
            st.write(f"{mark} {f['comment'] or ''} — {who}, {f['created_at'][:19]}")
    else:
        st.caption("No feedback on this trace.")
    if can(Capability.REVIEW):
        review_form(t["id"])
    if detail.scores:
        st.markdown("**Scores**")
        st.dataframe(
            [
                {"evaluator": sc["name"], "score": round(sc["value"], 3),
                 "source": sc["source"] if not sc["run_id"] else f"run {sc['run_id']}",
                 "explanation": sc["explanation"] or ""}
                for sc in detail.scores
            ],
            hide_index=True,
            width="stretch",
            key="tr_scores",
        )  # fmt: skip
    rows = console.span_rows(detail)
    st.markdown(f"**Spans** ({len(rows)})")
    if rows:
        st.altair_chart(console.waterfall(rows), width="stretch")
    for r in rows:
        icon = "❌" if r["status"] == "error" else "•"
        with st.expander(
            f"{'— ' * r['depth']}{icon} {r['name']} · {r['kind']} · {r['duration_ms'] or 0:.1f} ms"
        ):
            if r["error"]:
                st.error(r["error"])
            st.markdown("Attributes")
            _json(r["attributes"])
            st.markdown("Input")
            _value(r["input"])
            st.markdown("Output")
            _value(r["output"])
