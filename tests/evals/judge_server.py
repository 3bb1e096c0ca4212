"""An OpenAI chat-completions server on 127.0.0.1 that plays an LLM judge.

``grade(messages) -> str`` decides each reply; ``mode`` scripts failures ("500"). Records the
requests. Non-streaming only: the judge calls ``invoke``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {"prompt_tokens": 200, "completion_tokens": 30, "total_tokens": 230}


def keyword_grade(messages: list[dict[str, Any]]) -> str:
    """5 when the answer shares a word of 6+ letters with the reference, else 1."""
    text = messages[-1]["content"]
    ref = text.split("Reference answer:", 1)[-1].split("Assistant answer:", 1)[0].lower()
    answer = text.split("Assistant answer:", 1)[-1].lower()
    shared = {w for w in ref.split() if len(w) >= 6} & set(answer.split())
    score = 5 if shared else 1
    return json.dumps(
        {"reasoning": f"shares {sorted(shared)[:3]} with the reference", "score": score}
    )


class JudgeServer:
    def __init__(self, grade: Callable[[list[dict[str, Any]]], str] = keyword_grade) -> None:
        self.grade = grade
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                server.requests.append(body)
                if server.mode == "500":
                    self._send(500, {"error": {"message": "judge is down"}})
                    return
                reply = server.grade(body["messages"])
                self._send(
                    200,
                    {
                        "id": "chatcmpl-judge",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "judge"),
                        "choices": [
                            {"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply}}
                        ],
                        "usage": USAGE,
                    },
                )  # fmt: skip

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
