"""A chat session over Streamlit's own websocket protocol, as the browser speaks it.

The browser's part of a chat turn is: open ``/_stcore/stream``, ask for a script run, read the
chat input's widget id from the rendered page, send a run whose widget state carries the
message, and read the streamed reply until the page has finished rerunning. This client does
exactly that with Streamlit's protobuf messages (``streamlit.proto``), so a load test measures
nginx, the replica's script runs and the chat pipeline without a browser's rendering cost
— and a browser is never faster than this. Used by bench/scale.py.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import ClientConnection, connect

TRACE = re.compile(rb"trace `([0-9a-f]{32})`")


@dataclass
class Reply:
    trace_id: str
    seconds: float  # message sent -> the reply's trace caption received
    idle_seconds: float  # message sent -> the page's rerun finished (ready for the next)


class ChatSession:
    """One browser-like session; ``cookie`` pins it to a replica behind nginx."""

    def __init__(self, base_url: str, *, cookie: str | None = None, timeout: float = 120) -> None:
        ws_url = base_url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"
        headers = {"Cookie": cookie} if cookie else {}
        self.timeout = timeout
        self.ws: ClientConnection = connect(
            ws_url,
            subprotocols=["streamlit"],  # type: ignore[list-item]
            additional_headers=headers,
            origin=base_url,  # type: ignore[arg-type]
            max_size=None,
            open_timeout=timeout,
        )
        self.page_hash = ""
        self.chat_input_id: str | None = None
        self.seen: set[str] = set()
        self._run()  # the first page render: finds the chat input
        if self.chat_input_id is None:
            raise RuntimeError("the chat page rendered no chat input")

    def _send(self, widget_states: list[tuple[str, str]]) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = self.page_hash
        for wid, text in widget_states:
            w = state.widget_states.widgets.add()
            w.id = wid
            w.chat_input_value.data = text
        self.ws.send(msg.SerializeToString())

    def _read(self) -> tuple[ForwardMsg, bytes]:
        raw = self.ws.recv(timeout=self.timeout)
        data = raw if isinstance(raw, bytes) else raw.encode()
        fwd = ForwardMsg()
        fwd.ParseFromString(data)
        return fwd, data

    def _run(self, message: str | None = None) -> tuple[str | None, float]:
        """One script run (with ``message`` in the chat input); returns the new trace id and
        when its caption arrived, after the run (and the chat's st.rerun) finished."""
        start = time.perf_counter()
        if message is None:
            self._send([])
        else:
            if self.chat_input_id is None:
                raise RuntimeError("no chat input")
            self._send([(self.chat_input_id, message)])
        trace: str | None = None
        at = 0.0
        while True:
            fwd, data = self._read()
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash or self.page_hash
            elif kind == "page_info_changed":
                pass
            elif kind == "delta":
                el = fwd.delta.new_element
                if el.WhichOneof("type") == "chat_input":
                    self.chat_input_id = el.chat_input.id
                if message is not None and trace is None:
                    for m in TRACE.finditer(data):
                        tid = m.group(1).decode()
                        if tid not in self.seen:
                            trace, at = tid, time.perf_counter() - start
                            self.seen.add(tid)
            elif kind == "script_finished":
                status = fwd.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # the chat page reruns itself after a turn
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise RuntimeError("the app failed to run")
                if message is None or trace is not None:
                    return trace, at

    def ask(self, message: str) -> Reply:
        start = time.perf_counter()
        trace, at = self._run(message)
        if trace is None:
            raise RuntimeError(f"no reply to {message!r}")
        return Reply(trace, at, time.perf_counter() - start)

    def close(self) -> None:
        self.ws.close()
