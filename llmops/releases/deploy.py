"""What an operator does with releases: promote, roll back, start and stop a canary.

Each move is a label change recorded as a ``label_events`` row and an audit row (who, when,
from → to, note); releases themselves never change.
"""

from __future__ import annotations

from sqlalchemy import select, update

from llmops.errors import InvalidInputError
from llmops.governance.roles import Actor, Capability, require
from llmops.releases.core import (
    CANARY,
    MAX_CANARY_WEIGHT,
    PRODUCTION,
    ReleaseInfo,
    _event,
    get_release,
    labels,
    resolve_ref,
    set_label,
)
from llmops.releases.rollback import ensure_default_rules
from llmops.store.db import Database
from llmops.store.models import LabelEvent, ReleaseLabel, utcnow


def promote(
    db: Database, ref: str, *, actor: Actor | str = "system", note: str = ""
) -> ReleaseInfo:
    """Make a release production. A canary of the same release ends (it is everyone's now)."""
    actor = require(db, actor, Capability.RELEASES, action="release.promote")
    info = resolve_ref(db, ref)
    current = labels(db)
    if current.production == info.id:
        raise InvalidInputError(f"{info.name} ({info.id}) is already production.")
    set_label(db, PRODUCTION, info.id, actor=actor, action="promote", note=note)
    if current.canary == info.id:
        _stop(db, actor=actor, action="canary_promoted", note=note)
    info.label = PRODUCTION
    return info


def previous_production(db: Database) -> str | None:
    """The release that was production before the current one was promoted."""
    current = labels(db).production
    with db.session() as s:
        row = s.scalars(
            select(LabelEvent)
            .where(
                LabelEvent.label == PRODUCTION,
                LabelEvent.action == "promote",
                LabelEvent.release_id == current,
            )
            .order_by(LabelEvent.at.desc(), LabelEvent.id.desc())
            .limit(1)
        ).first()
        return row.previous_release_id if row is not None else None


def rollback(db: Database, *, actor: Actor | str = "system", note: str = "") -> ReleaseInfo:
    """Point production back at the release it served before the current one."""
    actor = require(db, actor, Capability.RELEASES, action="release.rollback")
    target = previous_production(db)
    if target is None:
        raise InvalidInputError("There is no previous production release to roll back to.")
    set_label(db, PRODUCTION, target, actor=actor, action="rollback", note=note)
    info = get_release(db, target)
    info.label = PRODUCTION
    return info


def start_canary(
    db: Database, ref: str, weight: float, *, actor: Actor | str = "system", note: str = ""
) -> ReleaseInfo:
    """Serve ``ref`` to a sticky ``weight`` share of sessions (0 < weight ≤ 0.5)."""
    actor = require(db, actor, Capability.CANARY, action="canary.start")
    if not 0 < weight <= MAX_CANARY_WEIGHT:
        raise InvalidInputError(
            f"A canary weight must be above 0 and at most {MAX_CANARY_WEIGHT:.0%}, "
            f"not {weight:.2%}."
        )
    info = resolve_ref(db, ref)
    if labels(db).production == info.id:
        raise InvalidInputError(f"{info.name} ({info.id}) is production already.")
    set_label(db, CANARY, info.id, weight=weight, actor=actor, action="canary", note=note)
    ensure_default_rules(db, actor=actor)  # a first canary is never without a safety net
    info.label = CANARY
    return info


def _stop(db: Database, *, actor: str, action: str, note: str) -> bool:
    with db.session() as s:
        row = s.get(ReleaseLabel, CANARY)
        if row is None or row.weight <= 0:
            return False
        done = s.execute(
            update(ReleaseLabel)
            .where(ReleaseLabel.label == CANARY, ReleaseLabel.weight > 0)
            .values(weight=0.0, updated_at=utcnow(), updated_by=actor)
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            return False
        _event(s, label=CANARY, action=action, release_id=row.release_id, previous=row.release_id,
               weight=0.0, actor=actor, note=note)  # fmt: skip
        return True


def stop_canary(db: Database, *, actor: Actor | str = "system", note: str = "") -> None:
    actor = require(db, actor, Capability.CANARY, action="canary.stop")
    if not _stop(db, actor=actor, action="canary_stop", note=note):
        raise InvalidInputError("No canary is running.")
