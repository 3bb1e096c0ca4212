"""A tiny server on 127.0.0.1 that speaks OpenAI's chat-completions protocol.

Plain JSON and SSE streaming (with the usage chunk when ``stream_options.include_usage``),
and scripted failures (429 with an OpenAI error body, 500). Records the requests it gets.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = "LLMOps is the practice of operating LLM applications in production [1]."
USAGE = {"prompt_tokens": 123, "completion_tokens": 17, "total_tokens": 140}


class OpenAIServer:
    def __init__(self) -> None:
        self.mode = "ok"  # ok | 429 | 500
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
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body})
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                if server.mode == "429":
                    self._send(
                        429,
                        {
                            "error": {
                                "message": "Rate limit reached for requests",
                                "type": "requests",
                                "code": "rate_limit_exceeded",
                            }
                        },
                    )
                    return
                if server.mode == "500":
                    self._send(500, {"error": {"message": "The server had an error"}})
                    return
                model = body.get("model", "test-model")
                if body.get("stream"):
                    self._stream(
                        model, bool((body.get("stream_options") or {}).get("include_usage"))
                    )
                    return
                self._send(
                    200,
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": ANSWER},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": USAGE,
                    },
                )

            def _event(self, payload: Any) -> None:
                data = payload if isinstance(payload, str) else json.dumps(payload)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()

            def _stream(self, model: str, include_usage: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                }
                self._event(
                    {
                        **base,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
                    }
                )
                for word in ANSWER.split(" "):
                    self._event(
                        {**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]}
                    )
                self._event(
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                )
                if include_usage:
                    self._event({**base, "choices": [], "usage": USAGE})
                self._event("[DONE]")
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
