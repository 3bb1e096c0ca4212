"""The offline default model: answers by quoting the retrieved sentences that best match.

``LocalModel`` is a real LangChain ``BaseChatModel``: it streams, reports ``usage_metadata``,
is traced like any other model, and is deterministic, so evaluations are reproducible. It
never invents: every sentence of an answer is a sentence of a cited source, and when no source
sentence matches the question well enough it says that the knowledge base does not cover it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from llmops.llm.prompts import parse_rag_message
from llmops.text import count_tokens, detect_lang, split_sentences, terms

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

_COPULA = re.compile(r"^(?:\S+\s+){1,6}(is|are|es|son|significa|means)\b", re.I)
_DEFINITION = re.compile(r"^(what|que|qué)\b|\b(what is|what are|qué es|que es|qué son)\b", re.I)


@dataclass
class _Candidate:
    source_rank: int
    source_id: int
    position: int
    text: str
    terms: frozenset[str]
    lang: str
    score: float = 0.0


def _defines(sentence: str, q_terms: list[str]) -> bool:
    """The sentence opens with a question term followed soon by is/are/es/son."""
    head = terms(" ".join(sentence.split()[:3]))
    return any(t in head for t in q_terms) and bool(_COPULA.search(sentence))


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
        params["ls_model_name"] = self.model_name
        return params

    # -- answering --------------------------------------------------------------------------
    def answer(self, messages: list[BaseMessage]) -> str:
        human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        text = human.content if human is not None else ""
        if not isinstance(text, str):
            text = " ".join(str(p) for p in text)
        question, sources = parse_rag_message(text)
        lang = detect_lang(question)
        q_terms = terms(question)
        if not q_terms or not sources:
            return NOT_COVERED[lang]

        candidates: list[_Candidate] = []
        for rank, src in enumerate(sources):
            for pos, sentence in enumerate(split_sentences(src.text)):
                if _is_heading_like(sentence):
                    continue
                candidates.append(
                    _Candidate(
                        rank,
                        src.id,
                        pos,
                        sentence,
                        frozenset(terms(sentence)),
                        detect_lang(sentence),
                    )
                )
        if not candidates:
            return NOT_COVERED[lang]

        # Inverse sentence frequency: terms found everywhere (e.g. "llmops") weigh less.
        df = Counter(t for c in candidates for t in c.terms)
        n = len(candidates)
        weight = {t: math.log(1 + n / (1 + df.get(t, 0))) + 0.1 for t in set(q_terms)}
        total = sum(weight.values())
        wants_definition = bool(_DEFINITION.search(question))
        for c in candidates:
            matched = sum(w for t, w in weight.items() if t in c.terms)
            score = matched / total
            if wants_definition and re.search(r"\b(is|are|es|son)\b", c.text, re.I):
                score *= 1.15
                if _defines(c.text, q_terms):
                    score *= 1.4  # "X is ..." answers "what is X?"
            score *= 1.25 if c.lang == lang else 1.0
            score *= 1.0 - 0.04 * c.source_rank
            score /= 1.0 + max(0, len(c.text.split()) - 45) / 60  # prefer focused sentences
            c.score = score

        ranked = sorted(candidates, key=lambda c: (-c.score, c.source_rank, c.position))
        best = ranked[0]
        covered = sum(w for t, w in weight.items() if t in best.terms) / total
        if covered < self.min_coverage:
            return NOT_COVERED[lang]

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
        return " ".join(f"{c.text} [{c.source_id}]" for c in [best, *rest])

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
        for piece in re.findall(r"\S+\s*", answer):
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
