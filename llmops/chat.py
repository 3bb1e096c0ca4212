"""The hot path (DESIGN §2): one chat turn, streamed, traced end to end.

``ChatService.respond`` returns a ``ChatStream``: iterate it for text chunks; afterwards its
``turn`` holds the ``Turn`` (trace id, answer, citations, violations, release). Every turn —
answered, rejected, blocked or failed — produces a complete trace. Tracing and store
failures never reach the user.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, NotRequired, Protocol, TypedDict, Unpack

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from llmops import smalltalk
from llmops.config import Settings
from llmops.conversation import (
    ATTR_KIND,
    ATTR_LANG,
    ATTR_STANDALONE,
    History,
    HistoryTurn,
    budgeted,
    condense,
    needs_history,
)
from llmops.errors import LLMOpsError, StoreError, UserFacingError
from llmops.guards.results import GuardResult, Violation
from llmops.llm.local import NOT_COVERED, LocalModel
from llmops.llm.prompts import CONDENSE_PROMPT, escape_question, format_sources, rag_prompt
from llmops.llm.providers import build_chat_model
from llmops.rag.knowledge import KnowledgeBase, KnowledgeRetriever
from llmops.rag.snippets import plain_snippet
from llmops.releases import ReleaseConfig, ReleaseInfo, get_release, resolve_release
from llmops.store.db import Database
from llmops.store.models import is_live
from llmops.text import clean_control, declines, guess_lang
from llmops.tracing.records import GapRecord
from llmops.tracing.render import sanitize
from llmops.tracing.tracer import TraceContext, Tracer
from llmops.types import JSONDict

log = logging.getLogger(__name__)

_CITE = re.compile(r"\[(\d{1,2})\]")

MESSAGES = {
    "empty": {
        "en": "Please type a question — your message was empty.",
        "es": "Escribe una pregunta: tu mensaje estaba vacío.",
    },
    "too_long": {
        "en": "Your message is {n:,} characters long; the limit is {limit:,}. "
        "Please shorten it and ask again.",
        "es": "Tu mensaje tiene {n:,} caracteres; el límite es {limit:,}. "
        "Acórtalo y vuelve a preguntar.",
    },
    "rate_limited": {
        "en": "The model provider is busy right now (rate limited). Please try again in a moment.",
        "es": "El proveedor del modelo está ocupado (límite de peticiones). "
        "Inténtalo de nuevo en un momento.",
    },
    "provider_error": {
        "en": "The model provider returned an error, so I could not answer. Please try again.",
        "es": "El proveedor del modelo devolvió un error y no pude responder. Inténtalo de nuevo.",
    },
    "output_blocked": {
        "en": "I can't show that answer because it did not pass our safety checks. "
        "Please rephrase your question.",
        "es": "No puedo mostrar esa respuesta porque no superó nuestros controles de "
        "seguridad. Reformula tu pregunta, por favor.",
    },
    "internal_error": {
        "en": "Something went wrong while answering; the error has been recorded.",
        "es": "Algo falló al responder; el error ha quedado registrado.",
    },
}


class GenerateInput(TypedDict):
    """What a release's generation step reads: the question, the retrieved documents, the
    language to answer in and (remote models) the conversation so far."""

    question: str
    docs: list[Document]
    lang: str
    history: NotRequired[list[BaseMessage]]


class RespondOptions(TypedDict, total=False):
    """``ChatService.respond``'s keyword arguments (``ask`` passes them on)."""

    session_id: str | None
    user_id: str | None
    release_id: str | None
    tags: list[str] | None
    release: ReleaseInfo | None


@dataclass(frozen=True)
class Pipeline:
    """What answers a release's turns: retrieval, then generation from the documents."""

    retriever: Runnable[str, list[Document]]
    generate: Runnable[GenerateInput, BaseMessage]
    model: BaseChatModel | None = None


