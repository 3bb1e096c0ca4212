"""In a real browser, a model's answer full of auto-fetching markdown fetches nothing.

A remote model (a real OpenAI-protocol server on 127.0.0.1) answers with images in every
markdown form, raw HTML, a mermaid diagram with an image node, a Material icon, KaTeX and a
CSS colour, all pointing at a second local server that records every request. Streamlit
1.67 without ``safe_markdown`` fetched the inline, reference, shortcut, in-link and mermaid
images; with it the server gets nothing, until the test itself loads a control image to
prove the browser could reach it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llmops.config import Settings
from llmops.releases import PRODUCTION, ModelConfig, ReleaseConfig, create_release, set_label
from llmops.store.db import Database

from ..ui.test_chat_page import ScriptedServer
from .conftest import _streamlit, copy_home

pytestmark = pytest.mark.e2e

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class PixelServer:
    """Answers every GET with a 1x1 PNG and records the path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.got = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                server.paths.append(self.path)
                server.got.set()
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PixelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def dangerous_answer(u: str) -> list[str]:
    return [
        "Canary releases shift a share of traffic [1]. A chart",
        "!",  # split from its "[" across chunks
        f"[chart]({u}/inline.png). Also ![a][r], ![r2] and [![in]({u}/in-link.png)](#x).\n\n",
        f"[r]: {u}/reference.png\n[r2]: {u}/shortcut.png\n\n",
        f'HTML <img src="{u}/html.png"> <iframe src="{u}/iframe"></iframe> '
        f"<style>@import url({u}/style.css);</style>\n\n",
        f'<img src="{u}/html-block.png">\n\n',
        f':material/home: :color[c]{{background="url({u}/css.png)"}} '
        f"$\\includegraphics{{{u}/katex.png}}$\n\n",
        f'```mermaid\nflowchart TD\n  A@{{ img: "{u}/mermaid.png", label: "x" }}\n  B --> A\n```\n',
    ]


@pytest.fixture
def pixel() -> Iterator[PixelServer]:
    with PixelServer() as srv:
        yield srv


@pytest.fixture
def scripted_home(e2e_home: Path, tmp_path: Path, pixel: PixelServer) -> Iterator[Path]:
    """A copy of the e2e home whose production release is the scripted remote model."""
    home = tmp_path / "home"
    copy_home(e2e_home, home)
    with ScriptedServer(dangerous_answer(pixel.url)) as model:
        cfg = ModelConfig(
            provider="openai-compatible", name="scripted", base_url=model.base_url, max_retries=0
        )
        db = Database(Settings(home=home).db_url)
        try:
            set_label(db, PRODUCTION, create_release(db, ReleaseConfig(model=cfg), name="s").id)
        finally:
            db.dispose()
        yield home


def test_a_dangerous_answer_makes_the_browser_fetch_nothing(
    scripted_home: Path, pixel: PixelServer, browser: Any
) -> None:
    # the session's browser: a second sync_playwright() inside the first one's loop fails
    with _streamlit(scripted_home) as url:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            page.goto(url)
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill("What is a canary release?")
            box.press("Enter")
            answer = page.get_by_test_id("stChatMessage").nth(1)
            answer.get_by_role("link", name="image: chart").wait_for()
            page.get_by_test_id("stFeedback").first.wait_for()  # the final render
            answer.get_by_text("flowchart TD").wait_for()  # the diagram, shown as code

            text = answer.inner_text()
            assert '<img src="' in text and "<iframe" in text  # raw HTML shown as text
            assert answer.locator("img").count() == 0
            assert answer.locator("[role=img]").count() == 0  # no icon either
            assert pixel.paths == []
            assert not [r for r in requested if r.startswith(pixel.url)]
            assert [r for r in requested if not r.startswith((url, "blob:", "data:"))] == []

            # control: the browser can reach the pixel server, so silence above means safe
            page.evaluate(
                f"document.body.append(Object.assign(new Image(), {{src: '{pixel.url}/control.png'}}))"
            )
            assert pixel.got.wait(30)
            assert pixel.paths == ["/control.png"]
        finally:
            context.close()
