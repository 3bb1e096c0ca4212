"""User and reviewer feedback on traces: thumbs (1 = up, 0 = down) or a score in [0, 1]."""

from __future__ import annotations

from sqlalchemy import select

from llmops.config import get_settings
from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.privacy import stored_user_id
from llmops.redaction import redact
from llmops.store.db import Database
from llmops.store.models import Feedback, Trace
from llmops.text import clean_control
from llmops.tracing.render import sanitize
from llmops.tracing.tracer import Tracer

MAX_COMMENT = 4000
THUMBS = {"up": 1.0, "down": 0.0, "+1": 1.0, "-1": 0.0, "1": 1.0, "0": 0.0}


def parse_thumb(value: str) -> float:
    try:
        return THUMBS[value.strip().lower()]
    except KeyError:
        raise InvalidInputError(f"Feedback must be 'up' or 'down', not {value!r}.") from None


def record(
    db: Database,
    trace_id: str,
    score: float,
    *,
    comment: str | None = None,
    user_id: str | None = None,
    source: str = "user",
    tracer: Tracer | None = None,
) -> int:
    """Store feedback on a trace; returns the feedback id.

    The trace may still be in the tracer's queue right after a turn: flush once before
    concluding that it does not exist.
    """
    if not 0.0 <= score <= 1.0:
        raise InvalidInputError(f"Feedback score must be between 0 and 1, not {score}.")
    if comment is not None:
        comment = _clean_comment(comment) or None
    if not _trace_exists(db, trace_id) and not (
        tracer is not None and tracer.flush() and _trace_exists(db, trace_id)
    ):
        raise NotFoundError(f"Trace {trace_id!r} does not exist.")
    with db.session() as s:
        row = Feedback(
            trace_id=trace_id,
            score=score,
            comment=comment,
            user_id=stored_user_id(user_id),
            source=source,
        )
        s.add(row)
        s.flush()
        return row.id


def review(
    db: Database,
    trace_id: str,
    score: float,
    *,
    comment: str | None = None,
    actor: Actor | str = "system",
) -> int:
    """A reviewer's score and comment on a trace (source ``reviewer``, apart from the end
    users' thumbs); needs the review capability."""
    name = require(db, actor, Capability.REVIEW, action="feedback.review")
    return record(db, trace_id, score, comment=comment, user_id=name, source="reviewer")


def _trace_exists(db: Database, trace_id: str) -> bool:
    with db.session() as s:
        return s.scalar(select(Trace.id).where(Trace.id == trace_id)) is not None


def _clean_comment(comment: str) -> str:
    comment = sanitize(clean_control(comment)).strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInputError(
            f"The comment is {len(comment):,} characters long; the limit is {MAX_COMMENT:,}."
        )
    return redact(comment) if get_settings().redact_pii else comment


def set_comment(db: Database, feedback_id: int, comment: str) -> None:
    """Attach (or replace) the comment of an existing feedback row."""
    comment = _clean_comment(comment)
    with db.session() as s:
        row = s.get(Feedback, feedback_id)
        if row is None:
            raise NotFoundError(f"Feedback {feedback_id} does not exist.")
        row.comment = comment or None
