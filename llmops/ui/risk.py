"""The risk report in the console: in full on the Safety page (with Markdown and JSON
downloads), and as a summary next to the promotion confirm on the Releases page, with a
visible warning for every failed gate (red-team, evaluation, fairness). The report itself is
``llmops.redteam.report``; this module only renders it."""

from __future__ import annotations

import json
import re

import streamlit as st

from llmops.errors import UserFacingError
from llmops.markdown import safe_markdown
from llmops.redteam import report as risk
from llmops.redteam.report_md import BADGE, render
from llmops.releases.core import list_releases
from llmops.ui.deps import runtime
from llmops.ui.widgets import show_error

CACHE_TTL = 10
GATE_TITLE = {"redteam": "Red-team gate", "evaluation": "Evaluation gate",
              "fairness": "Fairness gate"}  # fmt: skip


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _report(release_id: str) -> risk.RiskReport:
    return risk.build(runtime().db, release_id)


def _gate_line(g: risk.Gate) -> str:
    mark = "✅" if g.passed else "❌" if g.passed is False else "∅"
    return f"{mark} **{GATE_TITLE.get(g.name, g.name)}** — {g.message}"


def promotion_summary(release_id: str) -> risk.RiskReport | None:
    """The report's gates and section verdicts, before the promotion confirm; a failed gate
    is an ``st.warning`` the approver cannot miss."""
    try:
        report = _report(release_id)
    except UserFacingError as exc:
        show_error(exc)
        return None
    failed = report.failed_gates
    if failed:
        st.warning(
            f"⚠️ {len(failed)} gate(s) failed for this release — read the risk report before "
            "promoting:\n\n" + "\n".join(f"- {safe_markdown(_gate_line(g))}" for g in failed),
        )
    st.markdown("**Risk report**")
    for g in report.gates:
        if g.passed is not False:
            st.caption(safe_markdown(_gate_line(g)))
    cols = st.columns(len(report.sections))
    for col, s in zip(cols, report.sections, strict=True):
        col.caption(f"{s.title}: {BADGE[s.status]}", help=s.summary)
    st.page_link("pages/safety.py", label="Full risk report (Safety → Risk report)", icon="📋")
    return report


def _releases() -> dict[str, str]:
    rows = list_releases(runtime().db, limit=200)
    return {r.id: f"{r.name} · {r.id}" + (f" [{', '.join(r.labels)}]" if r.labels else "")
            for r in rows}  # fmt: skip


def report_section() -> None:
    """The full report of a chosen release (production first)."""
    releases = _releases()
    if not releases:
        st.info("No release yet: run `llmops db upgrade`.")
        return
    ids = list(releases)
    production = next((r for r, name in releases.items() if "production" in name), ids[0])
    release_id = st.selectbox("Release", ids, index=ids.index(production), key="sf_report_release",
                              format_func=releases.__getitem__)  # fmt: skip
    try:
        report = _report(release_id)
    except UserFacingError as exc:
        show_error(exc)
        return
    if report.failed_gates:
        st.warning(f"⚠️ {len(report.failed_gates)} gate(s) failed: "
                   + "; ".join(GATE_TITLE.get(g.name, g.name) for g in report.failed_gates))  # fmt: skip
    text = render(report)
    left, right, _ = st.columns([1, 1, 3])
    left.download_button("Markdown", text, file_name=f"risk-{release_id}.md",
                         mime="text/markdown", key="sf_report_md")  # fmt: skip
    right.download_button("JSON", json.dumps(report.as_dict(), indent=2, ensure_ascii=False),
                          file_name=f"risk-{release_id}.json", mime="application/json",
                          key="sf_report_json")  # fmt: skip
    with st.container(border=True):  # the report's headings two levels down, inside the page
        st.markdown(safe_markdown(re.sub(r"^(#{1,2}) ", r"##\1 ", text, flags=re.M)))
    _trace_links(report)


def _trace_links(report: risk.RiskReport) -> None:
    items = [i for i in report.section("findings").data["items"] if i["trace_id"]]
    if items:
        st.dataframe(
            [{"finding": i["what"], "why": i["why"], "trace": f"/traces?trace={i['trace_id']}"}
             for i in items],
            column_config={"trace": st.column_config.LinkColumn(display_text="open")},
            hide_index=True, width="stretch", key="sf_report_traces",
        )  # fmt: skip
