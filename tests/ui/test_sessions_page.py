"""Sessions page (AppTest): the list from the store, a session as its conversation with each
turn's trace link, the users view, and the session link on the Traces page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import distinct, func, select
from streamlit.testing.v1 import AppTest

from llmops.store.models import Trace
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui


def _seed() -> list[str]:
    now = datetime.now(UTC) - timedelta(minutes=30)
    rows = [
        Trace(id=f"{i:032x}", session_id=f"sess-{i % 3}", user_id=f"user-{i % 2}",
              started_at=now + timedelta(minutes=i), input=f"question {i}",
              output=f"answer {i}", cost=0.01)
        for i in range(9)
    ]  # fmt: skip
    with runtime().db.session() as s:
        s.add_all(rows)
    return [r.id for r in rows]


def test_sessions_list_conversation_and_users(admin_app: AppTest) -> None:
    at = admin_app
    at.run()
    ids = _seed()
    at.switch_page("pages/sessions.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    with runtime().db.session() as s:
        n = s.scalar(select(func.count(distinct(Trace.session_id))))
    assert len(table) == n and set(table["turns"]) == {3}
    assert table["session"].iloc[0] == "/sessions?session=sess-2"  # most recent first

    at.query_params["session"] = "sess-1"
    at.run()
    assert not at.exception, at.exception
    said = [m.markdown[0].value for m in at.chat_message]
    assert said == ["question 1", "answer 1", "question 4", "answer 4", "question 7", "answer 7"]
    links = [(p.proto.label, p.proto.page, p.proto.query_string) for p in at.get("page_link")]
    assert links == [("Open trace →", "traces", f"trace={ids[i]}") for i in (1, 4, 7)]

    del at.query_params["session"]
    at.run()
    at.segmented_control(key="ss_section").set_value("Users").run()
    assert not at.exception, at.exception
    users = at.dataframe[0].value
    assert sorted(users["user"]) == ["user-0", "user-1"] and sum(users["turns"]) == 9


def test_traces_page_links_each_turn_to_its_session(admin_app: AppTest) -> None:
    at = admin_app
    at.run()
    _seed()
    at.switch_page("pages/traces.py").run()
    assert not at.exception, at.exception
    sessions = set(at.dataframe[0].value["session"])
    assert sessions == {f"/sessions?session=sess-{i}" for i in range(3)}
