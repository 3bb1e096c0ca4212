"""Guards fail closed: a validator that raises blocks for block/fix rules, never passes raw
text on, and is recorded as an ``error`` guard event (a flag rule's crash too)."""

from __future__ import annotations

from typing import Any

import pytest
from guardrails.validator_base import Validator, register_validator
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field
from sqlalchemy import select

from llmops.chat import ChatService
from llmops.config import Settings
from llmops.guards import validators as registry
from llmops.guards.profiles import get_profile
from llmops.guards.runner import REPLIES, GuardRunner
from llmops.releases import ReleaseConfig
from llmops.store.db import Database
from llmops.store.models import GuardEvent
from llmops.store.queries import get_trace
from llmops.tracing import SpanWriter, Tracer


@register_validator(name="tests/crashing", data_type="string")
class Crashing(Validator):
    """Raises on every text, like a validator whose model or rule file is broken."""

    def __init__(self, on_fail: Any = None, **kwargs: Any) -> None:
        super().__init__(on_fail=on_fail, **kwargs)

    def validate(self, value: Any, metadata: dict[str, Any]) -> Any:
        raise RuntimeError("validator exploded")


class RecordingModel(GenericFakeChatModel):
    """A chat model that remembers what it was sent."""

    seen: list[str] = Field(default_factory=list)

    def _stream(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        self.seen.append("\n".join(str(m.content) for m in messages))
        return super()._stream(messages, *args, **kwargs)


def _crash(monkeypatch: pytest.MonkeyPatch, validator: str) -> None:
    monkeypatch.setitem(registry.VALIDATORS, validator, Crashing)


def _chat(
    settings: Settings, db: Database, kb: Any, writer: SpanWriter, answer: str
) -> tuple[ChatService, RecordingModel]:
    model = RecordingModel(messages=iter([AIMessage(content=answer)]), seen=[])

    def factory(cfg: ReleaseConfig) -> Any:
        return model

    chat = ChatService(
        settings, db, kb, Tracer(writer), guards=GuardRunner(), model_factory=factory
    )
    return chat, model


def _events(db: Database, trace_id: str) -> list[tuple[str, str, str]]:
    with db.session() as s:
        rows = s.scalars(select(GuardEvent).where(GuardEvent.trace_id == trace_id)).all()
    return sorted((e.validator, e.direction, e.action) for e in rows)


def test_a_crashing_pii_guard_never_sends_raw_input_to_the_model(
    settings: Settings, db: Database, kb: Any, writer: SpanWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash(monkeypatch, "pii")  # a fix rule in the default profile
    chat, model = _chat(settings, db, kb, writer, "LLMOps is operations for LLM apps.")
    turn = chat.ask("My e-mail is ana.garcia@example.com. What is LLMOps?")
    assert turn.blocked and turn.status == "blocked"
    assert turn.answer == REPLIES["error"]["en"]
    assert model.seen == []  # the model never saw the unchecked text
    assert ("pii", "input", "error") in [
        (v.validator, v.direction, v.action) for v in turn.violations
    ]
    assert writer.flush()
    assert ("pii", "input", "error") in _events(db, turn.trace_id)
    detail = get_trace(db, turn.trace_id)
    guard = next(s for s in detail.spans if s["name"] == "guard:input")
    assert guard["status"] == "error" and "validator exploded" in guard["error"]
    assert detail.trace["status"] == "blocked"


def test_a_crashing_block_rule_on_the_output_blocks_the_answer(
    settings: Settings, db: Database, kb: Any, writer: SpanWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash(monkeypatch, "toxicity")
    chat, _ = _chat(settings, db, kb, writer, "LLMOps is operations for LLM apps. It helps.")
    # toxicity also guards the input: let the input side pass by crashing only on output
    original = GuardRunner.inspect

    def output_only(self: GuardRunner, text: str, direction: Any, profile: Any, md: Any) -> Any:
        if direction == "input":
            profile = get_profile("monitor")
            profile = type(profile)(profile.name, input=(), output=profile.output)
        return original(self, text, direction, profile, md)

    monkeypatch.setattr(GuardRunner, "inspect", output_only)
    stream = chat.respond("What is LLMOps?")
    shown = "".join(stream)
    assert stream.turn is not None and stream.turn.blocked
    assert "operations for LLM apps" not in shown  # sentence checks failed closed too
    assert REPLIES["output"]["en"] in shown
    assert writer.flush()
    assert ("toxicity", "output", "error") in _events(db, stream.turn.trace_id)


def test_a_crashing_flag_rule_lets_the_answer_through_and_records_an_error(
    settings: Settings, db: Database, kb: Any, writer: SpanWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash(monkeypatch, "grounding")  # flag only, in the default profile
    chat, _ = _chat(settings, db, kb, writer, "LLMOps is operations for LLM apps.")
    turn = chat.ask("What is LLMOps?")
    assert not turn.blocked and "operations for LLM apps" in turn.answer
    assert writer.flush()
    assert ("grounding", "output", "error") in _events(db, turn.trace_id)


def test_the_other_validators_still_decide_when_one_crashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _crash(monkeypatch, "toxicity")
    verdict = GuardRunner().inspect("write to ana@example.com", "input", get_profile("monitor"), {})
    assert [r.validator for r, _ in verdict.errors] == ["toxicity"]
    assert verdict.text == "write to <EMAIL>"  # pii still fixed it
    assert [r.validator for r, _, _ in verdict.failures] == ["pii"]
    assert not verdict.fails_closed()  # toxicity only flags in the monitor profile


def test_a_secret_caught_by_context_is_masked_in_the_event_excerpt(
    chat_service: ChatService, db: Database, writer: SpanWriter
) -> None:
    turn = chat_service.ask("my password is Tr0ub4dor&3 — what is LLMOps?")
    assert writer.flush()
    with db.session() as s:
        excerpts = [e.excerpt or "" for e in s.scalars(select(GuardEvent)).all()]
    assert excerpts and all("Tr0ub4dor" not in x for x in excerpts)
    assert any("password is <SECRET>" in x for x in excerpts), excerpts
    assert turn.status == "ok"
