"""The offline default model: answers by quoting the retrieved sentences that best match.

``LocalModel`` is a real LangChain ``BaseChatModel``: it streams, reports ``usage_metadata``,
is traced like any other model, and is deterministic, so evaluations are reproducible. It
never invents: every sentence of an answer is a sentence of a cited source, and when no source
sentence matches the question well enough it says that the knowledge base does not cover it.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from llmops.llm.prompts import parse_rag_message_lang
from llmops.text import (
    STOPWORDS,
    count_tokens,
    detect_lang,
    fold,
    index_terms,
    split_sentences,
    stem,
    terms,
    words,
)

NOT_COVERED = {
    "en": (
        "The knowledge base does not cover this question, so I cannot answer it reliably. "
        "Try rephrasing it, or ask about LLMOps: deployment, monitoring, evaluation, tuning, "
        "guardrails, or how to use this app."
    ),
    "es": (
        "La base de conocimiento no cubre esta pregunta, así que no puedo responderla con "
        "fiabilidad. Prueba a reformularla o pregunta sobre LLMOps: despliegue, monitorización, "
        "evaluación, ajuste, barandillas de seguridad (guardrails) o cómo usar esta aplicación."
    ),
}

_WORDS_PER_CHUNK = 6
_COPULA = re.compile(r"^(?:\S+\s+){1,6}(is|are|es|son|significa|means)\b", re.I)
_DEFINITION = re.compile(
    r"\b(what is|what are|what's|what does \S+(?: \S+)? mean|define|qu[eé] es|qu[eé] son|"
    r"qu[eé] significa|qu[eé] significan)\b",
    re.I,
)
_WHY = re.compile(r"^\W*(why|por ?qu[eé])\b", re.I)
_REASON = re.compile(
    r"\b(because|so that|since|therefore|which means|porque|ya que|para que|de modo que|"
    r"así que|por eso|por lo que)\b",
    re.I,
)
# What the question asks for, and the sentences that answer that kind of question.
_HOW = re.compile(
    r"^\W*(?:and\s+|y\s+)?(how|c[oó]mo)\b|\b(how (do|can|should|to|is|are)|"
    r"c[oó]mo (se|puedo|debo|hago|podemos|debemos))\b",
    re.I,
)
_METHOD = re.compile(
    r"`|\b(by|use|uses|using|run|runs|set|sets|create|creates|command|page|steps?|first|then|"
    r"mediante|usa|usan|usando|ejecuta|ejecutan|comando|p[aá]gina|pasos?|primero|despu[eé]s|"
    r"se hace|se crea|se fija)\b",
    re.I,
)
_DEFINES_AS = re.compile(r"\b(is|are|es|son)\s+(a|an|the|one|un|una|el|la|los|las|uno)\b", re.I)
_STEPS = re.compile(
    r"\b(steps?|stages?|phases?|process|workflow|pasos?|etapas?|fases?|proceso|flujo)\b", re.I
)
_ENUMERATION = re.compile(
    r":\s|\b(first|second|then|finally|two|three|four|five|six|primero|segundo|despu[eé]s|"
    r"finalmente|dos|tres|cuatro|cinco|seis)\b",
    re.I,
)
_COMPARE = re.compile(
    r"\b(difference|differences|differ|differs|compare|compared|comparison|versus|vs|"
    r"diferencia|diferencias|difiere|difieren|diferencian|compara|comparar|comparaci[oó]n|"
    r"frente a)\b",
    re.I,
)
_CONTRAST = re.compile(
    r"\b(while|whereas|unlike|instead of|rather than|than|but|mientras que|a diferencia|"
    r"en cambio|en lugar de|m[aá]s que|menos que|sino)\b",
    re.I,
)
_NOT_A_TOPIC = frozenset(terms("lugar vez instead place case caso example ejemplo"))
PARTIAL = {
    "en": "The sources I found do not mention: {terms}.",
    "es": "Las fuentes que encontré no mencionan: {terms}.",
}
_COMPOUND = re.compile(r"\b([^\W\d_]{2,})-([^\W\d_]{2,})\b")

# Words that frame a question rather than name its topic ("what is *included* in a
# release?", "¿qué *incluye*…?"). When the sources never use one, it counts at a third of its
# weight, so a source that names the topic but phrases it differently is not dismissed.
_FRAMING = frozenset(
    terms(
        """include included includes contain contains containing happen happens happened mean
        means work works need needs use used uses make makes made decide decides choose
        chooses pick picks stand stands call called define kind type way thing things give
        given get gets keep keeps put puts consist consists involve involves
        incluye incluyen incluir contiene contienen pasa ocurre ocurren significa significan
        funciona funcionan usa usan usar decide deciden decidir elige eligen elegir tipo
        tipos forma manera cosa cosas consiste consisten implica implican"""
    )
)
# Framing verbs that say the same thing: asking what X "includes" is asking what it contains.
_SAME = [
    frozenset(terms(group))
    for group in (
        "include includes included contain contains consist consists comprise comprises "
        "bundle bundles",
        "incluye incluyen incluir contiene contienen contener consta constan consiste consisten",
    )
]


@dataclass
class _Candidate:
    source_rank: int
    source_id: int
    source_name: str
    position: int
    paragraph: int
    text: str
    terms: frozenset[str]
    lang: str
    score: float = 0.0


def _terms_of(text: str) -> frozenset[str]:
    """Content stems plus hyphenated compounds kept whole ("thumbs-down" → "thumbsdown"),
    whose parts alone would lose their meaning (``down`` is a stop word)."""
    found = set(terms(text))
    found.update(fold(a + b) for a, b in _COMPOUND.findall(text))
    return frozenset(found)


def _joined(text: str) -> dict[str, tuple[str, str]]:
    """Adjacent content words written as one ("roll back" → "rollback"), with their parts."""
    ws = [w for w in words(text) if len(w) > 1 and w not in STOPWORDS]
    return {stem(a + b): (stem(a), stem(b)) for a, b in itertools.pairwise(ws)}


_SUFFIXES = ("s", "es", "d", "ed", "ing", "er", "ers")


def _variants(
    q_terms: set[str], vocabulary: set[str], lang: str = "en"
) -> dict[str, frozenset[str]]:
    """Terms of the sources that count as a question term: itself, or an inflection of it —
    one is the other plus a plural, past or -ing ending (stand/stands, use/used,
    release/released). Terms are already cut to six letters, so this only matters for
    short words; a bare prefix is not enough (past is not pasta). A Spanish question's term
    also matches the terms with the same Snowball root, stem-changing verbs included
    ("mido", "mide" / "medir"; "evalúa" / "evaluar")."""
    roots: dict[str, str] = {}
    if lang == "es":
        roots = {t: _es_root(t) for t in vocabulary}
    out = {}
    for q in q_terms:
        hits = {q}
        if roots:
            root = _es_root(q)
            hits.update(t for t, r in roots.items() if r == root)
        if len(q) >= 3:
            for t in vocabulary:
                short, long_ = (q, t) if len(q) <= len(t) else (t, q)
                if long_ != short and long_.startswith(short) and long_[len(short) :] in _SUFFIXES:
                    hits.add(t)
        out[q] = frozenset(hits)
    return out


def _es_root(term: str) -> str:
    found = index_terms(term, "es")
    return found[0] if found else term


def _defines(sentence: str, q_terms: list[str]) -> bool:
    """The sentence opens with a question term followed soon by is/are/es/son."""
    head = terms(" ".join(sentence.split()[:3]))
    return any(t in head for t in q_terms) and bool(_COPULA.search(sentence))


def _surface(question: str, stems: list[str]) -> list[str]:
    """The question's own words for some term stems, in question order."""
    out: list[str] = []
    for w in re.findall(r"[^\W_][\w-]*", question):
        t = terms(w)
        if t and t[0] in stems and w not in out:
            out.append(w)
    return out


