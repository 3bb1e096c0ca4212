"""Two replicas, one store: the deploy/ recipe end to end on 127.0.0.1.

A Chroma server, two ``streamlit run`` replicas on one PostgreSQL schema, nginx in front
(rendered from deploy/nginx/llmops.conf, its upstream written by deploy/llmops-health).
Several real Chromium sessions chat through nginx, each pinned to a replica by the route
cookie nginx hands out. Then: every turn's trace is stored exactly once and names the replica
that served it; canary assignment is the same function of the session on both replicas; a
broken canary is rolled back once although both replicas' background workers check it
every second; the console's Overview shows the same numbers on either replica; a replica
that stops is marked down by the readiness check and its users go to the other.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from llmops import auth
from llmops.store.db import Database

from . import stack as stk

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.postgres]

PG_URL = os.environ.get("LLMOPS_TEST_DATABASE_URL")
CHROMIUM = "/usr/bin/chromium"
ADMIN_PASSWORD = "replicas admin password"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    '--host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"',
]  # fmt: skip
QUESTIONS = ["What is LLMOps?", "How do canary releases work?", "¿Qué es LLMOps?"]
TRACE = re.compile(r"release (.+) · trace ([0-9a-f]{32})")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stk.Stack]:
    reason = stk.missing(PG_URL)
    if reason:
        pytest.skip(reason)
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "the replica journey needs Chromium: apt-get install -y chromium (README: Testing)"
        )
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")
    assert PG_URL
    tmp = tmp_path_factory.mktemp("replicas")
    env = {
        auth.HASH_KEY: auth.hash_password(ADMIN_PASSWORD),
        "LLMOPS_BACKGROUND_INTERVAL_S": "1",  # both replicas check the rollback rules often
    }
    with stk.pg_schema(PG_URL) as url, stk.start(tmp, url, env=env) as st:
        yield st


@pytest.fixture(scope="module")
def store(deployed: stk.Stack) -> Iterator[Database]:
    db = Database(deployed.env["LLMOPS_DATABASE_URL"])
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def browser(deployed: stk.Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _session(browser: Any, base: str, route: str | None) -> Any:
    """A new browser session (its own cookies), pinned to a replica by the route cookie."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    if route is not None:
        context.add_cookies([{"name": stk.COOKIE, "value": route, "url": base}])
    page = context.new_page()
    page.set_default_timeout(90_000)
    return page


def _ask(page: Any, question: str) -> tuple[str, str]:
    """Ask through the chat page; the release name and trace id its caption shows."""
    before = page.get_by_text(TRACE).count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    caption = page.get_by_text(TRACE).nth(before)
    caption.wait_for()
    m = TRACE.search(caption.inner_text())
    assert m, caption.inner_text()
    return m.group(1), m.group(2)


def _chat(browser: Any, base: str, route: str, turns: int) -> list[tuple[str, str]]:
    page = _session(browser, base, route)
    try:
        page.goto(base)
        page.get_by_text("Ask about LLMOps").wait_for()
        return [_ask(page, QUESTIONS[i % len(QUESTIONS)]) for i in range(turns)]
    finally:
        page.context.close()


def _stored(db: Database, trace_ids: list[str], timeout: float = 30) -> list[Any]:
    """The stored traces of these turns, once every one has been written."""
    from llmops.store.models import Trace

    deadline = time.monotonic() + timeout
    while True:
        with db.session() as s:
            rows = list(s.scalars(select(Trace).where(Trace.id.in_(trace_ids))))
            for r in rows:
                s.expunge(r)
        if len(rows) == len(set(trace_ids)) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def _canary(deployed: stk.Stack, db: Database, *, broken: bool) -> str:
    """A canary at 50 %: the production configuration with another prompt, or a model on a
    port nobody listens on (every turn errors)."""
    from llmops.releases import core, deploy

    prod = core.get_release(db, core.labels(db).production or "")
    cfg = core.ReleaseConfig.model_validate(prod.config.model_dump())
    cfg = cfg.model_copy(update={"system_prompt": cfg.system_prompt + "\nCanary build."})
    if broken:
        model = core.ModelConfig(
            provider="openai-compatible", name="broken", timeout_s=2, max_retries=0,
            base_url=f"http://127.0.0.1:{stk.free_port()}/v1",
        )  # fmt: skip
        cfg = cfg.model_copy(update={"model": model})
    name = "broken canary" if broken else "healthy canary"
    rid = core.create_release(db, cfg, name=name, actor="test").id
    deploy.start_canary(db, rid, 0.5, actor="test")
    return rid


