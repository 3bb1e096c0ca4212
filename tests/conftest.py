"""Shared fixtures: an isolated LLMOPS_HOME per test, a no-egress guard, real stores.

- Every test gets its own ``LLMOPS_HOME`` under ``tmp_path`` (settings are re-read).
- Any attempt to reach a non-loopback address fails the test (``sys.addaudithook``).
- ``db`` is a migrated store on SQLite (a copy of a template migrated once per session), and
  on PostgreSQL too when ``LLMOPS_TEST_DATABASE_URL`` is set (each test in its own database,
  a copy of a template database migrated by Alembic once per session).
- ``kb`` is the shipped knowledge base, ingested once per session into real Chroma.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmops  # noqa: F401  (applies the offline environment first)
from llmops.config import Settings, reset_settings
from llmops.store.db import Database
from llmops.store.migrate import current_revision, upgrade

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PG_URL = os.environ.get("LLMOPS_TEST_DATABASE_URL")

# -- no egress ---------------------------------------------------------------------------------
_egress: dict[str, Any] = {"active": False, "attempts": []}


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in ("localhost", "", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _egress["active"]:
        return
    if event == "socket.connect":
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) == socket.AF_UNIX:
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            _egress["attempts"].append(f"connect {address!r}")
            raise ConnectionRefusedError(f"egress blocked by the test suite: {address!r}")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if not _is_loopback(host):
            _egress["attempts"].append(f"getaddrinfo {host!r}")
            raise socket.gaierror(f"egress blocked by the test suite: {host!r}")


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def no_egress() -> Iterator[list[str]]:
    """Fail any test that tries to open a connection to a non-loopback address."""
    _egress["attempts"] = []
    _egress["active"] = True
    try:
        yield _egress["attempts"]
    finally:
        _egress["active"] = False
    attempts = list(_egress["attempts"])
    if attempts:
        pytest.fail(f"test attempted network egress: {attempts}")


# -- isolated home -----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def llmops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "llmops-home"
    monkeypatch.setenv("LLMOPS_HOME", str(home))
    monkeypatch.delenv("LLMOPS_DATABASE_URL", raising=False)
    reset_settings()
    yield home
    reset_settings()


@pytest.fixture
def settings(llmops_home: Path) -> Settings:
    return Settings(home=llmops_home)


# -- stores ------------------------------------------------------------------------------------
def _pg_schema_url(schema: str) -> str:
    assert PG_URL
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema (dropped afterwards)."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need LLMOPS_TEST_DATABASE_URL (see README: Testing)")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _backends() -> list[Any]:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _pg_database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    assert PG_URL
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A PostgreSQL database migrated once per session, which ``db`` clones (``CREATE
    DATABASE ... TEMPLATE``: a file copy, ~0.1 s, where Alembic in a fresh schema took
    1-1.5 s a test). None when the role may not create databases: ``db`` then migrates a
    fresh schema per test as before."""
    if not PG_URL:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ProgrammingError

    name = f"llmops_tmpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except ProgrammingError:  # no CREATEDB privilege
        admin.dispose()
        yield None
        return
    try:
        template = Database(_pg_database_url(name))
        upgrade(template)
        template.dispose()  # CREATE DATABASE ... TEMPLATE needs it free of connections
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class _Dropper:
    """Drops the tests' PostgreSQL databases on a thread of its own: a DROP DATABASE waits for
    a checkpoint, up to seconds on a busy machine, which no test needs to wait for."""

    def __init__(self) -> None:
        import queue
        import threading

        self.names: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, name="test-db-dropper", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_URL or "", isolation_level="AUTOCOMMIT")
        try:
            while (name := self.names.get()) is not None:
                try:
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                except Exception as exc:  # noqa: BLE001 - reported when the session ends
                    self.errors.append(f"{name}: {exc}")
        finally:
            admin.dispose()

    def close(self) -> None:
        self.names.put(None)
        self.thread.join(300)
        assert not self.errors, self.errors


