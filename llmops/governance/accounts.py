"""Console accounts: several people, each with a name, an argon2 password hash and a role.

``add`` / ``set_role`` / ``remove`` change accounts (``Capability.ACCOUNTS``: admins, and the
CLI), each with an audit row; ``sign_in`` checks a name and a password with the per-client
back-off of ``llmops.auth`` and returns the ``Actor`` to act as.

The single admin password of earlier versions (``LLMOPS_ADMIN_PASSWORD_HASH``) keeps working:
while no account is named ``admin``, signing in as ``admin`` with it creates that account
(role ``admin``, the same hash), and from then on the account is what counts. A hash made with
older argon2 parameters is verified as it is and replaced at the next successful sign-in.

The last enabled admin can be neither removed nor demoted, so the console never locks out
everyone who could fix it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from llmops import auth
from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, Role, parse_role, require
from llmops.store.db import Database
from llmops.store.models import Account, AuditLog, utcnow
from llmops.types import JSONDict

BOOTSTRAP = "admin"  # the account the legacy admin password signs in as
MAX_NAME = 200


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified for an unknown name, so a wrong name takes as long as a wrong password."""
    return auth.hash_password(secrets.token_hex(16))


@dataclass(frozen=True)
class AccountInfo:
    username: str
    role: str
    created_at: datetime
    created_by: str
    disabled_at: datetime | None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def as_dict(self) -> JSONDict:
        return {
            "username": self.username,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None,
            "enabled": self.enabled,
        }


def _info(row: Account) -> AccountInfo:
    return AccountInfo(row.username, row.role, row.created_at, row.created_by, row.disabled_at)


def _name(username: str) -> str:
    name = username.strip()
    if not name or len(name) > MAX_NAME or any(c.isspace() for c in name):
        raise InvalidInputError(
            f"{username!r} is not a valid account name.",
            f"Use 1 to {MAX_NAME} characters without spaces.",
        )
    return name


def _get(s: Session, username: str) -> Account | None:
    return s.scalars(select(Account).where(Account.username == username)).first()


def _audit(s: Session, actor: str, action: str, target: str, **details: Any) -> None:
    s.add(AuditLog(actor=actor, action=action, target=target, details=details or None))


def _admins_left(s: Session, without: str) -> int:
    return int(
        s.scalar(
            select(func.count(Account.id)).where(
                Account.role == Role.ADMIN.label,
                Account.disabled_at.is_(None),
                Account.username != without,
            )
        )
        or 0
    )


def add(
    db: Database, username: str, password: str, role: str, *, actor: Actor | str = "system"
) -> AccountInfo:
    """Create an account (or re-enable a removed one with a new password and role)."""
    who = require(db, actor, Capability.ACCOUNTS, action="account.add")
    name, level = _name(username), parse_role(role)
    hashed = auth.hash_password(password)
    with db.session() as s:
        row = _get(s, name)
        if row is not None and row.disabled_at is None:
            raise InvalidInputError(
                f"The account {name!r} exists.", "Use set-role, or remove it first."
            )
        if row is None:
            row = Account(username=name, created_by=who)
            s.add(row)
        row.password_hash, row.role, row.disabled_at = hashed, level.label, None
        row.created_at, row.created_by = utcnow(), who
        _audit(s, who, "account.add", name, role=level.label)
        s.flush()
        return _info(row)


def _enabled(s: Session, username: str) -> Account:
    row = _get(s, username.strip())
    if row is None or row.disabled_at is not None:
        raise NotFoundError(f"No enabled account named {username!r}.")
    return row


def set_role(
    db: Database, username: str, role: str, *, actor: Actor | str = "system"
) -> AccountInfo:
    who = require(db, actor, Capability.ACCOUNTS, action="account.set_role")
    level = parse_role(role)
    with db.session() as s:
        row = _enabled(s, username)
        if (
            level != Role.ADMIN
            and row.role == Role.ADMIN.label
            and not _admins_left(s, row.username)
        ):
            raise InvalidInputError(
                f"{row.username!r} is the last admin.", "Make another account admin first."
            )
        before, row.role = row.role, level.label
        _audit(s, who, "account.set_role", row.username, role=level.label, was=before)
        return _info(row)


