"""Admin authentication for the console: a salted argon2 hash, rate-limited, audited.

There is no default password. The hash lives in ``.streamlit/secrets.toml``
(``LLMOPS_ADMIN_PASSWORD_HASH``, written by ``llmops admin set-password``) or in the
environment variable of the same name; the password itself is never stored. Failed sign-ins
are written to the audit log, and the log is what rate-limits them, so the limit holds across
processes and restarts. When an OIDC provider is configured (``[auth]`` in secrets), the console
uses Streamlit's ``st.login`` instead and admits the e-mail addresses listed as admins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from llmops.errors import InvalidInputError
from llmops.store.db import Database
from llmops.store.models import AuditLog, utcnow

HASH_KEY = "LLMOPS_ADMIN_PASSWORD_HASH"
MIN_PASSWORD = 10
MAX_FAILURES = 5  # per client in WINDOW
MAX_FAILURES_GLOBAL = 30  # across all clients in WINDOW
WINDOW = timedelta(minutes=5)
FAILED = "admin.signin.failed"
SIGNED_IN = "admin.signin"


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"The admin password must have at least {MIN_PASSWORD} characters.")
    return PasswordHasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


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


@dataclass
class SignInResult:
    ok: bool
    message: str


def recent_failures(db: Database, who: str | None = None) -> int:
    """Failed sign-ins in the last WINDOW, for one client or (``who=None``) for all."""
    since = utcnow() - WINDOW
    stmt = select(func.count()).where(AuditLog.action == FAILED, AuditLog.at >= since)
    if who is not None:
        stmt = stmt.where(AuditLog.target == who)
    with db.session() as s:
        return int(s.scalar(stmt) or 0)


def sign_in(db: Database, password_hash: str | None, password: str, *, who: str) -> SignInResult:
    """Check an admin password; ``who`` identifies the client for rate limiting and audit."""
    if not password_hash:
        return SignInResult(False, "No admin password is configured.")
    if recent_failures(db, who) >= MAX_FAILURES or recent_failures(db) >= MAX_FAILURES_GLOBAL:
        with db.session() as s:
            s.add(AuditLog(actor="anonymous", action=FAILED, target=who, details={"locked": True}))
        minutes = int(WINDOW.total_seconds() // 60)
        return SignInResult(
            False, f"Too many failed sign-ins. Wait {minutes} minutes and try again."
        )
    if verify_password(password_hash, password):
        with db.session() as s:
            s.add(AuditLog(actor="admin", action=SIGNED_IN, target=who))
        return SignInResult(True, "Signed in.")
    with db.session() as s:
        s.add(AuditLog(actor="anonymous", action=FAILED, target=who))
    return SignInResult(False, "Wrong password.")
