"""Zero egress, including native threads the audit hook cannot see (onnxruntime, Chromium).

Runs a full chat turn and an app start under ``strace -f -e trace=connect`` for longer than
onnxruntime's delayed telemetry (~9 s) and fails on any connect() to a non-loopback address.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRACE = shutil.which("strace")
CONNECT = re.compile(
    r'connect\(\d+, \{sa_family=(AF_INET6?), .*?inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"'
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(STRACE is None, reason="needs strace: apt-get install -y strace"),
]


def _outbound(trace_file: Path) -> list[str]:
    bad = []
    for line in trace_file.read_text(errors="replace").splitlines():
        m = CONNECT.search(line)
        if m and not ipaddress.ip_address(m.group(2)).is_loopback:
            bad.append(line.strip())
    return bad


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "LLMOPS_HOME": str(home)}


def test_chat_turn_opens_no_outbound_connection(tmp_path: Path) -> None:
    kb = tmp_path / "kb" / "en"
    kb.mkdir(parents=True)
    (kb / "llmops.md").write_text(
        "# LLMOps\n\nLLMOps is the practice of running LLM applications in production.\n"
    )
    script = textwrap.dedent(
        f"""
        import time
        from llmops.runtime import Runtime
        rt = Runtime()
        rt.kb.ingest([{str(kb.parent)!r}])
        turn = rt.chat.ask("What is LLMOps?")
        assert "LLMOps" in turn.answer, turn
        rt.close()
        time.sleep(12)  # outlive onnxruntime's delayed telemetry thread
        """
    )
    out = tmp_path / "strace.txt"
    subprocess.run(
        [STRACE, "-f", "-qq", "-e", "trace=connect", "-o", str(out), sys.executable, "-c", script],
        check=True,
        env=_env(tmp_path / "home"),
        cwd=ROOT,
        timeout=180,
    )
    assert _outbound(out) == []


def test_app_start_and_first_page_open_no_outbound_connection(tmp_path: Path) -> None:
    out = tmp_path / "strace.txt"
    import signal
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    proc = subprocess.Popen(
        [
            STRACE,
            "-f",
            "-qq",
            "-e",
            "trace=connect",
            "-o",
            str(out),
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            port,
            "--server.headless",
            "true",
        ],
        env=_env(tmp_path / "home"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200
        time.sleep(12)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert _outbound(out) == []
