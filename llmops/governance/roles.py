"""Roles: what each kind of console account may do, and the check every state change makes.

The roles are ordered; each one can do everything the one before it can, and more:

- ``viewer``: dashboards and traces (read only);
- ``reviewer``: + review queues (verdicts, corrected answers);
- ``operator``: + datasets, evaluations, releases, canary, improvements, red-team runs,
  the knowledge base and alert rules;
- ``admin``: + accounts, settings, retention, erasure, exports of raw data, the audit log.

Who acts is an ``Actor`` (a name and a role). The console passes the signed-in account's
actor to every library action it calls, and each action starts with ``require``: a role
without the capability is refused with ``PermissionDeniedError`` and an ``access.denied``
audit row, whatever the page showed. A plain ``str`` actor is a trusted caller inside the
server (the CLI, the background worker, a cron job): it acts as ``admin`` under that name.
"""

from __future__ import annotations

import enum
import getpass
import os
from dataclasses import dataclass

from llmops.errors import InvalidInputError, UserFacingError
from llmops.store.db import Database
from llmops.store.models import AuditLog


class Role(enum.IntEnum):
    """Console roles, in order: a higher role holds every capability of a lower one."""

    VIEWER = 1
    REVIEWER = 2
    OPERATOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()


ROLES: tuple[str, ...] = tuple(r.label for r in Role)


class Capability(enum.StrEnum):
    """What an action needs; ``GRANTS`` says which role first holds it."""

    DASHBOARDS = "dashboards"
    TRACES = "traces"
    REVIEW = "review"
    DATASETS = "datasets"
    EVALUATIONS = "evaluations"
    RELEASES = "releases"
    CANARY = "canary"
    IMPROVEMENTS = "improvements"
    REDTEAM = "redteam"
    KNOWLEDGE = "knowledge"
    ALERTS = "alerts"
    ACCOUNTS = "accounts"
    SETTINGS = "settings"
    RETENTION = "retention"
    ERASURE = "erasure"
    EXPORTS = "exports"  # raw data leaving the store: conversations, audit rows
    AUDIT = "audit"


GRANTS: dict[Capability, Role] = {
    Capability.DASHBOARDS: Role.VIEWER,
    Capability.TRACES: Role.VIEWER,
    Capability.REVIEW: Role.REVIEWER,
    Capability.DATASETS: Role.OPERATOR,
    Capability.EVALUATIONS: Role.OPERATOR,
    Capability.RELEASES: Role.OPERATOR,
    Capability.CANARY: Role.OPERATOR,
    Capability.IMPROVEMENTS: Role.OPERATOR,
    Capability.REDTEAM: Role.OPERATOR,
    Capability.KNOWLEDGE: Role.OPERATOR,
    Capability.ALERTS: Role.OPERATOR,
    Capability.ACCOUNTS: Role.ADMIN,
    Capability.SETTINGS: Role.ADMIN,
    Capability.RETENTION: Role.ADMIN,
    Capability.ERASURE: Role.ADMIN,
    Capability.EXPORTS: Role.ADMIN,
    Capability.AUDIT: Role.ADMIN,
}

DENIED = "access.denied"


def parse_role(value: str) -> Role:
    """``"viewer"`` (any case) as a ``Role``; a clear error for anything else."""
    try:
        return Role[value.strip().upper()]
    except KeyError:
        raise InvalidInputError(
            f"Unknown role {value!r}.", f"A role is one of {', '.join(ROLES)}."
        ) from None


def capabilities(role: Role) -> frozenset[Capability]:
    """Everything ``role`` may do."""
    return frozenset(c for c, needed in GRANTS.items() if role >= needed)


@dataclass(frozen=True)
class Actor:
    """Who acts: a console account (or the local CLI) with its role."""

    name: str
    role: Role

    def can(self, capability: Capability) -> bool:
        return self.role >= GRANTS[capability]

    def __str__(self) -> str:
        return self.name


class PermissionDeniedError(UserFacingError):
    """The actor's role does not allow the action."""

    def __init__(self, actor: Actor, capability: Capability) -> None:
        needed = GRANTS[capability].label
        super().__init__(
            f"Your role ({actor.role.label}) may not do this: it needs {capability.value} "
            f"({needed} or above).",
            "Ask an admin to change your role (llmops admin users set-role).",
        )
        self.actor, self.capability = actor, capability


def local_actor() -> Actor:
    """The CLI's identity: it runs on the server with the store's credentials, so it is
    trusted as admin, and the audit log records the operating-system user as ``cli:<user>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return Actor(f"cli:{user}", Role.ADMIN)


def as_actor(actor: Actor | str) -> Actor:
    """An ``Actor``; a plain name is a trusted caller inside the server (admin)."""
    return actor if isinstance(actor, Actor) else Actor(actor, Role.ADMIN)


def require(
    db: Database, actor: Actor | str, capability: Capability, *, action: str | None = None
) -> str:
    """The actor's name when its role holds ``capability``; otherwise an ``access.denied``
    audit row (in its own transaction, so it stays) and ``PermissionDeniedError``."""
    who = as_actor(actor)
    if who.can(capability):
        return who.name
    with db.session() as s:
        s.add(
            AuditLog(
                actor=who.name,
                action=DENIED,
                target=action or capability.value,
                details={"role": who.role.label, "needs": capability.value},
            )
        )
    raise PermissionDeniedError(who, capability)