def _is_heading_like(sentence: str) -> bool:
    return sentence.startswith("#") or len(sentence.split()) < 4


class LocalModel(BaseChatModel):
    """Extractive, cited answers from the sources in the prompt. No weights, no network."""

    model_name: str = "llmops-local"
    max_sentences: int = 3
    min_coverage: float = 0.34
    chunk_words: int = 1

    @property
    def _llm_type(self) -> str:
        return "llmops-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "max_sentences": self.max_sentences}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llmops"
        # a per-call ``model`` override names the model, as LangChain's standard tests expect
        params["ls_model_name"] = kwargs.get("model") or self.model_name
        return params

    # -- answering --------------------------------------------------------------------------
    def answer(self, messages: list[BaseMessage]) -> str:
        human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        text = human.content if human is not None else ""
        if not isinstance(text, str):
            text = " ".join(str(p) for p in text)
        question, asked_lang, sources = parse_rag_message_lang(text)
        lang = asked_lang if asked_lang in NOT_COVERED else detect_lang(question)
        q_set = set(_terms_of(question))
        if not q_set or not sources:
            return NOT_COVERED[lang]

        candidates: list[_Candidate] = []
        for rank, src in enumerate(sources):
            position = 0
            for paragraph, line in enumerate(src.text.splitlines()):
                for sentence in split_sentences(line):
                    position += 1
                    if _is_heading_like(sentence):
                        continue
                    candidates.append(
                        _Candidate(rank, src.id, src.name, position, paragraph, sentence,
                                   _terms_of(sentence), detect_lang(sentence))
                    )  # fmt: skip
        if not candidates:
            return NOT_COVERED[lang]

        # A question term is matched by itself, an inflection of it (see _variants), a
        # same-meaning framing verb, or a compound it forms with its neighbour ("roll back"
        # matches "rollback").
        vocabulary = {t for c in candidates for t in c.terms}
        variants = {q: set(v) for q, v in _variants(q_set, vocabulary, lang).items()}
        for q in q_set:
            for group in _SAME:
                if q in group:
                    variants[q] |= group
        for joined, parts in _joined(question).items():
            if joined in vocabulary:
                for part in parts:
                    if part in variants:
                        variants[part].add(joined)

        def matches(q: str, c: _Candidate) -> bool:
            return not variants[q].isdisjoint(c.terms)

        # Inverse sentence frequency: terms found everywhere (e.g. "llmops") weigh less.
        n = len(candidates)
        weight = {}
        for q in q_set:
            df = sum(matches(q, c) for c in candidates)
            framing = 0.3 if q in _FRAMING and df == 0 else 1.0
            weight[q] = (math.log(1 + n / (1 + df)) + 0.1) * framing
        total = sum(weight.values())
        wants_definition = bool(_DEFINITION.search(question))
        wants_reason = bool(_WHY.search(question))
        wants_method = bool(_HOW.search(question)) and not wants_definition
        wants_steps = bool(_STEPS.search(question))
        wants_contrast = bool(_COMPARE.search(question))
        q_list = sorted(q_set)
        for c in candidates:
            score = sum(w for q, w in weight.items() if matches(q, c)) / total
            if wants_definition and re.search(r"\b(is|are|es|son)\b", c.text, re.I):
                score *= 1.15
                if _defines(c.text, q_list):
                    score *= 1.4  # "X is ..." answers "what is X?"
            if wants_reason and _REASON.search(c.text):
                score *= 1.3  # "why ...?" is answered by a reason
            if wants_method:
                if _METHOD.search(c.text):
                    score *= 1.2  # "how ...?" is answered by a way of doing it
                elif _defines(c.text, q_list) and _DEFINES_AS.search(c.text):
                    score *= 0.85  # ... not by a definition ("X is a ...")
            if wants_steps and _ENUMERATION.search(c.text):
                score *= 1.25  # "which steps ...?" by a sentence that lists them
            if wants_contrast and _CONTRAST.search(c.text):
                score *= 1.25  # "compare / difference" by a sentence that contrasts
            score *= 1.25 if c.lang == lang else 1.0
            score *= 1.0 - 0.04 * c.source_rank
            score /= 1.0 + max(0, len(c.text.split()) - 45) / 60  # prefer focused sentences
            c.score = score

        ranked = sorted(candidates, key=lambda c: (-c.score, c.source_rank, c.position))
        best = ranked[0]
        covered = sum(w for q, w in weight.items() if matches(q, best)) / total
        if covered < self.min_coverage:
            return NOT_COVERED[lang]

        # The rest of the best sentence's paragraph usually carries on its thought, and one
        # focused passage reads better than a mix of documents.
        for c in ranked[1:]:
            if c.source_id == best.source_id and c.paragraph == best.paragraph:
                c.score *= 1.2
            elif c.source_name != best.source_name:
                c.score *= 0.8
        ranked[1:] = sorted(ranked[1:], key=lambda c: (-c.score, c.source_rank, c.position))
        chosen = [best]
        seen_terms = set(best.terms)
        for c in ranked[1:]:
            if len(chosen) >= self.max_sentences or c.score < 0.55 * best.score:
                break
            if c.lang != best.lang:
                continue
            overlap = len(c.terms & seen_terms) / max(1, len(c.terms))
            if overlap > 0.7:  # near-duplicate of what is already said
                continue
            chosen.append(c)
            seen_terms |= c.terms
        rest = sorted(chosen[1:], key=lambda c: (c.source_rank, c.position))
        answer = " ".join(f"{c.text} [{c.source_id}]" for c in [best, *rest])
        # Say so when a substantial part of the question appears in no source at all.
        missing = [
            q
            for q in q_list
            if q not in _FRAMING
            and q not in _NOT_A_TOPIC
            and not any(matches(q, c) for c in candidates)
            and weight[q] >= 0.8 * total / len(weight)
        ]
        if missing and sum(weight[q] for q in missing) / total >= 0.25:
            shown = _surface(question, missing)
            if shown:
                answer += " " + PARTIAL[lang].format(terms=", ".join(shown))
        return answer

    # -- LangChain interface ----------------------------------------------------------------
    def _usage(self, messages: list[BaseMessage], answer: str) -> UsageMetadata:
        prompt = sum(count_tokens(str(m.content)) for m in messages)
        completion = count_tokens(answer)
        return UsageMetadata(
            input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        answer = self.answer(messages)
        message = AIMessage(
            content=answer,
            usage_metadata=self._usage(messages, answer),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        answer = self.answer(messages)
        words = re.findall(r"\S+\s*", answer)
        # a few words a chunk: each chunk crosses LangChain's streaming machinery, whose cost
        # per chunk is far above this model's
        for i in range(0, len(words), _WORDS_PER_CHUNK):
            piece = "".join(words[i : i + _WORDS_PER_CHUNK])
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=self._usage(messages, answer),
                response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
                chunk_position="last",
            )
        )
