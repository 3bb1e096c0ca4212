"""Admin authentication for the console: a salted argon2 hash, per-client back-off, audited.

There is no default password. The hash lives in ``.streamlit/secrets.toml``
(``LLMOPS_ADMIN_PASSWORD_HASH``, written by ``llmops admin set-password``) or in the
environment variable of the same name; the password itself is never stored. When an OIDC
provider is configured (``[auth]`` in secrets), the console uses Streamlit's ``st.login``
instead and admits the e-mail addresses listed as admins.

Sign-in attempts are limited per client, never globally, so nobody can lock the admin out
from somewhere else. A client (see ``client_key``: the real peer address, an IPv6 client by
its /64) may fail ``MAX_FAILURES`` times in a row; then it waits ``BASE_DELAY`` before its next
attempt is even checked, twice as long after each further failure, at most ``MAX_DELAY``. An
attempt made while waiting is refused without looking at the password and audited as
``admin.signin.throttled``: it neither counts as a failure nor extends the wait. A success
resets the client, and so do ``RESET_AFTER`` without a failure. Every attempt is an audit row
and the audit log is the state (each failure row carries the client's count), so the limits
hold across processes and restarts.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from llmops.errors import InvalidInputError
from llmops.store.db import Database
from llmops.store.models import AuditLog, utcnow

log = logging.getLogger(__name__)

HASH_KEY = "LLMOPS_ADMIN_PASSWORD_HASH"
MIN_PASSWORD = 10

SIGNED_IN = "admin.signin"
FAILED = "admin.signin.failed"
THROTTLED = "admin.signin.throttled"
MAX_FAILURES = 5  # failures in a row a client may make before it has to wait
BASE_DELAY = timedelta(seconds=30)  # the wait after MAX_FAILURES; doubled by each further one
MAX_DELAY = timedelta(minutes=15)
RESET_AFTER = timedelta(hours=1)  # a client's failures are forgotten this long after the last
VERIFY_CONCURRENCY = 2  # argon2 checks at once per process: slows a flood, refuses nobody

# client keys that are not an address
LOCAL = "local"  # a loopback peer, or none known (unix socket, AppTest)
PROXIED = "proxied"  # came through a proxy that LLMOPS_TRUSTED_PROXIES does not list
UNKNOWN = "unknown"  # an address that does not parse
IPV6_PREFIX = 64
# uvicorn (which serves Streamlit) rewrites the peer from X-Forwarded-For when the TCP peer is
# one of these; Streamlit passes no value of its own, so this is uvicorn's default.
UVICORN_FORWARDED_ENV = "FORWARDED_ALLOW_IPS"
UVICORN_FORWARDED_DEFAULT = "127.0.0.1,::1"

_verify_slots = threading.BoundedSemaphore(VERIFY_CONCURRENCY)


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"A console password must have at least {MIN_PASSWORD} characters.")
    return PasswordHasher().hash(password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored argon2 hash was made with other parameters than today's defaults
    (``llmops.governance.accounts`` rehashes it at the next successful sign-in)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError

    try:
        return PasswordHasher().check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


def verify_password(password_hash: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        with _verify_slots:
            return PasswordHasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def read_secret_hash(secrets_path: Path) -> str | None:
    """``LLMOPS_ADMIN_PASSWORD_HASH`` as the secrets file holds it now: read at each sign-in,
    so a password set with ``llmops admin set-password`` works without restarting the app."""
    import tomllib

    try:
        value = tomllib.loads(secrets_path.read_text("utf-8")).get(HASH_KEY)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return str(value) if value else None


def write_secret_hash(secrets_path: Path, password_hash: str) -> None:
    """Set ``LLMOPS_ADMIN_PASSWORD_HASH`` in a secrets.toml, keeping everything else in it."""
    import tomlkit

    secrets_path.parent.mkdir(parents=True, exist_ok=True)
    doc = tomlkit.parse(secrets_path.read_text("utf-8")) if secrets_path.exists() else None
    if doc is None:
        doc = tomlkit.document()
    # root-level keys must come before any table, so rebuild with ours first
    new = tomlkit.document()
    new.add(HASH_KEY, password_hash)
    for key, value in doc.items():
        if key != HASH_KEY:
            new.add(key, value)
    secrets_path.write_text(tomlkit.dumps(new), "utf-8")
    os.chmod(secrets_path, 0o600)


# -- who is asking -----------------------------------------------------------------------------
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True)
class Hosts:
    """A set of hosts as uvicorn and LLMOPS_TRUSTED_PROXIES write them: addresses, networks,
    ``*`` for all, and anything else as a literal name."""

    networks: tuple[Network, ...] = ()
    literals: frozenset[str] = frozenset()
    everything: bool = False

    def __contains__(self, host: object) -> bool:
        """uvicorn's test: an exact address parse, else a literal match."""
        if self.everything:
            return True
        if not isinstance(host, str) or not host:
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return host in self.literals
        return any(addr in net for net in self.networks)

    def trusts(self, host: str) -> bool:
        """Ours: like ``in``, and an IPv4-mapped IPv6 address is its IPv4 address."""
        addr = _address(host)
        if addr is None:
            return host in self
        return self.everything or any(addr in net for net in self.networks)

    def covers(self, other: Hosts) -> bool:
        """Whether every host of ``other`` is in this set."""
        if self.everything:
            return True
        if other.everything or not other.literals <= self.literals:
            return False
        return all(_within(net, self.networks) for net in other.networks)


