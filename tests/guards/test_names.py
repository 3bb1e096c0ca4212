"""Person names (opt-in validator): found in English, never on Spanish sentence words."""

from __future__ import annotations

import pytest

from llmops.guards.names import find_names
from llmops.guards.validators import DetectPersonNames


def test_a_name_in_english_is_found_and_fixed() -> None:
    result = DetectPersonNames(on_fail="fix").validate("Please ask Julian Azevedo to call me.", {})
    assert result.outcome == "fail"
    assert result.fix_value == "Please ask <PERSON> to call me."
    assert result.metadata["labels"] == ["pii:person"]


@pytest.mark.parametrize(
    "text",
    [
        "¿Qué es LLMOps?",
        "Me llamo Lucía y quiero saber qué es un canario.",  # Spanish text: not analysed
        "Ignore case when comparing the expected answer.",  # a capitalised first word
        "How do I roll back a release?",
    ],
)
def test_no_names(text: str) -> None:
    assert find_names(text) == []
    assert DetectPersonNames(on_fail="fix").validate(text, {}).outcome == "pass"
