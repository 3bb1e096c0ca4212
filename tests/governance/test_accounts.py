"""Console accounts on the real store: add, list, set a role, remove; the last admin stays;
sign-in by name and password keeps the per-client back-off and its audit rows; the legacy
admin password becomes the ``admin`` account; old argon2 hashes are verified and renewed;
``llmops admin users`` from the shell."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from typer.testing import CliRunner

from llmops import auth
from llmops.cli import app
from llmops.config import reset_settings
from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance import accounts
from llmops.governance.roles import Actor, PermissionDeniedError, Role
from llmops.store.db import Database
from llmops.store.models import Account, AuditLog

PASSWORD = "correct horse battery"
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _audit(db: Database, action: str) -> list[AuditLog]:
    with db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action)
                              .order_by(AuditLog.id)))  # fmt: skip


def test_accounts_are_added_listed_changed_and_removed(db: Database) -> None:
    accounts.add(db, "ada", PASSWORD, "admin", actor="setup")
    info = accounts.add(db, "vera", PASSWORD, "viewer", actor=Actor("ada", Role.ADMIN))
    assert (info.username, info.role, info.enabled) == ("vera", "viewer", True)
    assert [a.username for a in accounts.listing(db)] == ["ada", "vera"]
    with pytest.raises(InvalidInputError, match="exists"):
        accounts.add(db, "vera", PASSWORD, "admin")
    assert accounts.set_role(db, "vera", "OPERATOR").role == "operator"
    assert accounts.actor_for(db, "vera") == Actor("vera", Role.OPERATOR)
    removed = accounts.remove(db, "vera")
    assert not removed.enabled and accounts.actor_for(db, "vera") is None
    assert [a.username for a in accounts.listing(db)] == ["ada"]
    assert [a.username for a in accounts.listing(db, include_removed=True)] == ["ada", "vera"]
    with db.session() as s:
        assert (
            s.scalars(select(Account.password_hash).where(Account.username == "vera")).one() == ""
        )
    # re-adding a removed account enables it again with its new role
    assert accounts.add(db, "vera", PASSWORD, "reviewer").enabled
    assert [(r.actor, r.target) for r in _audit(db, "account.add")] == [
        ("setup", "ada"),
        ("ada", "vera"),
        ("system", "vera"),
    ]
    with pytest.raises(NotFoundError):
        accounts.set_role(db, "nobody", "viewer")


def test_bad_names_roles_and_short_passwords_are_refused(db: Database) -> None:
    with pytest.raises(InvalidInputError, match="valid account name"):
        accounts.add(db, "two words", PASSWORD, "viewer")
    with pytest.raises(InvalidInputError, match="Unknown role"):
        accounts.add(db, "x", PASSWORD, "superuser")
    with pytest.raises(InvalidInputError, match="at least"):
        accounts.add(db, "x", "short", "viewer")


def test_the_last_admin_can_be_neither_removed_nor_demoted(db: Database) -> None:
    accounts.add(db, "ada", PASSWORD, "admin")
    with pytest.raises(InvalidInputError, match="last admin"):
        accounts.remove(db, "ada")
    with pytest.raises(InvalidInputError, match="last admin"):
        accounts.set_role(db, "ada", "operator")
    accounts.add(db, "bo", PASSWORD, "admin")
    accounts.set_role(db, "ada", "operator")
    with pytest.raises(InvalidInputError, match="last admin"):
        accounts.remove(db, "bo")


def test_only_admins_manage_accounts(db: Database) -> None:
    accounts.add(db, "otto", PASSWORD, "operator")
    with pytest.raises(PermissionDeniedError):
        accounts.add(db, "eve", PASSWORD, "admin", actor=Actor("otto", Role.OPERATOR))
    with pytest.raises(PermissionDeniedError):
        accounts.set_role(db, "otto", "admin", actor=Actor("otto", Role.OPERATOR))
    assert accounts.actor_for(db, "eve") is None
    assert accounts.actor_for(db, "otto") == Actor("otto", Role.OPERATOR)
    assert [r.actor for r in _audit(db, "access.denied")] == ["otto", "otto"]


def test_sign_in_by_name_and_password(db: Database) -> None:
    accounts.add(db, "rita", PASSWORD, "reviewer")
    ok = accounts.sign_in(db, "rita", PASSWORD, who="ip:10.0.0.1", now=T0)
    assert ok.ok and ok.user == "rita"
    wrong = accounts.sign_in(db, "rita", "not the password", who="ip:10.0.0.1", now=T0)
    unknown = accounts.sign_in(db, "nobody", PASSWORD, who="ip:10.0.0.1", now=T0)
    assert not wrong.ok and not unknown.ok and wrong.message == unknown.message
    rows = [(r.action, r.actor, r.target) for r in _audit(db, auth.SIGNED_IN)]
    assert rows == [(auth.SIGNED_IN, "rita", "ip:10.0.0.1")]
    assert len(_audit(db, auth.FAILED)) == 2


def test_a_removed_account_cannot_sign_in(db: Database) -> None:
    accounts.add(db, "ada", PASSWORD, "admin")
    accounts.add(db, "rita", PASSWORD, "reviewer")
    accounts.remove(db, "rita")
    assert not accounts.sign_in(db, "rita", PASSWORD, who="local", now=T0).ok


def test_sign_in_keeps_the_per_client_back_off(db: Database) -> None:
    accounts.add(db, "rita", PASSWORD, "reviewer")
    now = T0
    for _ in range(auth.MAX_FAILURES):
        assert (
            accounts.sign_in(db, "rita", "wrong password", who="ip:10.0.0.9", now=now).status
            == "wrong"
        )
        now += timedelta(seconds=1)
    blocked = accounts.sign_in(db, "rita", PASSWORD, who="ip:10.0.0.9", now=now)
    assert blocked.status == "throttled" and not blocked.ok
    assert len(_audit(db, auth.THROTTLED)) == 1
    # another client is not held up
    assert accounts.sign_in(db, "rita", PASSWORD, who="ip:10.0.0.10", now=now).ok


def test_the_legacy_admin_password_becomes_the_admin_account(db: Database) -> None:
    legacy = auth.hash_password(PASSWORD)
    assert not accounts.sign_in(db, "admin", "wrong password", who="local", legacy_hash=legacy,
                                now=T0).ok  # fmt: skip
    assert accounts.get(db, "admin") is None
    ok = accounts.sign_in(db, "admin", PASSWORD, who="local", legacy_hash=legacy, now=T0)
    assert ok.ok and ok.user == "admin"
    assert accounts.actor_for(db, "admin") == Actor("admin", Role.ADMIN)
    with db.session() as s:
        stored = s.scalars(select(Account.password_hash).where(Account.username == "admin")).one()
    assert stored == legacy
    assert [(r.actor, r.target) for r in _audit(db, "account.add")] == [("bootstrap", "admin")]
    # from now on the account counts: a new legacy hash does not replace it
    other = auth.hash_password("another long password")
    assert not accounts.sign_in(db, "admin", "another long password", who="local",
                                legacy_hash=other, now=T0 + timedelta(seconds=1)).ok  # fmt: skip


def test_an_old_argon2_hash_is_verified_and_renewed(db: Database) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert auth.needs_rehash(old)
    accounts.add(db, "ada", PASSWORD, "admin")
    with db.session() as s:
        s.scalars(select(Account).where(Account.username == "ada")).one().password_hash = old
    assert accounts.sign_in(db, "ada", PASSWORD, who="local", now=T0).ok
    with db.session() as s:
        renewed = s.scalars(select(Account.password_hash).where(Account.username == "ada")).one()
    assert renewed != old and not auth.needs_rehash(renewed)
    assert auth.verify_password(renewed, PASSWORD)


# -- the CLI ---------------------------------------------------------------------------------------
@pytest.fixture
def store(db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("LLMOPS_DATABASE_URL", db_url)
    reset_settings()
    return db


def test_llmops_admin_users(store: Database) -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["admin", "users", "add", "ada", "--role", "admin",
                                "--password-stdin"], input=f"{PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    added = runner.invoke(app, ["admin", "users", "add", "vera", "--password-stdin"],
                          input=f"{PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0 and "viewer" in added.output
    listed = runner.invoke(app, ["admin", "users", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)["accounts"]
    assert [(r["username"], r["role"], r["enabled"]) for r in rows] == [
        ("ada", "admin", True),
        ("vera", "viewer", True),
    ]
    assert runner.invoke(app, ["admin", "users", "set-role", "vera", "operator"]).exit_code == 0
    assert accounts.actor_for(store, "vera") == Actor("vera", Role.OPERATOR)
    assert runner.invoke(app, ["admin", "users", "remove", "vera"]).exit_code == 0
    assert accounts.actor_for(store, "vera") is None
    # refusals are one line with exit code 2
    last = runner.invoke(app, ["admin", "users", "remove", "ada"])
    assert last.exit_code == 2 and "last admin" in last.output
    bad = runner.invoke(app, ["admin", "users", "add", "x", "--role", "root", "--password-stdin"],
                        input=f"{PASSWORD}\n")  # fmt: skip
    assert bad.exit_code == 2 and "Unknown role" in bad.output
    # the CLI acts as a trusted admin, audited under the operating-system user
    actors = {r.actor for r in _audit(store, "account.add")}
    assert len(actors) == 1 and next(iter(actors)).startswith("cli:")
    assert accounts.sign_in(store, "ada", PASSWORD, who="local").ok
