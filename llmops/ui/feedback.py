"""Feedback page widgets: what users like and dislike, and why.

Thumbs-up rate over time and by release (from the rollups), the ratings with their comments
(paged in SQL, newest first) and the trace behind each, "add to dataset" for the evaluation
engineer's datasets, and streamed exports (feedback CSV / JSONL, fine-tuning JSONL).
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import streamlit as st

from llmops.errors import UserFacingError
from llmops.governance.roles import Actor, Capability
from llmops.monitoring import charts, metrics
from llmops.monitoring import feedback as fbm
from llmops.monitoring.metrics import Stats
from llmops.store.db import Database
from llmops.ui.auth import can
from llmops.ui.deps import release_ids, runtime
from llmops.ui.overview import RANGES, actor, models, now, release_label, release_names
from llmops.ui.widgets import pager

PAGE_SIZE = 25
EXPORTS = (
    ("Feedback (CSV)", "feedback", "csv", "text/csv"),
    ("Feedback (JSONL)", "feedback", "jsonl", "application/jsonl"),
    ("Fine-tuning data (OpenAI chat JSONL)", "finetune", "jsonl", "application/jsonl"),
)


def datasets_available() -> bool:
    """The "add to dataset" action needs the evaluation package's datasets module."""
    try:
        return importlib.util.find_spec("llmops.evals.datasets") is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class FeedbackView:
    length: timedelta
    release_id: str | None
    model: str | None
    down_only: bool
    has_comment: bool

    def scope(self) -> metrics.Scope:
        return metrics.Scope.last(self.length, now(), release_id=self.release_id, model=self.model)

    def flt(self) -> fbm.FeedbackFilter:
        scope = self.scope()
        return fbm.FeedbackFilter(
            since=scope.since,
            release_id=self.release_id,
            model=self.model,
            down_only=self.down_only,
            has_comment=self.has_comment,
        )


def filter_bar() -> FeedbackView:
    c = st.columns([2, 3, 2, 1, 1], vertical_alignment="bottom")
    label = c[0].selectbox("Time range", list(RANGES), index=3, key="fb_range")
    release = c[1].selectbox(
        "Release", ["any", *release_ids()], key="fb_release", format_func=release_label
    )
    model = c[2].selectbox("Model", ["any", *models()], key="fb_model")
    down = c[3].toggle("👎 only", key="fb_down")
    comment = c[4].toggle("With comment", key="fb_comment")
    return FeedbackView(
        RANGES[label],
        None if release == "any" else release,
        None if model == "any" else model,
        down,
        comment,
    )


@st.cache_data(ttl=10, show_spinner=False)
def _summary(scope: metrics.Scope) -> tuple[list[Stats], Stats, Stats, list[Stats]]:
    db = runtime().db
    series = metrics.series(db, scope, group="release")
    current, previous = metrics.compare(db, scope)
    return series, current, previous, metrics.summary(db, scope, group="release")


def summary(view: FeedbackView) -> None:
    scope = view.scope()
    period = metrics.period_for(scope)
    series, current, previous, by = _summary(scope)
    cols = st.columns(4)
    for col, metric in zip(cols, ("feedback", "thumbs_up_rate", "traces"), strict=False):
        k = charts.kpi(metric, current, previous)
        col.metric(k["label"], k["value"], k["delta"], delta_color=k["delta_color"],
                   help=k["help"], border=True)  # fmt: skip
    rated = current.feedback / current.traces if current.traces else None
    cols[3].metric("Rated turns", "—" if rated is None else f"{rated:.1%}", border=True,
                   help="Ratings per trace in the range.")  # fmt: skip
    if not current.feedback:
        st.info("No feedback in this range yet.")
        return
    names = release_names()
    left, right = st.columns([3, 2])
    with left.container(border=True):
        st.markdown("**Thumbs-up rate by release**")
        st.altair_chart(
            charts.time_chart(
                series, "thumbs_up_rate", period.grain, names, domain=(period.since, period.until)
            ),
            width="stretch",
            key="fb_rate_chart",
        )
    with right.container(border=True):
        st.markdown("**Ratings**")
        st.altair_chart(
            charts.time_chart(
                series, "feedback", period.grain, names, domain=(period.since, period.until)
            ),
            width="stretch",
            key="fb_count_chart",
        )
    st.dataframe(
        [
            {"release": charts.label_for(s.group, names), "ratings": s.feedback,
             "thumbs up": s.thumbs_up, "thumbs down": s.feedback - s.thumbs_up,
             "thumbs-up rate": s.thumbs_up_rate, "traces": s.traces}
            for s in sorted(by, key=lambda s: -s.feedback)
            if s.feedback
        ],
        hide_index=True,
        width="stretch",
        key="fb_by_release",
        column_config={"thumbs-up rate": st.column_config.NumberColumn(format="percent")},
    )  # fmt: skip


