"""Admin sign-in: who a client is (peer, X-Forwarded-For, trusted proxies) and the per-client
back-off, against the real store with a controlled clock (``now``), never a sleep."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from llmops import auth
from llmops.store.db import Database
from llmops.store.models import AuditLog

PASSWORD = "correct horse battery"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def hashed() -> str:
    # the cheapest argon2 parameters: the tests check hundreds of passwords
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


# -- client keys --------------------------------------------------------------------------------
def _uvicorn_peer(
    tcp_peer: str, forwarded_for: str | None, allow: str = auth.UVICORN_FORWARDED_DEFAULT
) -> str:
    """What Streamlit reports as ``remote_ip`` after uvicorn's real proxy-headers middleware."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["client"] = scope["client"]

    headers = [(b"x-forwarded-for", forwarded_for.encode())] if forwarded_for is not None else []
    scope = {"type": "websocket", "client": (tcp_peer, 50000), "headers": headers}
    asyncio.run(ProxyHeadersMiddleware(app, trusted_hosts=allow)(scope, None, None))  # type: ignore[arg-type]
    return str(seen["client"][0])


def _key(tcp_peer: str, xff: str | None, trusted: str = "", allow: str = "127.0.0.1,::1") -> str:
    return auth.client_key(_uvicorn_peer(tcp_peer, xff, allow), xff, trusted, uvicorn_trusted=allow)


def test_loopback_and_unknown_peers_share_one_stable_key() -> None:
    assert _key("127.0.0.1", None) == auth.LOCAL
    assert _key("::1", None) == auth.LOCAL
    assert auth.client_key(None, None) == auth.LOCAL
    assert auth.client_key("127.0.0.5", None) == auth.LOCAL


def test_rotating_forwarded_for_from_an_untrusted_peer_does_not_change_the_key() -> None:
    rotations = [f"198.51.100.{i}" for i in range(1, 40)] + ["2001:db8::1", "junk", ""]
    # a client connecting directly: uvicorn leaves the peer alone, and so do we
    assert {_key("203.0.113.7", xff) for xff in rotations} == {"ip:203.0.113.7"}
    # a loopback client (or a proxy nobody listed): uvicorn believed the header; we do not
    loopback = {_key("127.0.0.1", xff) for xff in rotations if xff}
    assert loopback == {auth.PROXIED}
    assert _key("::1", "198.51.100.1, 198.51.100.2") == auth.PROXIED


def test_a_remote_client_cannot_pass_for_the_loopback_admin() -> None:
    # a remote client sending its own address looks exactly like a rewritten one: it is
    # keyed with the untrusted proxies, never with the loopback admin
    assert _key("203.0.113.7", "203.0.113.7") == auth.PROXIED
    assert _key("203.0.113.7", "127.0.0.1") == "ip:203.0.113.7"
    assert _key("127.0.0.1", None) == auth.LOCAL


def test_a_trusted_proxy_names_the_rightmost_untrusted_address() -> None:
    # nginx on the same host appends the address it saw to what the client sent
    for forged in ("1.1.1.1", "10.9.9.9, 8.8.8.8", "127.0.0.1"):
        xff = f"{forged}, 203.0.113.9"
        assert _key("127.0.0.1", xff, trusted="127.0.0.1") == "ip:203.0.113.9"
    # a chain: the client, then proxies on 10.0.0.0/24; the TCP peer is not loopback
    xff = "1.1.1.1, 198.51.100.7, 10.0.0.6"
    assert _key("10.0.0.5", xff, trusted="10.0.0.0/24") == "ip:198.51.100.7"
    assert _key("10.0.0.5", None, trusted="10.0.0.0/24") == "ip:10.0.0.5"
    # the same header from a peer that is not listed is not believed
    assert _key("10.0.1.5", xff, trusted="10.0.0.0/24") == "ip:10.0.1.5"
    # a trusted ::1 and 127.0.0.1 are one host: naming either trusts both
    assert _key("::1", "192.0.2.4", trusted="127.0.0.1") == "ip:192.0.2.4"
    assert _key("127.0.0.1", "192.0.2.4:5555", trusted="::1") == "ip:192.0.2.4"