def remove(db: Database, username: str, *, actor: Actor | str = "system") -> AccountInfo:
    """Disable an account: it can no longer sign in (its hash is cleared); the row stays."""
    who = require(db, actor, Capability.ACCOUNTS, action="account.remove")
    with db.session() as s:
        row = _enabled(s, username)
        if row.role == Role.ADMIN.label and not _admins_left(s, row.username):
            raise InvalidInputError(
                f"{row.username!r} is the last admin.", "Make another account admin first."
            )
        row.disabled_at, row.password_hash = utcnow(), ""
        _audit(s, who, "account.remove", row.username, role=row.role)
        return _info(row)


def set_password(
    db: Database, username: str, password: str, *, actor: Actor | str = "system"
) -> AccountInfo:
    who = require(db, actor, Capability.ACCOUNTS, action="account.set_password")
    hashed = auth.hash_password(password)
    with db.session() as s:
        row = _enabled(s, username)
        row.password_hash = hashed
        _audit(s, who, "account.set_password", row.username)
        return _info(row)


def listing(db: Database, *, include_removed: bool = False) -> list[AccountInfo]:
    stmt = select(Account).order_by(Account.username)
    if not include_removed:
        stmt = stmt.where(Account.disabled_at.is_(None))
    with db.session() as s:
        return [_info(r) for r in s.scalars(stmt)]


def get(db: Database, username: str) -> AccountInfo | None:
    with db.session() as s:
        row = _get(s, username)
        return _info(row) if row is not None else None


def actor_for(db: Database, username: str) -> Actor | None:
    """The actor of an enabled account (``None``: removed or unknown) — read at every console
    run, so a new role or a removal applies at once."""
    info = get(db, username)
    if info is None or not info.enabled:
        return None
    return Actor(info.username, parse_role(info.role))


def _check(db: Database, username: str, password: str, legacy_hash: str | None) -> str | None:
    """The account's name when the password is right (rehashing an old hash), else None."""
    with db.session() as s:
        row = _get(s, username)
        stored = row.password_hash if row is not None else None
    if row is None and username == BOOTSTRAP and legacy_hash:
        return _bootstrap(db, legacy_hash) if auth.verify_password(legacy_hash, password) else None
    if not stored:  # unknown or removed: spend the same time as a real check
        auth.verify_password(_dummy_hash(), password)
        return None
    if not auth.verify_password(stored, password):
        return None
    if auth.needs_rehash(stored):
        with db.session() as s:
            current = _get(s, username)
            if current is not None and current.password_hash == stored:
                current.password_hash = auth.hash_password(password)
    return username


def _bootstrap(db: Database, legacy_hash: str) -> str:
    """Turn the legacy admin password into the ``admin`` account (once)."""
    with db.session() as s:
        if _get(s, BOOTSTRAP) is None:
            s.add(Account(username=BOOTSTRAP, password_hash=legacy_hash, role=Role.ADMIN.label,
                          created_by="bootstrap"))  # fmt: skip
            _audit(s, "bootstrap", "account.add", BOOTSTRAP, role=Role.ADMIN.label,
                   source=auth.HASH_KEY)  # fmt: skip
    return BOOTSTRAP


def sign_in(
    db: Database,
    username: str,
    password: str,
    *,
    who: str,
    legacy_hash: str | None = None,
    now: datetime | None = None,
) -> auth.SignInResult:
    """Check a name and a password for the client ``who`` (``auth.client_key``), with the
    per-client back-off and audit rows of ``llmops.auth.attempt``."""
    name = username.strip()[:MAX_NAME]
    if not name:
        return auth.SignInResult(False, "Enter your account name.", "wrong")
    return auth.attempt(
        db,
        lambda: _check(db, name, password, legacy_hash),
        who=who,
        now=now,
        wrong="Wrong account name or password.",
    )


def any_account(db: Database) -> bool:
    with db.session() as s:
        return (
            s.scalar(select(Account.id).where(Account.disabled_at.is_(None)).limit(1)) is not None
        )