def comments(view: FeedbackView) -> None:
    if st.session_state.get("fb_page_of") != view:  # new filters start at the first page
        st.session_state["fb_page_of"] = view
        st.session_state["fb_page"] = 0
    page = st.session_state.get("fb_page", 0)
    rows, more = fbm.list_feedback(
        runtime().db, view.flt(), limit=PAGE_SIZE, offset=page * PAGE_SIZE
    )
    st.markdown("**Ratings and comments**")
    if not rows:
        st.caption("No ratings match these filters.")
        return
    names = release_names()
    event = st.dataframe(
        [
            {"time": r.created_at.strftime("%Y-%m-%d %H:%M"), "": "👍" if r.score >= 0.5 else "👎",
             "comment": r.comment or "", "question": (r.input or "")[:120],
             "answer": (r.output or "")[:120],
             "release": charts.label_for(r.release_id or "", names), "model": r.model or "",
             "source": r.source, "trace": f"/traces?trace={r.trace_id}"}
            for r in rows
        ],
        hide_index=True,
        width="stretch",
        key="fb_table",
        on_select="rerun",
        selection_mode="multi-row",
        column_config={"trace": st.column_config.LinkColumn("trace", display_text="open")},
    )  # fmt: skip
    pager("fb_page", page, more=more, caption=f"Page {page + 1}")
    if datasets_available():
        selected = [rows[i].trace_id for i in (event.selection.rows if event is not None else [])]
        add_to_dataset(rows, selected)


def add_to_dataset(rows: list[fbm.FeedbackRow], selected: list[str]) -> None:
    """Rows picked in the table (or in the list below it) become evaluation cases."""
    from llmops.evals import datasets, mining

    if not can(Capability.DATASETS):
        return

    with st.container(border=True):
        st.markdown("**Add turns to an evaluation dataset**")
        options = {
            r.trace_id: f"{r.created_at:%m-%d %H:%M} {'👍' if r.score >= 0.5 else '👎'} "
            f"{(r.input or '')[:60]}"
            for r in rows
        }
        if st.session_state.get("fb_pick_from") != selected:  # the table selection changed
            st.session_state["fb_pick_from"] = selected
            st.session_state["fb_pick"] = [t for t in selected if t in options]
        trace_ids: list[str] = st.multiselect(
            "Turns", list(options), format_func=lambda t: options[t], key="fb_pick",
            placeholder="Select rows in the table, or pick turns here",
        )  # fmt: skip
        names = [d.name for d in datasets.list_datasets(runtime().db)]
        c = st.columns([3, 1], vertical_alignment="bottom")
        name = c[0].text_input(
            "Dataset (existing or new)",
            value=names[0] if names else "from-feedback",
            key="fb_dataset",
            help=("Existing: " + ", ".join(names[:10])) if names else None,
        )
        clicked = c[1].button(
            f"Add {len(trace_ids)} turn(s)", disabled=not trace_ids, key="fb_add", type="primary"
        )
        if clicked:
            try:
                added = mining.add_from_traces(runtime().db, name, trace_ids, actor=actor())
                st.success(
                    f"Added {added} case(s) to {name!r}"
                    + (f"; {len(trace_ids) - added} were already there." if added < len(trace_ids)
                       else ".")
                )  # fmt: skip
            except UserFacingError as exc:
                st.error(str(exc))


def export_file(
    db: Database, kind: str, fmt: str, flt: fbm.FeedbackFilter, who: Actor
) -> Callable[[], bytes]:
    """A download callable: on click, streams the export from SQL and returns its bytes (the
    store is bound now: the callable runs outside the script run).

    It returns ``bytes`` because Streamlit converts a deferred download's result with its own
    type switch, which rejects ``BufferedRandom`` (a temporary file) and keeps the whole file
    in memory anyway; very large exports belong to ``llmops monitor export``."""

    def build() -> bytes:
        buffer = io.BytesIO()
        text = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
        fbm.export(db, text, kind=kind, fmt=fmt, flt=flt, actor=who)
        text.flush()
        text.detach()  # so collecting the wrapper does not close the buffer
        return buffer.getvalue()

    return build


def exports(view: FeedbackView) -> None:
    if not can(Capability.EXPORTS):  # raw conversations leave the store: admins only
        return
    st.markdown("**Export**")
    st.caption(
        "Exports follow the filters above and are written to the audit log. Fine-tuning data "
        "holds the turns rated up (and never down) that answered without error, as "
        '`{"messages": [system, user, assistant]}` lines. For very large exports use '
        "`llmops monitor export` on the server."
    )
    flt = view.flt()
    who = actor()
    db = runtime().db
    cols = st.columns(len(EXPORTS))
    for col, (label, kind, fmt, mime) in zip(cols, EXPORTS, strict=True):
        if kind == "finetune" and view.down_only:
            col.button(label, disabled=True, key=f"fb_dl_{kind}_{fmt}",
                       help="Fine-tuning data comes from thumbs-up turns.")  # fmt: skip
            continue
        col.download_button(
            label,
            data=export_file(db, kind, fmt, flt, who),
            file_name=f"llmops-{kind}.{fmt}",
            mime=mime,
            key=f"fb_dl_{kind}_{fmt}",
            on_click="ignore",
        )
