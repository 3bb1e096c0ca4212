"""The detectors' keyword tables are data (llmops/guards/data/lexicon.toml)."""

from __future__ import annotations

import pytest

from llmops.guards.detectors import injection, toxicity
from llmops.guards.rules import lexicon, parse_lexicon


def test_the_detectors_use_the_data_file() -> None:
    lex = lexicon()
    assert "idiots?" in lex.toxicity["insults_en"].split("|")
    assert lex.toxicity["insults_en"] == toxicity._INSULTS_EN
    assert lex.injection["override_verbs"] == injection._OVERRIDE_VERB
    assert lex.injection["override_verbs"].startswith("(?:ignore|")
    assert lex.leet[ord("0")] == "o" and lex.homoglyphs[ord("а")] == ord("a")


def test_a_malformed_table_is_refused() -> None:
    data = {
        "toxicity": {"insults": {"en": "idiot"}},  # a string, not a list
        "injection": {},
        "normalisation": {},
    }
    with pytest.raises(ValueError, match="insults_en must be a list"):
        parse_lexicon(data)