@dataclass
class Citation:
    n: int
    source: str
    chunk_id: str
    score: float
    title: str = ""
    snippet: str = ""  # plain text of the source passage (no markdown)
    quotes: list[str] = field(default_factory=list)  # its sentences the answer used


@dataclass
class Turn:
    trace_id: str
    answer: str
    citations: list[Citation] = field(default_factory=list)
    blocked: bool = False
    violations: list[Violation] = field(default_factory=list)
    release: str | None = None
    release_name: str | None = None
    assignment: str = "production"  # production | canary | pinned
    status: str = "ok"
    error: str | None = None
    lang: str = "en"  # the language of the reply
    standalone: str | None = None  # the question retrieval used, when a follow-up was resolved
    kind: str = "question"  # question | smalltalk

    def as_dict(self) -> JSONDict:
        return asdict(self)


class Guards(Protocol):
    """The input and output seam that ``llmops.guards.runner.GuardRunner`` fills."""

    def blocks_output(self, release: ReleaseInfo) -> bool: ...

    def warm_up(self) -> None: ...

    def check_input(self, text: str, trace: TraceContext, release: ReleaseInfo) -> GuardResult: ...

    def check_context(
        self, docs: list[Document], trace: TraceContext, release: ReleaseInfo
    ) -> list[Document]: ...

    def check_output(
        self,
        text: str,
        docs: list[Document],
        trace: TraceContext,
        release: ReleaseInfo,
        question: str = "",
        record: bool = True,
    ) -> GuardResult: ...


class NoGuards:
    """Pass-through guards (for tests of the bare pipeline)."""

    def blocks_output(self, release: ReleaseInfo) -> bool:
        return False

    def warm_up(self) -> None:
        return None

    def check_input(self, text: str, trace: TraceContext, release: ReleaseInfo) -> GuardResult:
        return GuardResult(text)

    def check_context(
        self, docs: list[Document], trace: TraceContext, release: ReleaseInfo
    ) -> list[Document]:
        return docs

    def check_output(
        self,
        text: str,
        docs: list[Document],
        trace: TraceContext,
        release: ReleaseInfo,
        question: str = "",
        record: bool = True,
    ) -> GuardResult:
        return GuardResult(text)


_SENTENCE_DONE = re.compile(r"[.!?…](?:\s*\[\d{1,2}\])*\s+")


def _complete(pending: str) -> int:
    """Length of the prefix of ``pending`` made of complete sentences (0 if none)."""
    last = 0
    for m in _SENTENCE_DONE.finditer(pending):
        last = m.end()
    return last


_PIECE = re.compile(r"\S+\s*")


def _pieces(text: str) -> Iterator[str]:
    """Checked text, streamed a few words at a time (for the typewriter effect)."""
    words = _PIECE.findall(text)
    for i in range(0, len(words), 4):
        yield "".join(words[i : i + 4])


