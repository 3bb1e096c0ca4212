"""A real `streamlit run app.py` on 127.0.0.1 and a real headless Chromium (Playwright).

Chromium comes from Debian's package (`apt-get install -y chromium`), never from
`playwright install`; without it these tests skip and say how to enable them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from llmops import auth
from llmops.config import Settings
from llmops.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
ADMIN_PASSWORD = "e2e admin password"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    '--host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"',
]

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("e2e-home")
    rt = Runtime(Settings(home=home))
    try:
        rt.kb.ingest()
    finally:
        rt.close()
    return home


def copy_home(source: Path, target: Path) -> Path:
    """A copy of an LLMOPS_HOME for one test. The store goes through SQLite's backup API: a
    server may be writing to it, and a file copy of a live database with its -wal and -shm
    can be inconsistent (a copied journey then stalled on its own store in full runs)."""
    import sqlite3

    shutil.copytree(source, target, ignore=shutil.ignore_patterns("streamlit-*.log", "llmops.db*"))
    if (source / "llmops.db").exists():
        src, dst = sqlite3.connect(source / "llmops.db"), sqlite3.connect(target / "llmops.db")
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    return target


@contextmanager
def _streamlit(home: Path) -> Iterator[str]:
    """``streamlit run app.py`` on a free port of 127.0.0.1 until it answers /_stcore/health."""
    if not Path(CHROMIUM).exists():
        pytest.skip("browser tests need Chromium: apt-get install -y chromium (README: Testing)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")
    port = _free_port()
    env = {
        **os.environ,
        "LLMOPS_HOME": str(home),
        auth.HASH_KEY: auth.hash_password(ADMIN_PASSWORD),
    }
    log_path = home / f"streamlit-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text(errors="replace"))
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server(e2e_home: Path) -> Iterator[str]:
    with _streamlit(e2e_home) as url:
        yield url


@pytest.fixture
def fresh_server(e2e_home: Path) -> Iterator[str]:
    """A server that has answered no request yet."""
    with _streamlit(e2e_home) as url:
        yield url


@pytest.fixture(scope="package")
def browser(server: str) -> Iterator[Any]:
    """One Chromium for the browser tests, closed when they end: Playwright's sync API keeps
    an event loop running in this thread, and ``asyncio.run`` in later tests would fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def pick_option(page: Any, box: Any, option: str | re.Pattern[str]) -> None:
    """Open a dropdown and click ``option``. A rerun that lands just after the click closes
    the list again (any widget above can rerun the page), so open it until the option shows
    and takes the click: a list closed between the two detaches the option, and a plain
    click then waited its whole 30 s for an element that never came back."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(10):
        box.click()
        try:
            wanted.wait_for(timeout=3000)
            wanted.click(timeout=3000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        return
    raise AssertionError(f"the option {option!r} never showed")
