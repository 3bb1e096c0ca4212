"""Nothing leaked: personal data typed into the chat, the feedback box or a user id is not in
the raw bytes the store and the spool write — SQLite file, WAL and spool files alike.

Property tests (hypothesis): generated values in varied formats and positions go through the
real pipeline (guards, retrieval, LocalModel, span writer with redaction and user-id
hashing), then every byte on disk is searched for each value (and, for numbers, for their
digits written without separators).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops import feedback
from llmops.chat import ChatService
from llmops.config import Settings
from llmops.guards.runner import GuardRunner
from llmops.privacy import user_id_mapper
from llmops.redaction import redact
from llmops.store.db import Database
from llmops.tracing import SpanWriter, Tracer

# -- generated personal data ---------------------------------------------------------------------
_names = st.sampled_from(["ana.garcia", "j.smith", "maria_lopez", "p.kowalski", "li.wei"])
_domains = st.sampled_from(["example.com", "correo.es", "mail.example.org", "uni.edu"])
emails = st.builds(lambda n, d, up: f"{n}@{d}".upper() if up else f"{n}@{d}", _names, _domains,
                   st.booleans())  # fmt: skip


def _luhn(prefix: str) -> str:
    digits = [int(c) for c in prefix]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return prefix + str((10 - total % 10) % 10)


cards = st.builds(
    lambda body, sep: sep.join(_luhn("4" + body)[i : i + 4] for i in range(0, 16, 4)),
    st.text("0123456789", min_size=14, max_size=14),
    st.sampled_from(["", " ", "-"]),
)
_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
dnis = st.builds(lambda n, sep: f"{n:08d}{sep}{_LETTERS[n % 23]}",
                 st.integers(10_000_000, 99_999_999), st.sampled_from(["", "-"]))  # fmt: skip
phones = st.builds(
    lambda a, b, c: f"+34 6{a:02d} {b:03d} {c:03d}",
    st.integers(10, 99), st.integers(100, 999), st.integers(100, 999),
)  # fmt: skip
passwords = st.builds(
    lambda word, n: f"{word}{n}",
    st.sampled_from(["Tr0ub4dor", "perro", "Sunshine", "qwerty", "Zx"]),
    st.integers(100, 99_999),
)
VALUES: dict[str, Any] = {"email": emails, "card": cards, "dni": dnis, "phone": phones}
CARRIERS = [
    "My {kind} is {v}. What is LLMOps?",
    "{v} — ¿qué es una release canary?",
    "Hola, te escribo desde {v}; ¿cómo se mide la latencia p95?",
    "How do I roll back a release? ({v})",
    "Please answer to {v}\nand tell me what groundedness means",
]
PASSWORD_CARRIERS = [
    "my password is {v} and what is LLMOps?",
    "Mi contraseña es {v}. ¿Qué es el monitoreo?",
    "password: {v}\nhow does tracing work?",
]


def _raw(home: Path, db: Database, spool: Path) -> bytes:
    db.engine.dispose()  # close connections: everything SQLite wrote is on disk
    files = [*home.glob("store.db*"), *spool.glob("*")]
    return b"".join(p.read_bytes() for p in files if p.is_file())


def _forms(value: str) -> list[bytes]:
    forms = {value, value.lower()}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 8:
        forms.add(digits)
    return [f.encode() for f in forms]


@pytest.fixture
def pipeline(tmp_path: Path, kb: Any, settings: Settings) -> Any:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}", busy_timeout_ms=2000)
    from llmops.runtime import bootstrap

    bootstrap(db)
    spool = tmp_path / "spool"
    writer = SpanWriter(db, spool, flush_interval_s=0.01, redact=redact,
                        user_ids=user_id_mapper(settings))  # fmt: skip
    chat = ChatService(settings, db, kb, Tracer(writer), guards=GuardRunner())
    yield chat, db, writer, spool, tmp_path
    writer.close()
    db.dispose()


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    kind=st.sampled_from(sorted(VALUES)),
    data=st.data(),
    carrier=st.sampled_from(CARRIERS),
    comment_carrier=st.sampled_from(["it was wrong, write to {v}", "{v}", "llámame: {v}"]),
)
def test_personal_data_in_messages_and_comments_is_never_stored(
    pipeline: Any, kind: str, data: st.DataObject, carrier: str, comment_carrier: str
) -> None:
    chat, db, writer, spool, home = pipeline
    value = data.draw(VALUES[kind])
    turn = chat.ask(carrier.format(kind=kind, v=value), session_id="s")
    feedback.record(db, turn.trace_id, 0.0, comment=comment_carrier.format(v=value),
                    tracer=chat.tracer)  # fmt: skip
    assert writer.flush()
    raw = _raw(home, db, spool)
    for form in _forms(value):
        assert form not in raw, (kind, value)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(value=passwords, carrier=st.sampled_from(PASSWORD_CARRIERS))
def test_a_password_given_in_context_is_stored_nowhere(
    pipeline: Any, value: str, carrier: str
) -> None:
    chat, db, writer, spool, home = pipeline
    chat.ask(carrier.format(v=value))
    assert writer.flush()
    assert value.encode() not in _raw(home, db, spool)


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(email=emails)
def test_an_email_user_id_and_spooled_records_leak_nothing(pipeline: Any, email: str) -> None:
    """With the store locked, records go to the spool: its files must be as clean."""
    chat, db, writer, spool, home = pipeline
    blocker = sqlite3.connect(str(home / "store.db"), timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        chat.ask(f"I am {email}, what is LLMOps?", user_id=email)
        assert writer.flush(timeout=15)
        spooled = b"".join(p.read_bytes() for p in spool.glob("*.jsonl"))
        assert spooled, "the records should be in the spool while the store is locked"
        for form in _forms(email):
            assert form not in spooled
    finally:
        blocker.rollback()
        blocker.close()
    assert writer.flush(timeout=15)
    for form in _forms(email):
        assert form not in _raw(home, db, spool), email