def _within(net: Network, networks: tuple[Network, ...]) -> bool:
    return any(
        net.version == outer.version and net.subnet_of(outer)  # type: ignore[arg-type]
        for outer in networks
    )


@lru_cache(maxsize=32)
def parse_hosts(spec: str) -> Hosts:
    """``"127.0.0.1, 10.0.0.0/8"`` (comma-separated addresses or networks) as a ``Hosts``."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if "*" in items:
        return Hosts(everything=True)
    networks: list[Network] = []
    literals: set[str] = set()
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            log.warning("%r is not an address or network; it only matches itself literally", item)
            literals.add(item)
    return Hosts(tuple(networks), frozenset(literals))


def _trusted(spec: str) -> Hosts:
    """LLMOPS_TRUSTED_PROXIES; naming one loopback address trusts the loopback interface."""
    hosts = parse_hosts(spec)
    if any(_within(net, _LOOPBACK) for net in hosts.networks):
        return Hosts(hosts.networks + _LOOPBACK, hosts.literals, hosts.everything)
    return hosts


def _host(entry: str) -> str:
    """The host of one X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``),
    parsed as uvicorn does: anything malformed stays whole."""
    if entry.startswith("["):
        end = entry.find("]")
        rest = entry[end + 1 :]
        if end == -1 or (rest and not rest.startswith(":")):
            return entry
        return entry[1:end]
    if entry.count(":") == 1:
        host, port = entry.rsplit(":", 1)
        return host if port.isdigit() else entry
    return entry


def _address(host: str) -> Address | None:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _uvicorn_client(entries: list[str], trusted: Hosts) -> str:
    """The client uvicorn's proxy-headers middleware takes from these X-Forwarded-For entries."""
    if trusted.everything:
        return _host(entries[0])
    for entry in reversed(entries):
        host = _host(entry)
        if host not in trusted:
            return host
    return _host(entries[0])


def _rightmost_untrusted(entries: list[str], trusted: Hosts) -> str:
    hosts = [host for host in map(_host, entries) if host]
    for host in reversed(hosts):
        if not trusted.trusts(host):
            return host
    return hosts[0] if hosts else ""  # only trusted proxies: the first is the client


def _address_key(host: str) -> str:
    addr = _address(host)
    if addr is None:
        return UNKNOWN
    if addr.is_loopback:
        return LOCAL
    if isinstance(addr, ipaddress.IPv6Address):
        prefix = int(addr) >> (128 - IPV6_PREFIX) << (128 - IPV6_PREFIX)
        return f"ip:{ipaddress.IPv6Network((prefix, IPV6_PREFIX))}"
    return f"ip:{addr}"


