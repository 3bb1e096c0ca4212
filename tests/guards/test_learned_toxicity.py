"""The learned toxicity model: the shipped arrays reproduce alt-profanity-check, the validator
ORs it with the rules for abuse aimed at someone, and the measured MiniLM head's training is
deterministic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from llmops.guards import learned_toxicity
from llmops.guards.detectors import detect_toxicity
from llmops.guards.train_detector import Sample
from llmops.guards.train_toxicity import DATA, train
from llmops.guards.validators import DetectToxicity

# written for this test; no rule names "whining" or "crawl back"
UNRULED = "Nobody wants your pathetic whining, crawl back to whatever hole you came from."
SHARP_BENIGN = [
    "Kill the process holding port 8080 and restart the worker.",
    "This bug is killing me, the retry loop never ends.",
]
# offensive words aimed at no one (or at a thing, in a sentence that addresses the assistant):
# the word model alone flags them, the validator does not
PROFANE_AT_NO_ONE = [
    "holy shit it finally works",
    "Why is this config so stupid?",
    "Can you help me fix this fucking script?",
]
# alt-profanity-check 1.9.1's own predict_prob on these texts (scikit-learn 1.9.1)
REFERENCE = {
    UNRULED: 0.9912990430069539,
    SHARP_BENIGN[0]: 0.0955351883092175,
    SHARP_BENIGN[1]: 0.07006756909023211,
    PROFANE_AT_NO_ONE[0]: 0.9944535977495915,
    PROFANE_AT_NO_ONE[1]: 0.9999818254267551,
    PROFANE_AT_NO_ONE[2]: 0.998486308322575,
    "": 0.036375752016469504,
}


def test_the_shipped_arrays_load() -> None:
    model = learned_toxicity.words()
    folds, vocabulary = model.coef.shape
    assert folds == len(model.intercept) == len(model.a) == len(model.b) == 5
    assert vocabulary == len(model.index) == len(model.idf) > 10_000


@pytest.mark.parametrize("text", list(REFERENCE))
def test_numpy_reproduces_alt_profanity_check(text: str) -> None:
    assert learned_toxicity.words().score(text) == pytest.approx(REFERENCE[text], abs=1e-6)


def test_abuse_no_rule_names_is_blocked() -> None:
    assert detect_toxicity(UNRULED) == []
    result = DetectToxicity(on_fail="noop").validate(UNRULED, {})
    assert result.outcome == "fail"
    assert "learned word model" in (result.error_message or "")
    assert DetectToxicity(learned=False, on_fail="noop").validate(UNRULED, {}).outcome == "pass"


@pytest.mark.parametrize("text", SHARP_BENIGN + PROFANE_AT_NO_ONE)
def test_sharp_technical_text_passes(text: str) -> None:
    assert DetectToxicity(on_fail="noop").validate(text, {}).outcome == "pass"


@pytest.mark.parametrize("text", PROFANE_AT_NO_ONE)
def test_offensive_words_count_only_when_aimed_at_someone(text: str) -> None:
    hit, score = learned_toxicity.flags(text)
    assert score >= learned_toxicity.THRESHOLD and not hit


@pytest.mark.parametrize("text", ["Why are you so stupid?", "They are all disgusting pigs."])
def test_offensive_words_aimed_at_someone_count(text: str) -> None:
    assert learned_toxicity.flags(text)[0]


def test_training_the_embedding_head_is_deterministic() -> None:
    rows = [json.loads(line) for line in (DATA / "own.jsonl").read_text().splitlines()]
    samples = [Sample(r["text"], r["label"], "own-handwritten", r["lang"]) for r in rows[::3]]
    samples += [Sample(r["text"], "benign", "detector-corpus", r["lang"]) for r in rows[1::6]]
    first = train(0.05, 1.0, write=False, samples=samples)
    second = train(0.05, 1.0, write=False, samples=list(samples))
    assert first == second
    head = first["weights"]["heads"]["toxicity"]  # type: ignore[index]
    assert len(head["weights"]) == 384 and np.isfinite(head["weights"]).all()