@pytest.fixture(scope="session")
def pg_dropper(pg_template: str | None) -> Iterator[_Dropper]:
    dropper = _Dropper()
    yield dropper
    dropper.close()  # before the template goes (session fixtures end in reverse order)


@pytest.fixture
def pg_migrated_url(pg_template: str | None, pg_dropper: _Dropper) -> Iterator[str]:
    """A PostgreSQL database of its own, migrated: a copy of the session's template (dropped
    afterwards in the background, with any connection a test left open)."""
    if pg_template is None:
        raise RuntimeError("pg_migrated_url needs a template database (pg_template)")
    from sqlalchemy import create_engine, text

    name = f"llmops_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL or "", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    admin.dispose()
    try:
        yield _pg_database_url(name)
    finally:
        pg_dropper.names.put(name)


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store's URL on each backend. On PostgreSQL a test that uses ``db`` gets a copy of
    the migrated template database; one that wants a blank store gets an empty schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if "db" in request.fixturenames and request.getfixturevalue("pg_template") is not None:
        return str(request.getfixturevalue("pg_migrated_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def blank_db(db_url: str) -> Iterator[Database]:
    """An empty database (no tables yet) on each backend."""
    db = Database(db_url, busy_timeout_ms=2000)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per session; ``db`` copies it instead of running
    Alembic in every test. PostgreSQL keeps migrating each test's own schema."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    template = Database(f"sqlite:///{path}")
    upgrade(template)
    template.dispose()
    return path


def _migrated(db: Database, template: Path) -> Database:
    """``db`` migrated with the default release: the template copied in (SQLite's backup
    API, so a WAL file is never left behind), or Alembic on other backends."""
    from llmops.releases import ensure_default_release
    from llmops.runtime import bootstrap

    if db.dialect != "sqlite":
        if current_revision(db) is None:  # an empty schema (no template database)
            bootstrap(db)
        else:  # a copy of the template database
            ensure_default_release(db)
        return db
    import sqlite3
    from contextlib import closing

    from sqlalchemy.engine import make_url

    target = make_url(db.url).database
    assert target, db.url
    with closing(sqlite3.connect(template)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    db.engine.dispose()  # connections opened before the copy see the copied store
    ensure_default_release(db)
    return db


@pytest.fixture
def db(blank_db: Database, sqlite_template: Path) -> Database:
    """A migrated store with the default release, on each backend."""
    return _migrated(blank_db, sqlite_template)


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}", busy_timeout_ms=2000)
    yield _migrated(db, sqlite_template)
    db.dispose()


# -- knowledge base (real embeddings, real Chroma), shared by the session -----------------------
@pytest.fixture(scope="session")
def embeddings() -> Any:
    from llmops.rag.embeddings import shared

    return shared()  # the model the app's guards and knowledge base share


@pytest.fixture(scope="session")
def kb(tmp_path_factory: pytest.TempPathFactory, embeddings: Any) -> Any:
    """The shipped knowledge base ingested once into a session-wide Chroma + SQLite."""
    from llmops.rag.knowledge import KnowledgeBase

    home = tmp_path_factory.mktemp("kb-home")
    settings = Settings(home=home)
    kb_db = Database(f"sqlite:///{home / 'kb.db'}")
    upgrade(kb_db)
    knowledge = KnowledgeBase(settings, kb_db, embeddings)
    report = knowledge.ingest()
    assert report.chunks > 0, report
    return knowledge


@pytest.fixture
def writer(db: Database, tmp_path: Path) -> Iterator[Any]:
    from llmops.tracing.writer import SpanWriter

    w = SpanWriter(db, tmp_path / "spool", flush_interval_s=0.02, retry_interval_s=0.05)
    yield w
    w.close()


@pytest.fixture
def chat_service(db: Database, kb: Any, writer: Any, settings: Settings) -> Any:
    """The real ChatService over the store under test and the shared knowledge base."""
    from llmops.chat import ChatService
    from llmops.guards.runner import GuardRunner
    from llmops.tracing.tracer import Tracer

    return ChatService(settings, db, kb, Tracer(writer), guards=GuardRunner())