def client_key(
    peer: str | None,
    forwarded_for: str | None,
    trusted_proxies: str = "",
    *,
    uvicorn_trusted: str = UVICORN_FORWARDED_DEFAULT,
) -> str:
    """The key a client's sign-in attempts are limited and audited under.

    ``peer`` is the client address Streamlit reports (the raw ``remote_ip``, loopback
    included), ``forwarded_for`` the X-Forwarded-For header (repeated headers joined by
    commas), ``trusted_proxies`` LLMOPS_TRUSTED_PROXIES and ``uvicorn_trusted`` the hosts
    uvicorn believes X-Forwarded-For from (FORWARDED_ALLOW_IPS).

    X-Forwarded-For counts only when the TCP peer is a trusted proxy; then the client is the
    right-most address in it that is not a trusted proxy. uvicorn already replaced the peer
    with an address from the header when the TCP peer was one of its trusted hosts (loopback
    by default): when ``peer`` is exactly what uvicorn would have taken from the header, the
    header is believed only if all of uvicorn's trusted hosts are trusted proxies, and
    otherwise every such client shares the key ``PROXIED`` (a forged header changes nothing).
    Loopback and unknown peers are ``LOCAL``; an IPv6 client is keyed by its /64 network.
    """
    if not peer:
        return LOCAL
    trusted = _trusted(trusted_proxies)
    entries = [e.strip() for e in forwarded_for.split(",")] if forwarded_for is not None else []
    uvicorn_hosts = parse_hosts(uvicorn_trusted)
    if entries and peer == _uvicorn_client(entries, uvicorn_hosts):
        # rewritten by uvicorn: the real peer was one of uvicorn_hosts, we cannot tell which
        if not trusted.covers(uvicorn_hosts):
            return PROXIED
        return _address_key(_rightmost_untrusted(entries, trusted))
    if any(entries) and trusted.trusts(peer):
        return _address_key(_rightmost_untrusted(entries, trusted))
    return _address_key(peer)


def uvicorn_trusted_hosts() -> str:
    """The hosts uvicorn believes X-Forwarded-For from in this process."""
    return os.environ.get(UVICORN_FORWARDED_ENV, UVICORN_FORWARDED_DEFAULT)


# -- sign-in with per-client back-off ----------------------------------------------------------
Status = Literal["signed_in", "wrong", "throttled", "closed"]


@dataclass(frozen=True)
class SignInResult:
    ok: bool
    message: str
    status: Status = "wrong"
    # wrong: the wait this failure started (zero if none); throttled: what is left of it
    retry_after: timedelta = timedelta(0)
    user: str | None = None  # signed_in: the account signed in as


@dataclass(frozen=True)
class ClientState:
    """Where a client stands, read from its latest failure or success in the audit log."""

    failures: int  # failed sign-ins in a row
    retry_at: datetime | None  # its next attempt is refused unchecked before this


def delay_after(failures: int) -> timedelta:
    """How long a client waits after ``failures`` failed sign-ins in a row."""
    if failures < MAX_FAILURES:
        return timedelta(0)
    doublings = min(failures - MAX_FAILURES, 32)
    return min(BASE_DELAY * 2**doublings, MAX_DELAY)


def format_wait(wait: timedelta) -> str:
    """``1 second``, ``45 seconds``, ``4 minutes 10 seconds`` (rounded up)."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{minutes} minute{'s' * (minutes != 1)}"] if minutes else []
    if seconds or not minutes:
        parts.append(f"{seconds} second{'s' * (seconds != 1)}")
    return " ".join(parts)


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now


def _latest_stmt(who: str, now: datetime) -> Select[AuditLog]:
    """The client's latest failure or success within RESET_AFTER (walks ix_audit_log_at)."""
    return (
        select(AuditLog)
        .where(
            AuditLog.at >= now - RESET_AFTER,
            AuditLog.target == who,
            AuditLog.action.in_((FAILED, SIGNED_IN)),
        )
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(1)
    )


