"""The grounding check: unsupported claims are flagged; a plain "not covered" reply is not."""

from __future__ import annotations

from llmops.guards.validators import CheckGrounding
from llmops.llm.local import NOT_COVERED

CONTEXT = [
    "A canary release sends a small share of sessions to a new release before it is "
    "promoted to production."
]


def test_unsupported_sentence_is_flagged() -> None:
    answer = "Canary releases require three separate Kubernetes clusters in different regions."
    result = CheckGrounding(on_fail="noop").validate(answer, {"context": CONTEXT})
    assert result.outcome == "fail"
    assert result.metadata["labels"] == ["ungrounded"]


def test_supported_sentence_passes() -> None:
    answer = "A canary release sends a small share of sessions to a new release [1]."
    assert CheckGrounding(on_fail="noop").validate(answer, {"context": CONTEXT}).outcome == "pass"


def test_saying_the_knowledge_base_does_not_cover_it_is_not_an_unsupported_claim() -> None:
    for lang in ("en", "es"):
        result = CheckGrounding(on_fail="noop").validate(NOT_COVERED[lang], {"context": CONTEXT})
        assert result.outcome == "pass", lang