class Renumber:
    """Rewrites a streamed answer's ``[n]`` markers so the sources it cites are numbered 1, 2,
    … in the order they are first cited — the numbers the Sources list shows. A marker split
    across chunks is held back until it is complete. ``order`` maps new numbers to the
    original source positions."""

    _OPEN = re.compile(r"\[\d{0,2}$")

    def __init__(self) -> None:
        self.order: list[int] = []
        self._held = ""

    def _sub(self, m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in self.order:
            self.order.append(n)
        return f"[{self.order.index(n) + 1}]"

    def feed(self, text: str) -> str:
        text = self._held + text
        self._held = ""
        tail = self._OPEN.search(text)
        if tail:
            text, self._held = text[: tail.start()], text[tail.start() :]
        return _CITE.sub(self._sub, text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return _CITE.sub(self._sub, text)


def _contents(pieces: Iterable[BaseMessage | str], renumber: Renumber) -> Iterator[str]:
    """The text of each streamed chunk, citation markers renumbered."""
    for piece in pieces:
        content = piece.content if hasattr(piece, "content") else piece
        if isinstance(content, list):
            content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
        if content:
            yield renumber.feed(str(content))
    yield renumber.flush()


def _localized(reply: str, lang: str) -> str:
    """A canned reply (ours or the guards') in ``lang``: the guards choose a language from
    the message alone; the chat knows better when the message is mixed or too short."""
    from llmops.guards.runner import REPLIES as GUARD_REPLIES  # imports llmops.chat

    for table in (MESSAGES, GUARD_REPLIES, {"not_covered": NOT_COVERED}):
        for by_lang in table.values():
            if reply in by_lang.values():
                return by_lang.get(lang, reply)
    return reply


def _friendly_error(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if status == 429 or "RateLimit" in name:
        return "rate_limited"
    if status is not None or "APIError" in name or "APIConnection" in name or "Timeout" in name:
        return "provider_error"
    return "internal_error"


class ChatStream:
    """An iterator of text chunks; ``turn`` is set once it is exhausted.

    Closing it early (``close()``, or dropping it: what Streamlit does on a rerun or Stop)
    ends the turn as ``cancelled``: its trace is stored with the spans it had and the text
    shown so far.
    """

    def __init__(self, gen: Callable[[ChatStream], Generator[str, None, None]]) -> None:
        self.turn: Turn | None = None
        self._iter = gen(self)

    def __iter__(self) -> Iterator[str]:
        return self._iter

    def __next__(self) -> str:
        return next(self._iter)

    def close(self) -> None:
        """Stop the turn where it is (a no-op once it has finished)."""
        self._iter.close()

    def collect(self) -> Turn:
        for _ in self._iter:
            pass
        if self.turn is None:  # the generator returned without finishing the turn
            raise LLMOpsError("the chat turn ended without a result")
        return self.turn


class ChatService:
    """Answers chat messages with the release a session is served by."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        kb: KnowledgeBase,
        tracer: Tracer,
        *,
        guards: Guards | None = None,
        model_factory: Callable[[ReleaseConfig], BaseChatModel] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.kb = kb
        self.tracer = tracer
        self.guards: Guards = guards or NoGuards()
        self._model_factory = model_factory or (lambda cfg: build_chat_model(cfg.model))
        self._chains: dict[str, Pipeline] = {}
        self._fast_models: set[str] = set()  # releases whose model answers at once
        self._lock = threading.Lock()
        self._last_release: ReleaseInfo | None = None
        from llmops.redaction import redact

        self.history = History(
            db,
            turns=settings.history_turns,
            redact=redact if settings.redact_pii else None,
        )

    # -- release and chain ------------------------------------------------------------------
    def _release(self, session_id: str | None, release_id: str | None) -> ReleaseInfo:
        try:
            info = (
                get_release(self.db, release_id)
                if release_id
                else resolve_release(self.db, session_id)
            )
            self._last_release = info
            return info
        except StoreError:
            # The store is down: keep serving the last known release (or the default).
            log.warning("store unavailable while resolving the release; using the last known")
            if self._last_release is not None:
                return self._last_release
            cfg = ReleaseConfig()
            return ReleaseInfo(id=f"rel_{cfg.digest()[:12]}", name="default", config=cfg)

    def chain(self, release: ReleaseInfo) -> Pipeline:
        """The release's retriever and its generation runnable, format → prompt → model
        (cached per release). Two runnables in sequence rather than one assign/parallel
        chain: LangChain streams a parallel step through a thread pool, chunk by chunk,
        which cost more CPU than retrieval and the local model together."""
        with self._lock:
            cached = self._chains.get(release.id)
            if cached is not None:
                return cached
            cfg = release.config
            retriever = KnowledgeRetriever(
                kb=self.kb,
                k=cfg.retrieval.k,
                min_score=cfg.retrieval.min_score,
                version=cfg.kb_version,
            )
            model = self._model_factory(cfg)
            if isinstance(model, LocalModel):
                self._fast_models.add(release.id)
            to_prompt: Runnable[GenerateInput, dict[str, object]] = RunnableLambda(
                lambda x: {
                    "question": escape_question(x["question"]),
                    "context": format_sources(x["docs"]),
                    "lang": x.get("lang", ""),
                    "history": x.get("history") or [],
                },
                name="format_sources",
            )
            generate: Runnable[GenerateInput, BaseMessage] = (
                to_prompt | rag_prompt(cfg.system_prompt) | model
            ).with_config(run_name="generate")
            pipeline = Pipeline(retriever, generate, model)
            self._chains[release.id] = pipeline
            return pipeline

    # -- the turn ---------------------------------------------------------------------------
    def respond(
        self,
        message: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        release_id: str | None = None,
        tags: list[str] | None = None,
        release: ReleaseInfo | None = None,
    ) -> ChatStream:
        """Answer ``message`` for a session: with the release its labels assign (production,
        or the canary for the session's sticky share), or a pinned ``release_id``, or an
        unsaved ``release`` (the playground's draft)."""
        return ChatStream(
            lambda stream: self._run(
                stream, message, session_id, user_id, release or release_id, tags
            )
        )

    def ask(self, message: str, **kwargs: Unpack[RespondOptions]) -> Turn:
        return self.respond(message, **kwargs).collect()

    def _run(
        self,
        stream: ChatStream,
        message: str,
        session_id: str | None,
        user_id: str | None,
        pinned: ReleaseInfo | str | None,
        tags: list[str] | None,
    ) -> Generator[str, None, None]:
        # no control characters, and no lone surrogates (invalid UTF-8 from a terminal):
        # the tokenizer, the guards and the store all need valid text
        text = sanitize(clean_control(message if isinstance(message, str) else str(message)))
        if isinstance(pinned, ReleaseInfo):
            release, assignment = pinned, "pinned"
        else:
            release = self._release(session_id, pinned)
            assignment = "pinned" if pinned else release.label or "production"
        ctx = self.tracer.start_trace(
            "chat",
            input=text,
            session_id=session_id,
            user_id=user_id,
            release_id=release.id,
            tags=tags,
            # how the release was chosen: production, canary (sticky share) or pinned
            attributes={
                "llmops.release.assignment": assignment,
                "service.instance.id": self.settings.instance_id,  # the replica
            },
        )
        turn = Turn(
            trace_id=ctx.trace_id,
            answer="",
            release=release.id,
            release_name=release.name,
            assignment=assignment,
        )
        stream.turn = turn
        shown: list[str] = []  # every chunk the caller has received
        try:
            for chunk in self._turn(ctx, turn, text, release):
                shown.append(chunk)
                yield chunk
        except GeneratorExit:
            # The caller stopped reading (Stop, a rerun, a closed connection): the trace
            # still closes, with what was shown so far.
            turn.status, turn.error = "cancelled", "the answer was interrupted"
            turn.answer = "".join(shown)
            ctx.finish(output=turn.answer, status="cancelled", error=turn.error)
            raise
        except BaseException as exc:
            turn.status, turn.error = "error", f"{type(exc).__name__}: {exc}"
            ctx.finish(output="".join(shown), status="error", error=turn.error)
            raise
        finally:
            self._remember(ctx, turn, text)

    def _remember(self, ctx: TraceContext, turn: Turn, text: str) -> None:
        """Keep the turn for the session's next message until the store has it."""
        try:
            self.history.remember(
                ctx.trace.session_id,
                HistoryTurn(
                    trace_id=turn.trace_id,
                    question=text,
                    answer=turn.answer,
                    at=ctx.trace.start_ns / 1e9,
                    status=turn.status,
                    lang=turn.lang,
                    standalone=turn.standalone,
                    kind=turn.kind,
                ),
            )
        except Exception:  # memory is a convenience; the turn is already answered
            log.warning("could not keep turn %s in the conversation", turn.trace_id, exc_info=True)

    def _history(self, ctx: TraceContext) -> list[HistoryTurn]:
        """The session's earlier turns, traced as a ``history`` span (what was used)."""
        session_id = ctx.trace.session_id
        if not session_id:
            return []
        with ctx.span("history", "chain", input={"session_id": session_id}) as span:
            turns = self.history.get(session_id)
            span.set_attribute("llmops.history.turns", len(turns))
            span.set_attribute("llmops.history.trace_ids", [t.trace_id for t in turns])
            span.set_output(
                [{"question": t.question, "answer": t.plain_answer[:500]} for t in turns]
            )
        return turns

    def _condense(
        self,
        ctx: TraceContext,
        question: str,
        history: list[HistoryTurn],
        release: ReleaseInfo,
        lang: str,
    ) -> str:
        """The standalone question retrieval uses, traced as a ``condense_question`` span.

        The offline model resolves follow-ups deterministically
        (``llmops.conversation.condense``); a remote model rewrites a message that depends
        on the conversation itself, given the turns within the token budget (falling back
        to the deterministic method if it fails)."""
        if not any(t.kind == "question" and t.status == "ok" for t in history):
            return question
        with ctx.span("condense_question", "chain", input=question) as span:
            standalone, method = question, "none"
            if needs_history(question):
                standalone, method = condense(question, history), "deterministic"
                pipeline = self.chain(release)
                if release.id not in self._fast_models and pipeline.model is not None:
                    try:
                        standalone = (
                            self._condense_with_model(ctx, pipeline.model, question, history)
                            or standalone
                        )
                        method = "model"
                    except Exception as exc:  # noqa: BLE001 - the deterministic form stands
                        log.warning("condensing with the model failed: %s", exc)
                        span.set_attribute("llmops.condense.error", f"{type(exc).__name__}")
            span.set_attribute("llmops.condense.method", method)
            span.set_attribute("llmops.condense.changed", standalone != question)
            span.set_output(standalone)
        return standalone

    def _condense_with_model(
        self, ctx: TraceContext, model: BaseChatModel, question: str, history: list[HistoryTurn]
    ) -> str:
        messages: list[BaseMessage] = [SystemMessage(CONDENSE_PROMPT)]
        messages += self._history_messages(history)
        messages.append(HumanMessage(question))
        config: RunnableConfig = {"callbacks": [ctx.handler], "run_name": "condense_llm"}
        out = model.invoke(messages, config=config)
        text = out.content if isinstance(out.content, str) else str(out.content)
        return " ".join(text.split())[: self.settings.max_input_chars]

    def _history_messages(self, history: list[HistoryTurn]) -> list[BaseMessage]:
        """Earlier turns as chat messages, the most recent that fit the token budget."""
        out: list[BaseMessage] = []
        for t in budgeted(history, self.settings.history_max_tokens):
            out += [HumanMessage(t.question), AIMessage(t.plain_answer)]
        return out

    def _turn(
        self, ctx: TraceContext, turn: Turn, text: str, release: ReleaseInfo
    ) -> Generator[str, None, None]:
        cfg = release.config

        # 0. The conversation so far, and the language to reply in: the message's own, or
        # (mixed / too short to tell) its small-talk phrases', or the previous turn's.
        history = self._history(ctx)
        previous_lang = next((t.lang for t in reversed(history) if t.lang), None)
        if previous_lang is None and history:
            previous_lang = guess_lang(history[-1].question)
        talk = smalltalk.detect(text)
        lang = smalltalk.reply_language(text, previous_lang, talk.lang if talk else None)
        turn.lang = lang
        ctx.trace.attributes[ATTR_LANG] = lang
        ctx.trace.attributes[ATTR_KIND] = "smalltalk" if talk else "question"

        # 1. Limits: empty and oversized messages get a clear reply and a complete trace.
        limit = self.settings.max_input_chars
        problem = "empty" if not text.strip() else "too_long" if len(text) > limit else None
        with ctx.span("validate:input", "guard", input={"chars": len(text)}) as span:
            span.set_attribute("llmops.input.chars", len(text))
            span.set_attribute("llmops.input.limit", limit)
            if problem:
                span.set_status("rejected", problem)
        if problem:
            turn.answer = MESSAGES[problem][lang].format(n=len(text), limit=limit)
            turn.status = "invalid_input"
            turn.error = problem
            yield turn.answer
            ctx.finish(output=turn.answer, status="invalid_input", error=problem)
            return

        # 2. Input guards (fix or block before the model ever sees the text).
        checked = self.guards.check_input(text, ctx, release)
        turn.violations.extend(checked.violations)
        if checked.blocked:
            turn.blocked, turn.status = True, "blocked"
            turn.answer = _localized(checked.reply or "", lang)
            yield turn.answer
            ctx.finish(output=turn.answer, status="blocked", model=cfg.model.name)
            return

        # 3. Conversational turns (greetings, thanks, "what can you do?"): a short reply in
        # the user's language, no retrieval.
        if talk is not None:
            turn.kind = "smalltalk"
            with ctx.span("smalltalk", "chain", input=text) as span:
                span.set_attribute("llmops.smalltalk.intent", talk.intent)
                span.set_attribute("llmops.lang", lang)
                turn.answer = smalltalk.reply(talk, lang)
                span.set_output(turn.answer)
            yield from _pieces(turn.answer)
            ctx.finish(output=turn.answer, status="ok")
            return

        # 4. A follow-up becomes a standalone question before retrieval.
        question = smalltalk.strip_opening(checked.text)
        standalone = self._condense(ctx, question, history, release, lang)
        if standalone != checked.text:
            turn.standalone = standalone
            ctx.trace.attributes[ATTR_STANDALONE] = standalone

        # 5. Retrieve and generate, streaming unless an output guard must see the whole text.
        docs: list[Document] = []
        parts: list[str] = []
        shown = ""  # what the user has seen so far (already checked by the output guards)
        pending = ""  # streamed text not yet checked
        guarded = self.guards.blocks_output(release)
        stopped = False
        renumber = Renumber()
        stack = contextlib.ExitStack()
        try:
            pipeline = self.chain(release)
            fast = release.id in self._fast_models
            # A remote model streams slowly: check each finished sentence before it is shown.
            # The local model writes its whole answer in milliseconds: check it once, then
            # stream the checked text.
            per_sentence = guarded and not fast
            config: RunnableConfig = {
                "callbacks": [ctx.handler],
                "metadata": {"session_id": ctx.trace.session_id, "release_id": release.id},
            }
            docs = pipeline.retriever.invoke(standalone, config=config)
            # instructions planted in a document for the assistant never reach the model
            docs = self.guards.check_context(docs, ctx, release)
            # The offline model answers the standalone question; a remote model reads the
            # conversation itself (within the token budget) and the message as written.
            inputs: GenerateInput = {"question": standalone, "docs": docs, "lang": lang}
            if not fast and history:
                inputs["question"] = question
                inputs["history"] = self._history_messages(history)
            pieces: Any = pipeline.generate.stream(inputs, config=config)
            # closed explicitly, so an interrupted turn ends its model span at once
            stack.callback(pieces.close)
            for content in _contents(pieces, renumber):
                if not content or stopped:
                    continue
                parts.append(content)
                if not guarded:
                    yield content
                    continue
                if not per_sentence:
                    continue  # the whole answer is checked below, before anything is shown
                # A blocking output guard sees every sentence before the user does.
                pending += content
                cut = _complete(pending)
                if cut:
                    ready, pending = pending[:cut], pending[cut:]
                    interim = self.guards.check_output(
                        shown + ready, docs, ctx, release, question=checked.text, record=False
                    )
                    if interim.blocked:
                        stopped = True  # the final check records it; show nothing more
                        continue
                    fresh = interim.text[len(shown) :] if interim.text.startswith(shown) else ready
                    shown += fresh
                    yield fresh
        except Exception as exc:  # noqa: BLE001 - the user gets a reply, the trace the error
            kind = _friendly_error(exc)
            if not isinstance(exc, LLMOpsError | UserFacingError):
                log.warning("chat turn %s failed: %s: %s", ctx.trace_id, type(exc).__name__, exc)
            reply = MESSAGES[kind][lang]
            visible = "".join(parts) if not guarded else shown
            prefix = "\n\n" if visible else ""
            turn.answer = visible + prefix + reply
            turn.status = "error"
            turn.error = f"{type(exc).__name__}: {exc}"
            yield prefix + reply
            ctx.finish(output=turn.answer, status="error", error=turn.error, model=cfg.model.name)
            return
        finally:
            stack.close()

        answer = "".join(parts).strip()

        # 6. Output guards on the whole answer: recorded, and the last sentence released.
        checked_out = self.guards.check_output(answer, docs, ctx, release, question=checked.text)
        turn.violations.extend(checked_out.violations)
        if checked_out.blocked or stopped:
            turn.blocked, turn.status = True, "blocked"
            answer = _localized(checked_out.reply or MESSAGES["output_blocked"][lang], lang)
            yield ("\n\n" if shown else "") + answer
        elif guarded:
            full = checked_out.text
            rest = full[len(shown) :] if full.startswith(shown) else ""
            if rest.strip():
                yield from _pieces(rest.rstrip())
            answer = full.strip()
        turn.answer = answer
        turn.citations = self._citations(answer, docs, cfg, renumber.order)
        if not turn.blocked:
            self._note_gap(ctx, text, answer, docs, release, lang)
        h = ctx.handler
        ctx.finish(
            output=answer,
            status=turn.status,
            model=cfg.model.name,
            cost=cfg.model.cost(h.input_tokens, h.output_tokens),
            attributes={"llmops.citations": [c.chunk_id for c in turn.citations]},
        )

    def _note_gap(
        self,
        ctx: TraceContext,
        question: str,
        answer: str,
        docs: list[Document],
        release: ReleaseInfo,
        lang: str,
    ) -> None:
        """A live turn the knowledge base may not cover becomes a gap candidate (declined,
        or answered from retrieval weaker than ``LLMOPS_GAP_LOW_SCORE``)."""
        if not is_live(ctx.trace.session_id):
            return
        top = max((float(d.metadata.get("score") or 0.0) for d in docs), default=None)
        if declines(answer):
            reason = "declined"
        elif top is None or top < self.settings.gap_low_score:
            reason = "low_score"
        else:
            return
        ctx.record(GapRecord(ctx.trace_id, time.time_ns(), reason, question,
                             release_id=release.id, lang=lang, top_score=top))  # fmt: skip

    @staticmethod
    def _citations(
        answer: str, docs: list[Document], cfg: ReleaseConfig, order: list[int] | None = None
    ) -> list[Citation]:
        """The sources the answer cites, numbered as its ``[n]`` markers are (``order``: the
        original source position of each number, from ``Renumber``); every source when a
        remote model cites none. Each with a plain-text snippet and the sentences quoted."""
        cited = sorted({int(n) for n in _CITE.findall(answer)})
        order = order or []
        picks: list[tuple[int, int]] = []  # (number shown, position in docs)
        if cited:
            for n in cited:
                pos = order[n - 1] if order and n <= len(order) else n
                if 1 <= pos <= len(docs):
                    picks.append((n, pos))
        elif cfg.model.provider != "local":  # the local model cites what it uses
            picks = [(i, i) for i in range(1, len(docs) + 1)]
        out = []
        for n, pos in picks:
            doc = docs[pos - 1]
            meta = doc.metadata
            snippet, quotes = plain_snippet(doc.page_content, answer)
            out.append(
                Citation(
                    n=n,
                    source=str(meta.get("source", "")),
                    chunk_id=str(meta.get("chunk_id", doc.id or "")),
                    score=float(meta.get("score") or 0.0),
                    title=str(meta.get("title", "")).lstrip("#").strip(),
                    snippet=snippet,
                    quotes=quotes,
                )
            )
        return out
