"""Conversation memory: a session's recent turns, read from the store, and follow-up questions
resolved against them.

History lives where the turns already are — the ``traces`` table, one row per chat turn, its
input and output redacted by the span writer before they were stored — so ``llmops chat
--session S``, a restarted app and a second replica all see the same conversation. The
writer stores in batches, so the turns this process answered in the last moments are kept in a
small in-process buffer (redacted the same way) until the store has them.

``condense`` turns a follow-up ("and how do I measure it?", "¿y en producción?") into a
standalone question with a deterministic method: the retriever and the offline model then see
what the user means. A remote model condenses with the model itself (``llmops.chat``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from llmops.errors import StoreError
from llmops.store.db import Database
from llmops.store.models import Trace, is_live
from llmops.text import STOPWORDS, count_tokens, fold, words

log = logging.getLogger(__name__)

# Trace attributes a chat turn records for the next turn to read.
ATTR_LANG = "llmops.lang"
ATTR_STANDALONE = "llmops.question.standalone"
ATTR_KIND = "llmops.turn.kind"  # "question" (answered from the knowledge base) or "smalltalk"

_CITATIONS = re.compile(r"\s*\[\d{1,3}\]")


@dataclass(frozen=True)
class HistoryTurn:
    """One earlier turn of the session, as stored (redacted)."""

    trace_id: str
    question: str
    answer: str
    at: float  # epoch seconds
    status: str = "ok"
    lang: str | None = None
    standalone: str | None = None
    kind: str = "question"

    @property
    def topic_question(self) -> str:
        """The question this turn was really about (its condensed form when it had one)."""
        return self.standalone or self.question

    @property
    def plain_answer(self) -> str:
        """The answer without its ``[n]`` markers (they point at that turn's sources)."""
        return _CITATIONS.sub("", self.answer).strip()


def _from_row(row: Any) -> HistoryTurn:
    attrs = row.attributes or {}
    return HistoryTurn(
        trace_id=row.id,
        question=row.input or "",
        answer=row.output or "",
        at=row.started_at.timestamp() if row.started_at else 0.0,
        status=row.status or "ok",
        lang=attrs.get(ATTR_LANG) if isinstance(attrs.get(ATTR_LANG), str) else None,
        standalone=attrs.get(ATTR_STANDALONE)
        if isinstance(attrs.get(ATTR_STANDALONE), str)
        else None,
        kind=str(attrs.get(ATTR_KIND) or "question"),
    )


def load_history(db: Database, session_id: str, limit: int) -> list[HistoryTurn]:
    """The session's last ``limit`` chat turns, oldest first (one indexed query on
    ``ix_traces_session_started``)."""
    with db.session() as s:
        rows = s.execute(
            select(
                Trace.id,
                Trace.input,
                Trace.output,
                Trace.started_at,
                Trace.status,
                Trace.attributes,
            )
            .where(Trace.session_id == session_id, Trace.name == "chat")
            .order_by(Trace.started_at.desc())
            .limit(limit)
        ).all()
    return [_from_row(r) for r in reversed(rows)]


class RecentTurns:
    """Turns this process answered, kept until the batching writer has stored them.

    Bounded: ``sessions`` sessions, ``per_session`` turns each, entries older than
    ``ttl_s`` are ignored (by then the store has them).
    """

    def __init__(self, sessions: int = 2000, per_session: int = 8, ttl_s: float = 120.0) -> None:
        self._data: OrderedDict[str, deque[HistoryTurn]] = OrderedDict()
        self._lock = threading.Lock()
        self.sessions, self.per_session, self.ttl_s = sessions, per_session, ttl_s

    def add(self, session_id: str, turn: HistoryTurn) -> None:
        with self._lock:
            turns = self._data.pop(session_id, None) or deque(maxlen=self.per_session)
            turns.append(turn)
            self._data[session_id] = turns
            while len(self._data) > self.sessions:
                self._data.popitem(last=False)

    def get(self, session_id: str) -> list[HistoryTurn]:
        cutoff = time.time() - self.ttl_s
        with self._lock:
            return [t for t in self._data.get(session_id, ()) if t.at >= cutoff]

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._data.pop(session_id, None)


class History:
    """Reads a session's recent turns: the store, plus this process's not-yet-stored turns."""

    def __init__(
        self,
        db: Database,
        *,
        turns: int = 6,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.db = db
        self.turns = turns
        self.redact = redact
        self.recent = RecentTurns(per_session=max(turns, 1))

    def get(self, session_id: str | None) -> list[HistoryTurn]:
        """Oldest first; empty for no session, for evaluation / playground / red-team
        sessions (their items are independent questions) and when history is off."""
        if not session_id or self.turns <= 0 or not is_live(session_id):
            return []
        try:
            stored = load_history(self.db, session_id, self.turns)
        except StoreError:
            log.warning("store unavailable while reading the conversation; using recent turns")
            stored = []
        seen = {t.trace_id for t in stored}
        merged = stored + [t for t in self.recent.get(session_id) if t.trace_id not in seen]
        merged.sort(key=lambda t: t.at)
        return merged[-self.turns :]

    def remember(self, session_id: str | None, turn: HistoryTurn) -> None:
        if not session_id or self.turns <= 0 or not is_live(session_id):
            return
        if self.redact is not None:
            r = self.redact
            turn = HistoryTurn(
                trace_id=turn.trace_id,
                question=r(turn.question),
                answer=r(turn.answer),
                at=turn.at,
                status=turn.status,
                lang=turn.lang,
                standalone=r(turn.standalone) if turn.standalone else None,
                kind=turn.kind,
            )
        self.recent.add(session_id, turn)


def budgeted(history: list[HistoryTurn], max_tokens: int) -> list[HistoryTurn]:
    """The most recent answered turns whose text fits in ``max_tokens`` (oldest first)."""
    out: list[HistoryTurn] = []
    used = 0
    for t in reversed(history):
        if t.status != "ok" or not t.answer:
            continue
        cost = count_tokens(t.question) + count_tokens(t.plain_answer)
        if used + cost > max_tokens:
            break
        out.append(t)
        used += cost
    return list(reversed(out))


# -- follow-up resolution (deterministic) --------------------------------------------------

_CONNECTOR = re.compile(
    r"^\W*(?:and\s+(?:what|how)\s+about|what\s+about|how\s+about|and\s+also|and|also|but|"
    r"so|then|plus|"
    r"y\s+qu[eé]\s+(?:hay|pasa)\s+(?:de|con)|qu[eé]\s+(?:hay|pasa)\s+(?:de|con)|y\s+si|"
    r"y\s+tambi[eé]n|tambi[eé]n|pero|entonces|y|e)\b[\s,]*",
    re.I,
)
_PREPOSITION = re.compile(
    r"^\W*(?:in|on|for|with|without|during|at|under|inside|en|para|con|sin|durante|bajo|"
    r"dentro\s+de|a)\b",
    re.I,
)
_PRONOUN_EN = re.compile(r"\b(it|this|that|these|those|them|they|its|one|ones)\b", re.I)
_PRONOUN_ES = re.compile(
    r"\b(eso|esto|ello|aquello)\b|^\W*(?:(?:c[oó]mo|por\s*qu[eé]|cu[aá]ndo|d[oó]nde|qu[eé]|"
    r"para\s+qu[eé])\s+)?(?:se\s+)?(?:lo|la|los|las|le|les)\s+\w+",
    re.I,
)
_PARTICLE = re.compile(r"\s+(?:back|up|out|off|down|over|on|in|away)\b", re.I)
_CLITICS = frozenset(
    "lo la los las le les eso esto ello aquello it this that these those them they its one ones".split()
)
_MORE = frozenset(
    """more details detail example examples elaborate expand further else explain
    mas detalle detalles ejemplo ejemplos amplia profundiza otro otra""".split()
)
# Words that ask rather than name a topic: dropped when a question becomes a topic.
_ASKING = frozenset(
    """what how why which when where who whom whose can could should would does do did is are
    was were will tell explain describe give show list please mean means difference
    que como porque cual cuales cuando donde quien quienes puedo puede pueden debo debe
    deben hay significa explica explicame dime describe cuentame diferencia""".split()
)


def _content_words(text: str) -> list[str]:
    return [w for w in words(text) if len(w) > 1 and w not in STOPWORDS and w not in _ASKING]


def topic_of(question: str, max_words: int = 8) -> str:
    """The words of a question that name what it is about, in their written form
    ("How do I evaluate an LLM before release?" → "evaluate LLM before release")."""
    kept = [
        w
        for w in re.findall(r"[^\W_][\w'-]*", question)
        if fold(w) not in STOPWORDS and fold(w) not in _ASKING and len(w) > 1
    ]
    return " ".join(kept[:max_words])


def needs_history(question: str) -> bool:
    """The message only makes sense with the conversation before it: it opens with a
    connector ("and…", "¿y…?", "what about…"), refers back with a pronoun ("it", "eso",
    "¿cómo lo mido?"), is a bare fragment ("in production?") or asks for more without
    naming a topic ("why?", "an example?")."""
    text = question.strip()
    if not text:
        return False
    if _CONNECTOR.match(text) or _PREPOSITION.match(text):
        return True
    content = [w for w in _content_words(text) if w not in _CLITICS]
    if len(content) <= 2 and (_PRONOUN_EN.search(text) or _PRONOUN_ES.search(text)):
        return True  # few words of its own, and one points back
    return not content or all(w in _MORE for w in content)


def condense(question: str, history: list[HistoryTurn]) -> str:
    """A standalone form of ``question`` given the earlier turns (``question`` itself when
    it stands alone or there is nothing to resolve it against)."""
    previous = next(
        (t for t in reversed(history) if t.kind == "question" and t.status == "ok"), None
    )
    if previous is None or not needs_history(question):
        return question
    topic = topic_of(previous.topic_question)
    if not topic:
        return question
    text = question.strip()
    rest = _CONNECTOR.sub("", text, count=1).strip() or text
    if _PREPOSITION.match(rest):
        # a fragment ("in production?", "¿y con PostgreSQL?"): the earlier question, narrowed
        base = previous.topic_question.strip().rstrip("?？").strip()
        return f"{base} {rest.lstrip('¿').rstrip('?').strip()}?"
    m = _PRONOUN_EN.search(rest)
    if m and not _PARTICLE.match(rest[m.end() :]):
        return rest[: m.start()] + topic + rest[m.end() :]
    if m:  # "roll it back": keep the phrasal verb whole, name the topic after it
        rest = (rest[: m.start()].rstrip() + " " + rest[m.end() :].lstrip()).strip()
    return f"{rest} ({topic})"