def test_uvicorn_trusting_more_than_the_trusted_proxies_is_undone() -> None:
    allow = "127.0.0.1,::1,10.0.0.0/8"
    assert _key("10.1.1.1", "192.0.2.4", trusted="127.0.0.1", allow=allow) == auth.PROXIED
    assert _key("10.1.1.1", "192.0.2.4", trusted="10.0.0.0/8, 127.0.0.1", allow=allow) == (
        "ip:192.0.2.4"
    )
    # FORWARDED_ALLOW_IPS=*: every header was believed, so none of it is
    assert _key("192.0.2.4", "198.51.100.1", allow="*") == auth.PROXIED
    assert _key("192.0.2.4", None, allow="*") == "ip:192.0.2.4"


def test_ipv6_clients_are_keyed_by_their_64() -> None:
    same = {_key(a, None) for a in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:1:2:3")}
    assert same == {"ip:2001:db8:1:2::/64"}
    assert _key("2001:db8:1:3::1", None) == "ip:2001:db8:1:3::/64"
    behind_proxy = {
        _key("127.0.0.1", f"[2001:db8:1:2::{i:x}]:443", trusted="127.0.0.1") for i in range(50)
    }
    assert behind_proxy == {"ip:2001:db8:1:2::/64"}
    assert auth.client_key("::ffff:203.0.113.9", None) == "ip:203.0.113.9"
    assert auth.client_key("fe80::1%eth0", None) == "ip:fe80::/64"


@pytest.mark.parametrize(
    "xff",
    ["192.0.2.1:80", "[2001:db8::5]:443", "[2001:db8::5]", "[2001:db8::5]junk", "x:y", "[]", ""],
)
def test_we_read_the_header_as_uvicorn_does(xff: str) -> None:
    header = f"198.51.100.1, {xff}"
    ours = auth._uvicorn_client(
        [e.strip() for e in header.split(",")], auth.parse_hosts(auth.UVICORN_FORWARDED_DEFAULT)
    )
    # uvicorn keeps the real peer when it finds no host in the header
    assert _uvicorn_peer("127.0.0.1", header) == (ours or "127.0.0.1")


def test_addresses_that_do_not_parse_share_one_key() -> None:
    assert auth.client_key("not-an-ip", None) == auth.UNKNOWN
    keys = {_key("127.0.0.1", f"proxy, junk{i}", trusted="127.0.0.1") for i in range(5)}
    assert keys == {auth.UNKNOWN}


# -- back-off -----------------------------------------------------------------------------------
def _rows(db: Database, who: str | None = None) -> list[AuditLog]:
    stmt = select(AuditLog).where(AuditLog.action.like("admin.signin%")).order_by(AuditLog.id)
    if who is not None:
        stmt = stmt.where(AuditLog.target == who)
    with db.session() as s:
        return list(s.scalars(stmt))


def _fail(db: Database, hashed: str, who: str, now: datetime) -> auth.SignInResult:
    return auth.sign_in(db, hashed, "wrong password!", who=who, now=now)


def _fail_until_throttled(db: Database, hashed: str, who: str, now: datetime) -> datetime:
    for i in range(auth.MAX_FAILURES):
        result = _fail(db, hashed, who, now + timedelta(seconds=i))
        assert result.status == "wrong", result
    return now + timedelta(seconds=auth.MAX_FAILURES - 1)


def test_failures_from_many_clients_never_refuse_the_right_password(
    db: Database, hashed: str
) -> None:
    for n in range(40):
        who = f"ip:198.51.100.{n}"
        last = _fail_until_throttled(db, hashed, who, T0)
        assert auth.sign_in(db, hashed, PASSWORD, who=who, now=last).status == "throttled"
    result = auth.sign_in(db, hashed, PASSWORD, who="ip:203.0.113.41", now=T0 + timedelta(1))
    assert result.ok, result
    assert auth.sign_in(db, hashed, PASSWORD, who=auth.LOCAL, now=T0 + timedelta(seconds=9)).ok


def test_one_clients_failures_do_not_throttle_another(db: Database, hashed: str) -> None:
    last = _fail_until_throttled(db, hashed, "ip:198.51.100.1", T0)
    other = auth.sign_in(db, hashed, "wrong again!", who="ip:198.51.100.2", now=last)
    assert other.status == "wrong" and other.retry_after == timedelta(0)
    assert auth.sign_in(db, hashed, PASSWORD, who="ip:198.51.100.3", now=last).ok


def test_the_wait_doubles_with_each_failure_up_to_the_cap(db: Database, hashed: str) -> None:
    who = "ip:198.51.100.9"
    now = _fail_until_throttled(db, hashed, who, T0)
    assert auth.client_state(db, who, now=now).retry_at == now + auth.BASE_DELAY
    waits = []
    for _ in range(8):
        state = auth.client_state(db, who, now=now)
        assert state.retry_at is not None
        just_before = state.retry_at - timedelta(seconds=1)
        assert auth.sign_in(db, hashed, PASSWORD, who=who, now=just_before).status == "throttled"
        now = state.retry_at
        result = _fail(db, hashed, who, now)
        assert result.status == "wrong"
        waits.append(result.retry_after)
    base = auth.BASE_DELAY
    assert waits[:4] == [base * 2, base * 4, base * 8, base * 16]
    assert waits[4:] == [auth.MAX_DELAY] * 4
    assert auth.sign_in(db, hashed, PASSWORD, who=who, now=now + auth.MAX_DELAY).ok


def test_throttled_attempts_are_not_counted_and_do_not_extend_the_wait(
    db: Database, hashed: str
) -> None:
    who = "ip:198.51.100.10"
    last = _fail_until_throttled(db, hashed, who, T0)
    for second in range(30):  # one refused attempt every second of the 30 s wait
        result = _fail(db, hashed, who, last + timedelta(seconds=second))
        assert result.status == "throttled"
        assert result.retry_after == auth.BASE_DELAY - timedelta(seconds=second)
        assert "not checked" in result.message and "Try again in" in result.message
    state = auth.client_state(db, who, now=last + timedelta(seconds=29))
    assert state.failures == auth.MAX_FAILURES
    assert state.retry_at == last + auth.BASE_DELAY
    assert auth.sign_in(db, hashed, PASSWORD, who=who, now=last + auth.BASE_DELAY).ok
    actions = [r.action for r in _rows(db, who)]
    assert actions == [auth.FAILED] * auth.MAX_FAILURES + [auth.THROTTLED] * 30 + [auth.SIGNED_IN]


def test_a_success_resets_the_client(db: Database, hashed: str) -> None:
    who = "ip:198.51.100.11"
    for i in range(auth.MAX_FAILURES - 1):
        _fail(db, hashed, who, T0 + timedelta(seconds=i))
    assert auth.sign_in(db, hashed, PASSWORD, who=who, now=T0 + timedelta(seconds=10)).ok
    assert auth.client_state(db, who, now=T0 + timedelta(seconds=10)).failures == 0
    for i in range(auth.MAX_FAILURES - 1):
        result = _fail(db, hashed, who, T0 + timedelta(seconds=20 + i))
        assert result.retry_after == timedelta(0)


def test_failures_are_forgotten_after_a_quiet_spell(db: Database, hashed: str) -> None:
    who = "ip:198.51.100.12"
    last = _fail_until_throttled(db, hashed, who, T0)
    later = last + auth.RESET_AFTER + timedelta(seconds=1)
    assert auth.client_state(db, who, now=later).failures == 0
    assert _fail(db, hashed, who, later).retry_after == timedelta(0)


def test_every_attempt_is_audited_with_the_client_key(db: Database, hashed: str) -> None:
    who = "ip:2001:db8:1:2::/64"
    last = _fail_until_throttled(db, hashed, who, T0)
    auth.sign_in(db, hashed, PASSWORD, who=who, now=last)
    auth.sign_in(db, hashed, PASSWORD, who=who, now=last + auth.BASE_DELAY)
    rows = _rows(db)
    assert {r.target for r in rows} == {who}
    assert [(r.action, r.actor) for r in rows[-2:]] == [
        (auth.THROTTLED, "anonymous"),
        (auth.SIGNED_IN, "admin"),
    ]
    assert rows[0].details == {"failures": 1, "wait_s": 0.0}
    assert rows[auth.MAX_FAILURES - 1].details == {
        "failures": auth.MAX_FAILURES,
        "wait_s": auth.BASE_DELAY.total_seconds(),
    }
    assert rows[-1].details == {"after_failures": auth.MAX_FAILURES}


def test_the_state_holds_across_processes(db: Database, hashed: str) -> None:
    who = "ip:198.51.100.13"
    last = _fail_until_throttled(db, hashed, who, T0)
    other_process = Database(db.url)  # a second engine on the same store, as after a restart
    try:
        result = auth.sign_in(other_process, hashed, PASSWORD, who=who, now=last)
    finally:
        other_process.dispose()
    assert result.status == "throttled"


def test_parallel_attempts_of_one_client_get_one_check(sqlite_db: Database, hashed: str) -> None:
    who = "ip:198.51.100.14"
    last = _fail_until_throttled(sqlite_db, hashed, who, T0)
    at = last + auth.BASE_DELAY  # the wait is over: exactly one of these may be checked
    start = threading.Barrier(8)
    results: list[auth.SignInResult] = []

    def attempt() -> None:
        start.wait()
        results.append(_fail(sqlite_db, hashed, who, at))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == ["throttled"] * 7 + ["wrong"]
    assert auth.client_state(sqlite_db, who, now=at).failures == auth.MAX_FAILURES + 1


def test_no_password_configured_is_refused_without_audit(db: Database) -> None:
    result = auth.sign_in(db, None, PASSWORD, who=auth.LOCAL, now=T0)
    assert result.status == "closed" and not result.ok
    assert _rows(db) == []


def test_the_back_off_queries_use_indexes(sqlite_db: Database) -> None:
    stmts = {
        "SEARCH audit_log USING INDEX ix_audit_log_target_at (target=? AND at>?)": auth._latest_stmt(
            "local", T0
        ),
        "SEARCH audit_log USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)": auth._rivals_stmt(
            "local", 10, 20
        ),
    }
    with sqlite_db.engine.connect() as conn:
        for expected, stmt in stmts.items():
            sql = str(stmt.compile(sqlite_db.engine, compile_kwargs={"literal_binds": True}))
            plan = [str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            assert plan == [expected]  # no table scan, no sort


@pytest.mark.parametrize(
    ("seconds", "text_"),
    [(0.2, "1 second"), (30, "30 seconds"), (60, "1 minute"), (250, "4 minutes 10 seconds")],
)
def test_waits_read_as_words(seconds: float, text_: str) -> None:
    assert auth.format_wait(timedelta(seconds=seconds)) == text_


def test_the_delay_schedule() -> None:
    assert [auth.delay_after(n) for n in range(auth.MAX_FAILURES)] == [timedelta(0)] * 5
    assert auth.delay_after(auth.MAX_FAILURES) == auth.BASE_DELAY
    assert auth.delay_after(auth.MAX_FAILURES + 1) == auth.BASE_DELAY * 2
    assert auth.delay_after(10_000) == auth.MAX_DELAY