def _rivals_stmt(who: str, after_id: int, before_id: int) -> Select[int]:
    """Attempts of the same client claimed between our read and our claim: the audit rows
    written in between, a short primary-key range."""
    return (
        select(AuditLog.id)
        .where(
            AuditLog.id > after_id,
            AuditLog.id < before_id,
            # expressions, so SQLite walks the short key range rather than every row of this
            # client in ix_audit_log_target_at or of these actions in ix_audit_log_action_at
            func.coalesce(AuditLog.target, "") == who,
            func.coalesce(AuditLog.action, "").in_((FAILED, SIGNED_IN)),
        )
        .limit(1)
    )


def _state(s: Session, who: str, now: datetime) -> ClientState:
    row = s.scalars(_latest_stmt(who, now)).first()
    if row is None or row.action == SIGNED_IN:
        return ClientState(0, None)
    failures = (row.details or {}).get("failures")
    failures = failures if isinstance(failures, int) and failures > 0 else 1
    return ClientState(failures, row.at + delay_after(failures))


def client_state(db: Database, who: str, *, now: datetime | None = None) -> ClientState:
    """Failures in a row and the end of the current wait of one client."""
    with db.session() as s:
        return _state(s, who, _aware(now))


def _row(who: str, action: str, now: datetime, **details: Any) -> AuditLog:
    return AuditLog(at=now, actor="anonymous", action=action, target=who, details=details or None)


def _throttled(wait: timedelta) -> SignInResult:
    return SignInResult(
        False,
        "Too many failed sign-ins from your address, so this attempt was not checked. "
        f"Try again in {format_wait(wait)}.",
        "throttled",
        wait,
    )


def sign_in(
    db: Database,
    password_hash: str | None,
    password: str,
    *,
    who: str,
    now: datetime | None = None,
) -> SignInResult:
    """Check the admin password of ``LLMOPS_ADMIN_PASSWORD_HASH`` for the client ``who`` (a
    ``client_key``), with its back-off; a success signs in as ``admin``."""
    if not password_hash:
        return SignInResult(False, "No admin password is configured.", "closed")
    return attempt(
        db, lambda: "admin" if verify_password(password_hash, password) else None, who=who, now=now
    )


def attempt(
    db: Database,
    check: Callable[[], str | None],
    *,
    who: str,
    now: datetime | None = None,
    wrong: str = "Wrong password.",
) -> SignInResult:
    """One sign-in attempt of the client ``who`` with its back-off: ``check`` verifies the
    credentials and returns the name signed in as (``None``: wrong); it is not even called
    while the client has to wait.

    The attempt is claimed in the audit log (as a failure) before ``check`` runs, so that
    parallel attempts of one client (tabs, processes) get one check per wait between them:
    the later claims become throttled attempts. A success turns the claim into a
    ``SIGNED_IN`` row whose actor is the name signed in as.
    """
    now = _aware(now)
    who = who[:500]
    with db.session() as s:
        seen = s.scalar(select(func.max(AuditLog.id))) or 0  # first: a rival after it is caught
        state = _state(s, who, now)
        if state.retry_at is not None and now < state.retry_at:
            wait = state.retry_at - now
            s.add(_row(who, THROTTLED, now, failures=state.failures, wait_s=wait.total_seconds()))
            return _throttled(wait)
        failures = state.failures + 1
        delay = delay_after(failures)
        claim = _row(who, FAILED, now, failures=failures, wait_s=delay.total_seconds())
        s.add(claim)
        s.flush()
        claim_id = claim.id
    with db.session() as s:
        if s.scalars(_rivals_stmt(who, seen, claim_id)).first() is not None:
            row = s.get_one(AuditLog, claim_id)
            row.action, row.details = THROTTLED, {"failures": state.failures, "concurrent": True}
            return _throttled(timedelta(seconds=1))
    name = check()
    if name is None:
        return SignInResult(False, wrong, "wrong", delay)
    with db.session() as s:
        row = s.get_one(AuditLog, claim_id)
        row.actor, row.action = name[:200], SIGNED_IN
        row.details = {"after_failures": state.failures} if state.failures else None
    return SignInResult(True, "Signed in.", "signed_in", user=name)
