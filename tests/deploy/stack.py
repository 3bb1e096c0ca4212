"""The ``deploy/`` recipe started on 127.0.0.1, for tests/deploy and bench/scale.py.

A Chroma server (``chroma run``), N ``streamlit run app.py`` replicas on one PostgreSQL store,
and nginx in front, run as a non-daemon with a temporary prefix and a configuration rendered
from ``deploy/nginx/llmops.conf`` — the file an operator installs. The replicas' upstream
file is written by ``deploy/llmops-health``, the readiness check the recipe runs from a
systemd timer. Every port is a free one; every process is stopped on exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CHROMA = Path(sys.executable).with_name("chroma")
COOKIE = "llmops_route"
UPSTREAM_HEADER = "X-Llmops-Upstream"


def missing(pg_url: str | None) -> str | None:
    """Why the stack cannot start here, or None."""
    if not Path(NGINX).exists():
        return "the replica recipe needs nginx: apt-get install -y nginx (README: Testing)"
    if not pg_url:
        return "the replica recipe needs PostgreSQL: set LLMOPS_TEST_DATABASE_URL (README: Testing)"
    if not shutil.which("curl"):
        return "deploy/llmops-health needs curl: apt-get install -y curl"
    if not CHROMA.exists():
        return f"the replica recipe needs the chromadb package's `chroma` command ({CHROMA})"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(
    url: str, *, cookie: str | None = None, timeout: float = 5
) -> tuple[int, dict[str, str], bytes]:
    """One GET; status, headers and body (an HTTP error is a status, not an exception)."""
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def _wait(
    url: str, expect: bytes, proc: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _, body = get(url, timeout=2)
            if status == 200 and expect in body:
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise RuntimeError(f"{url} did not answer ({proc.poll()=}):\n{tail}")
        time.sleep(0.25)


@contextmanager
def _process(
    args: list[str], *, env: dict[str, str], log: Path, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


@contextmanager
def pg_schema(base_url: str, prefix: str = "replicas") -> Iterator[str]:
    """A fresh schema for this stack (dropped afterwards); the URL's search_path points at it."""
    from sqlalchemy import create_engine, text

    schema = f"t_{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Stack:
    url: str  # nginx
    replicas: dict[str, str]  # replica id -> its own URL
    env: dict[str, str]
    tmp: Path
    nginx_conf: Path
    upstream_file: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``llmops ARGS`` with the replicas' environment (the recipe's env file)."""
        return subprocess.run(
            [sys.executable, "-m", "llmops.cli", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=check, timeout=300,
        )  # fmt: skip

    def health(self, reload: str = "true") -> subprocess.CompletedProcess[str]:
        """Run ``deploy/llmops-health`` once: rewrites the upstream file from readiness."""
        return run_health(
            self.tmp, self.env, list(self.replicas.values()), self.upstream_file, reload
        )

    def nginx_reload(self) -> str:
        return f"{NGINX} -p {self.tmp}/nginx -c {self.nginx_conf} -s reload"

    def route_cookies(self, tries: int = 64) -> dict[str, list[str]]:
        """Route cookie values by the replica nginx sends them to (asked, not computed: the
        mapping is nginx's consistent hash)."""
        by_replica: dict[str, list[str]] = {r: [] for r in self.replicas.values()}
        for i in range(tries):
            value = f"r{i}"
            _, headers, _ = get(f"{self.url}/_stcore/health", cookie=f"{COOKIE}={value}")
            upstream = "http://" + headers.get(UPSTREAM_HEADER, "?")
            by_replica.setdefault(upstream, []).append(value)
        return by_replica


def base_env(tmp: Path, db_url: str, chroma_port: int) -> dict[str, str]:
    """The recipe's env file (deploy/llmops.env.example) for a stack under ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "STREAMLIT_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "LLMOPS_HOME": str(tmp / "home"),
            "LLMOPS_DATABASE_URL": db_url,
            "LLMOPS_CHROMA_HOST": "127.0.0.1",
            "LLMOPS_CHROMA_PORT": str(chroma_port),
            "LLMOPS_USER_ID_KEY": "replicas-share-this-key",
            "LLMOPS_TRUSTED_PROXIES": "127.0.0.1",
            "STREAMLIT_SERVER_COOKIE_SECRET": "replicas-share-this-secret",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "STREAMLIT_SERVER_HEADLESS": "true",
        }
    )
    return env


@contextmanager
def chroma_server(tmp: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    log = tmp / "chroma.log"
    args = [
        str(CHROMA),
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--path",
        str(tmp / "chroma"),
    ]
    with _process(args, env=env, log=log) as proc:
        _wait(f"http://127.0.0.1:{port}/api/v2/heartbeat", b"heartbeat", proc, log, 180)
        yield proc


@contextmanager
def replica(
    tmp: Path, env: dict[str, str], name: str, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """One replica as deploy/systemd/llmops@.service runs it."""
    args = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1",
    ]  # fmt: skip
    log = tmp / f"{name}.log"
    with _process(args, env={**env, "LLMOPS_REPLICA_ID": name}, log=log) as proc:
        _wait(f"http://127.0.0.1:{port}/_stcore/health", b"ok", proc, log, 120)
        yield proc


def run_health(
    tmp: Path, env: dict[str, str], replicas: list[str], upstream: Path, reload: str
) -> subprocess.CompletedProcess[str]:
    wrapper = tmp / "llmops"
    if not wrapper.exists():  # the `llmops` command of this checkout
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m llmops.cli "$@"\n')
        wrapper.chmod(0o755)
    hosts = " ".join(r.removeprefix("http://") for r in replicas)
    return subprocess.run(
        [str(DEPLOY / "llmops-health")],
        env={**env, "LLMOPS_REPLICAS": hosts, "LLMOPS_UPSTREAM_FILE": str(upstream),
             "LLMOPS_NGINX_RELOAD": reload, "LLMOPS_BIN": str(wrapper)},
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def render_nginx(tmp: Path, port: int, upstream: Path) -> Path:
    """deploy/nginx/llmops.conf with this stack's placeholders, inside a minimal main
    configuration with every path under ``tmp/nginx``."""
    prefix = tmp / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    site = (DEPLOY / "nginx" / "llmops.conf").read_text()
    site = site.replace("@LISTEN@", f"127.0.0.1:{port}").replace("@REPLICAS_FILE@", str(upstream))
    site = site.replace("/var/log/nginx/", f"{prefix}/")  # logs under the prefix too
    (prefix / "llmops.conf").write_text(site)
    temp = {k: prefix / k for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main = f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {prefix}/llmops.conf;
}}
"""
    conf = prefix / "nginx.conf"
    conf.write_text(main)
    return conf


@contextmanager
def nginx(tmp: Path, conf: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    prefix = conf.parent
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                           capture_output=True, text=True)  # fmt: skip
    if check.returncode != 0:
        raise RuntimeError(
            f"nginx -t rejected the rendered deploy/nginx/llmops.conf:\n{check.stderr}"
        )
    args = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    with _process(args, env=dict(os.environ), log=tmp / "nginx.out") as proc:
        _wait(f"http://127.0.0.1:{port}/nginx-health", b"ok", proc, prefix / "error.log", 30)
        yield proc


@contextmanager
def start(
    tmp: Path, db_url: str, *, replicas: int = 2, env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """The whole recipe: Chroma, the store migrated and the knowledge base ingested (as
    llmops-migrate.service and `llmops kb ingest` do), ``replicas`` replicas, the readiness
    check writing nginx's upstream file, nginx."""
    tmp.mkdir(parents=True, exist_ok=True)
    chroma_port, nginx_port = free_port(), free_port()
    stack_env = {**base_env(tmp, db_url, chroma_port), **(env or {})}
    upstream = tmp / "nginx" / "llmops-replicas.conf"
    with ExitStack() as stack:
        procs: dict[str, subprocess.Popen[bytes]] = {}
        procs["chroma"] = stack.enter_context(chroma_server(tmp, chroma_port))
        st = Stack(f"http://127.0.0.1:{nginx_port}", {}, stack_env, tmp, Path(), upstream, procs)
        st.cli("db", "upgrade")
        st.cli("kb", "ingest")
        doctor = st.cli("db", "doctor", "--readiness", check=False)
        if doctor.returncode != 0:
            raise RuntimeError(
                f"llmops db doctor --readiness failed:\n{doctor.stdout}{doctor.stderr}"
            )
        for i in range(replicas):
            name, port = f"replica-{chr(ord('a') + i)}", free_port()
            procs[name] = stack.enter_context(replica(tmp, stack_env, name, port))
            st.replicas[name] = f"http://127.0.0.1:{port}"
        st.nginx_conf = render_nginx(tmp, nginx_port, upstream)
        health = st.health()
        if health.returncode != 0:
            raise RuntimeError(f"deploy/llmops-health failed:\n{health.stderr}")
        procs["nginx"] = stack.enter_context(nginx(tmp, st.nginx_conf, nginx_port))
        yield st
