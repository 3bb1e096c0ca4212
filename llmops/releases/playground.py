"""Try releases — saved ones or an unsaved draft — on a question, side by side, without
touching live traffic: playground turns run through the real chat pipeline in sessions
marked ``playground:`` (``PLAYGROUND_SESSION_PREFIX``), which monitoring, rollups and alerts
leave out, like evaluation traffic."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from llmops.errors import InvalidInputError
from llmops.governance.roles import Actor, Capability, require
from llmops.releases.core import ReleaseConfig, ReleaseInfo
from llmops.store.models import PLAYGROUND_SESSION_PREFIX, Trace
from llmops.types import JSONDict

if TYPE_CHECKING:
    from llmops.chat import ChatService

MAX_QUESTIONS = 20


def draft(config: ReleaseConfig, name: str = "draft") -> ReleaseInfo:
    """An unsaved release: its id is the one it will have once saved."""
    return ReleaseInfo(id=config.release_id(), name=f"{name} (unsaved)", config=config)


@dataclass
class Attempt:
    question: str
    release_id: str
    release_name: str
    answer: str
    status: str
    blocked: bool
    citations: list[JSONDict] = field(default_factory=list)  # Citation fields
    violations: list[JSONDict] = field(default_factory=list)  # Violation fields
    trace_id: str = ""
    latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    def as_dict(self) -> JSONDict:
        return asdict(self)


def run(
    chat: ChatService,
    questions: list[str],
    releases: list[ReleaseInfo],
    *,
    actor: Actor | str = "system",
) -> list[list[Attempt]]:
    """Each question through each release (rows: questions; columns: releases); the
    answers are traced as playground traffic under the actor's name."""
    user_id = require(chat.db, actor, Capability.RELEASES, action="release.playground")
    questions = [q for q in questions if q.strip()]
    if not questions:
        raise InvalidInputError("Type a question (or pick dataset items) to try.")
    if len(questions) > MAX_QUESTIONS:
        raise InvalidInputError(f"The playground tries at most {MAX_QUESTIONS} questions at once.")
    if not releases:
        raise InvalidInputError("Pick at least one release to try.")
    session = f"{PLAYGROUND_SESSION_PREFIX}{uuid.uuid4().hex[:12]}"
    rows = []
    for q in questions:
        row = []
        for info in releases:
            turn = chat.respond(q, session_id=session, user_id=user_id, release=info).collect()
            row.append(
                Attempt(
                    question=q,
                    release_id=info.id,
                    release_name=info.name,
                    answer=turn.answer,
                    status=turn.status,
                    blocked=turn.blocked,
                    citations=[asdict(c) for c in turn.citations],
                    violations=[asdict(v) for v in turn.violations],
                    trace_id=turn.trace_id,
                )
            )
        rows.append(row)
    chat.tracer.flush()
    _measure(chat, [a for row in rows for a in row])
    return rows


def _measure(chat: ChatService, attempts: list[Attempt]) -> None:
    """Latency, tokens and cost as the store has them (priced at write time)."""
    from sqlalchemy import select

    ids = [a.trace_id for a in attempts]
    with chat.db.session() as s:
        found = {
            r.id: r
            for r in s.execute(
                select(Trace.id, Trace.latency_ms, Trace.input_tokens, Trace.output_tokens,
                       Trace.cost).where(Trace.id.in_(ids))
            )
        }  # fmt: skip
    for a in attempts:
        r = found.get(a.trace_id)
        if r is not None:
            a.latency_ms, a.input_tokens, a.output_tokens, a.cost = (
                r.latency_ms, r.input_tokens, r.output_tokens, r.cost,
            )  # fmt: skip
