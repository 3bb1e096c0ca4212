"""A learned prompt-injection detector on the sentence embeddings the app already ships.

Logistic regression over all-MiniLM-L6-v2 (int8 ONNX, ``llmops.rag.embeddings``): one dot
product over the 384-dimensional embedding, so its cost is the embedding of the message
(a few milliseconds for a chat message). The weights are data, ``guards/data/detector.json``,
produced by ``python -m llmops.guards.train_detector`` from public labelled prompts whose
sources and licences are listed in ``bench/data/detector/README.md``. The validator
combines it with the rules: a text is an injection when a rule fires OR the model's score
reaches the threshold (``DetectPromptInjection``), the one that kept the false-positive rate
at or under 1 % on a validation split and on every group of sources left out of training.
Texts shorter than ``min_words`` are left to the rules (the corpus holds too few of them).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.rag.embeddings import MiniLMEmbeddings

WEIGHTS_FILE = "data/detector.json"
MAX_CHARS = 2000  # the encoder reads 256 tokens; a longer text is scored on its start and end


@dataclass(frozen=True)
class LinearHead:
    """One label's logistic-regression head over a normalised embedding."""

    label: str
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def score(self, vector: list[float]) -> float:
        z = self.bias + math.fsum(w * x for w, x in zip(self.weights, vector, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


@dataclass(frozen=True)
class Detector:
    heads: dict[str, LinearHead]
    dimension: int
    min_words: int = 0  # shorter texts are not scored (the corpus holds too few of them)


def parse_weights(data: dict[str, object]) -> Detector:
    """The detector described by a weights document (``guards/data/detector.json``)."""
    dimension = int(str(data["dimension"]))
    heads_raw = data["heads"]
    if not isinstance(heads_raw, dict):
        raise ValueError("detector weights: 'heads' must be an object")
    heads: dict[str, LinearHead] = {}
    for label, head in heads_raw.items():
        weights = tuple(float(w) for w in head["weights"])
        if len(weights) != dimension:
            raise ValueError(f"detector weights: {label} has {len(weights)} weights")
        heads[label] = LinearHead(label, weights, float(head["bias"]), float(head["threshold"]))
    return Detector(heads, dimension, int(str(data.get("min_words", 0))))


@lru_cache(maxsize=1)
def detector() -> Detector:
    text = resources.files("llmops.guards").joinpath(WEIGHTS_FILE).read_text(encoding="utf-8")
    return parse_weights(json.loads(text))


def encoder() -> MiniLMEmbeddings:
    """The process's embedding model, shared with the knowledge base (``rag.embeddings.shared``):
    a message the detector embeds is not embedded again by retrieval."""
    from llmops.config import get_settings
    from llmops.rag.embeddings import shared

    return shared(get_settings().embedding_model_path)


def clip(text: str) -> str:
    """What the model reads of ``text``: all of it, or its start and its end."""
    if len(text) <= MAX_CHARS:
        return text
    half = MAX_CHARS // 2
    return f"{text[:half]} … {text[-half:]}"


@lru_cache(maxsize=1024)
def score(text: str, label: str = "prompt_injection") -> float:
    """The model's probability that ``text`` carries ``label``."""
    head = detector().heads[label]
    return head.score(encoder().embed_query(clip(text)))


def flags(text: str, label: str = "prompt_injection") -> tuple[bool, float]:
    """Whether the model's score reaches the label's threshold, and the score (0 for a text
    shorter than the detector's ``min_words``: those are left to the rules)."""
    det = detector()
    if len(text.split()) < det.min_words:
        return False, 0.0
    value = score(text, label)
    return value >= det.heads[label].threshold, value
