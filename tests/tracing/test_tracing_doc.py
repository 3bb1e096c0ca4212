"""The example of docs/tracing.md, run as written, lands in the store as the page says."""

from __future__ import annotations

import re
from pathlib import Path

from llmops.config import get_settings
from llmops.privacy import hash_user_id, load_key
from llmops.store.db import Database
from llmops.store.queries import get_trace, list_traces

DOC = Path(__file__).resolve().parents[2] / "docs" / "tracing.md"


def test_the_documented_example_traces_into_the_console_store() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Trace your own LangChain app into this console", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example, "docs/tracing.md lost its example"
    exec(compile(example.group(1), str(DOC), "exec"), {"__name__": "__doc_example__"})

    settings = get_settings()  # the test's LLMOPS_HOME, as the example's Runtime used it
    db = Database(settings.db_url)
    try:
        (row,) = list_traces(db)
        detail = get_trace(db, row.id)
    finally:
        db.dispose()
    trace = detail.trace
    assert trace["name"] == "capital-lookup"
    assert trace["output"] == "Paris."
    assert trace["tags"] == ["geography", "v2"]
    assert trace["session_id"] == "conv-42"
    assert trace["attributes"]["metadata"] == {"thread_id": "conv-42", "plan": "pro"}
    user = trace["user_id"]
    assert user != "ana@example.com"  # a personal user id is hashed (LLMOPS_USER_ID_MODE=auto)
    assert user == hash_user_id(load_key(settings), "ana@example.com")
    kinds = sorted(s["kind"] for s in detail.spans)
    assert kinds == ["chain", "llm", "parser", "prompt"]
