"""The Overview says loudly when the trace writer did not store records."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import SpanRecord
from llmops.tracing.writer import SpanWriter
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui


def test_the_overview_says_loudly_when_records_were_lost(
    admin_app: AppTest, tmp_path: Path
) -> None:
    admin_app.run()
    admin_app.switch_page("pages/overview.py").run()
    assert not [e for e in admin_app.error if "Tracing did not store" in e.value]
    writer = SpanWriter(runtime().db, tmp_path / "spool", start=False)
    writer.submit(SpanRecord(new_trace_id(), new_span_id(), None, None, "chain", 1, 2))  # type: ignore[arg-type]
    assert writer.flush()
    from streamlit import cache_data

    cache_data.clear()
    admin_app.run()
    assert not admin_app.exception, admin_app.exception
    banner = [e.value for e in admin_app.error if "Tracing did not store" in e.value]
    assert banner and "1 quarantined" in banner[0] and "llmops db doctor" in banner[0]