@pytest.mark.timeout(1200)
def test_two_replicas_one_store(deployed: stk.Stack, store: Database, browser: Any) -> None:
    from llmops.releases import core, deploy, rollback
    from llmops.releases.assign import in_canary
    from llmops.store.models import LabelEvent, RollbackEvent, Span, Trace

    # -- nginx: sticky by cookie, both replicas reachable -----------------------------------
    status, headers, _ = stk.get(f"{deployed.url}/_stcore/health")
    assert status == 200 and f"{stk.COOKIE}=" in headers.get("Set-Cookie", ""), headers
    routes = deployed.route_cookies()
    a, b = deployed.replicas["replica-a"], deployed.replicas["replica-b"]
    assert routes[a] and routes[b], routes  # the hash spreads route ids over both
    for value in routes[a][:3] + routes[b][:3]:  # sticky: the same cookie, the same replica
        seen = {
            stk.get(f"{deployed.url}/_stcore/health", cookie=f"{stk.COOKIE}={value}")[1][
                stk.UPSTREAM_HEADER
            ]
            for _ in range(4)
        }
        assert len(seen) == 1, (value, seen)
    route = {"replica-a": routes[a][0], "replica-b": routes[b][0]}

    # -- a healthy canary at 50 %: sessions on both replicas, through nginx ----------------
    prod = core.labels(store).production
    canary = _canary(deployed, store, broken=False)
    names = {prod: core.get_release(store, prod or "").name, canary: "healthy canary"}
    served: dict[str, str] = {}  # trace id -> replica the session was pinned to
    seen_releases: dict[str, set[str]] = {"replica-a": set(), "replica-b": set()}
    # a session's release is drawn by its (random) id at 50 %: with up to 15 sessions a
    # replica, one that never met one of the two releases is a 2 x 2^-15 chance (6: 1 in 32)
    for i in range(30):
        replica = "replica-a" if i % 2 == 0 else "replica-b"
        answers = _chat(browser, deployed.url, route[replica], turns=2)
        assert answers[0][0] == answers[1][0], answers  # a conversation keeps its release
        for release_name, trace_id in answers:
            served[trace_id] = replica
            seen_releases[replica].add(release_name)
        if all(len(v) == 2 for v in seen_releases.values()) and i >= 3:
            break
    assert all(len(v) == 2 for v in seen_releases.values()), seen_releases

    rows = _stored(store, list(served))
    assert len(rows) == len(served)  # every turn stored ...
    with store.session() as s:  # ... exactly once, and nothing else
        assert s.scalar(select(func.count()).select_from(Trace)) == len(served)
        spans = dict(s.execute(select(Span.trace_id, func.count()).group_by(Span.trace_id)).all())
    assert set(spans) == set(served) and min(spans.values()) >= 3
    for row in rows:
        attrs = row.attributes or {}
        # the replica the cookie pinned the session to wrote its trace
        assert attrs["service.instance.id"] == served[row.id], (row.id, attrs)
        # the same assignment function on both replicas: the release follows the session
        expected = canary if in_canary(row.session_id or "", 0.5) else prod
        assert row.release_id == expected, (row.session_id, row.release_id)
        assert attrs["llmops.release.assignment"] == (
            "canary" if expected == canary else "production"
        )
        assert row.status == "ok"
    assert {names[r.release_id or ""] for r in rows} == {names[prod or ""], "healthy canary"}
    # and what support is told (`llmops release which`) is what the replicas served
    sessions = sorted({r.session_id or "" for r in rows})
    which = deployed.cli("release", "which", *(f"--session={x}" for x in sessions), "--json")
    told = {x["session_id"]: x["release_id"] for x in json.loads(which.stdout)}
    assert told == {r.session_id: r.release_id for r in rows}

    # -- a broken canary: rolled back once, by whichever replica checks first -------------
    deploy.stop_canary(store, actor="test")
    for rule in rollback.list_rules(store):
        rollback.set_enabled(store, rule.id, False)
    rollback.add_rule(
        store, name="errors", metric="error_rate", kind="limit", threshold=0.5,
        min_samples=2, window_minutes=60, actor="test",
    )  # fmt: skip
    broken = _canary(deployed, store, broken=True)
    broken_turns: list[str] = []
    for i in range(16):
        replica = "replica-a" if i % 2 == 0 else "replica-b"
        for release_name, trace_id in _chat(browser, deployed.url, route[replica], turns=2):
            served[trace_id] = replica
            if release_name == "broken canary":
                broken_turns.append(trace_id)
        if len(broken_turns) >= 2:
            break
    deadline = time.monotonic() + 30
    while core.labels(store).canary is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert core.labels(store).canary is None, "the broken canary was not rolled back"
    time.sleep(4)  # several more rounds of both replicas' background workers
    with store.session() as s:
        events = list(s.scalars(select(RollbackEvent)))
        auto = s.scalar(
            select(func.count()).select_from(LabelEvent).where(LabelEvent.action == "auto_rollback")
        )
    assert len(events) == 1 and auto == 1, (events, auto)
    assert events[0].release_id == broken
    # after the rollback every session is served production again
    after = _chat(browser, deployed.url, route["replica-b"], turns=1)
    assert after[0][0] == names[prod or ""]
    served[after[0][1]] = "replica-b"

    rows = _stored(store, list(served))
    assert len(rows) == len(served)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Trace)) == len(served)
    assert {r.attributes["service.instance.id"] for r in rows} == {"replica-a", "replica-b"}

    # -- the console on either replica shows the same numbers -----------------------------
    shown = {name: _overview(browser, deployed.url, route[name]) for name in route}
    assert shown["replica-a"] == shown["replica-b"], shown
    assert str(len(served)) in shown["replica-a"], shown  # the volume: every turn, once

    # -- readiness: a replica that stops is marked down; its users move to the other -------
    victim = deployed.procs["replica-b"]
    victim.terminate()
    victim.wait(30)
    health = deployed.health(reload=deployed.nginx_reload())
    assert health.returncode == 0, health.stderr
    upstream = deployed.upstream_file.read_text()
    assert f"{b.removeprefix('http://')} max_fails=2 fail_timeout=10s down;" in upstream, upstream
    time.sleep(1)  # nginx's reload
    for _ in range(3):
        status, headers, _ = stk.get(
            f"{deployed.url}/_stcore/health", cookie=f"{stk.COOKIE}={route['replica-b']}"
        )
        assert status == 200 and headers[stk.UPSTREAM_HEADER] == a.removeprefix("http://")


def _settled(read: Any, timeout: float = 60) -> list[str]:
    """What ``read`` returns once two reads a second apart agree: the page draws its metrics
    element by element, so the first read may miss the last ones."""
    deadline = time.monotonic() + timeout
    last = read()
    while time.monotonic() < deadline:
        time.sleep(1)
        now = read()
        if now == last:
            return now
        last = now
    raise AssertionError(f"the page kept changing: {last}")


def _overview(browser: Any, base: str, route: str) -> list[str]:
    """Sign in on the replica the route pins to; the Overview's metric values (all time)."""
    page = _session(browser, base, route)
    try:
        page.goto(f"{base}/signin")
        page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Overview").wait_for()
        page.get_by_test_id("stMetricValue").first.wait_for()
        return _settled(
            lambda: [v.inner_text() for v in page.get_by_test_id("stMetricValue").all()]
        )
    finally:
        page.context.close()
