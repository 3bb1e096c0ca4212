"""The RAG prompt: how retrieved sources and the question are laid out for any chat model.

Sources are wrapped in ``<source id="n" name="...">`` tags: real models read them well and the
offline ``LocalModel`` parses them back.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate

DEFAULT_SYSTEM_PROMPT = (
    "You are the llmops assistant. Answer the user's question using only the sources given "
    "in the message. Cite the sources you use as [n]. If the sources do not cover the "
    "question, say so plainly instead of guessing. Answer in the language of the question."
)

HUMAN_TEMPLATE = "<sources>\n{context}\n</sources>\n<question>{question}</question>"

_SOURCE = re.compile(r'<source id="(\d+)" name="([^"]*)">\n?(.*?)\n?</source>', re.DOTALL)
_QUESTION = re.compile(r"<question>(.*?)</question>", re.DOTALL)


def rag_prompt(system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", system_prompt), ("human", HUMAN_TEMPLATE)])


_TAGS = re.compile(r"<(/?(?:sources?|question)\b)", re.I)


def escape_question(question: str) -> str:
    """Neutralise only our own tags, so a question cannot forge a source; anything else
    (including placeholders such as ``<EMAIL>``) stays readable."""
    return _TAGS.sub(r"&lt;\1", question)


def format_sources(docs: Sequence[Document]) -> str:
    parts = []
    for i, doc in enumerate(docs, start=1):
        name = html.escape(str(doc.metadata.get("source", f"source-{i}")), quote=True)
        body = doc.page_content.replace("</source>", "&lt;/source&gt;")
        parts.append(f'<source id="{i}" name="{name}">\n{body}\n</source>')
    return "\n".join(parts)


@dataclass(frozen=True)
class ParsedSource:
    id: int
    name: str
    text: str


def parse_rag_message(text: str) -> tuple[str, list[ParsedSource]]:
    """The question and the sources of a message built with ``HUMAN_TEMPLATE``.

    A message in any other shape is taken whole as the question, with no sources.
    """
    q = _QUESTION.search(text)
    question = html.unescape(q.group(1)).strip() if q else text.strip()
    sources = [
        ParsedSource(int(m.group(1)), html.unescape(m.group(2)), m.group(3))
        for m in _SOURCE.finditer(text)
    ]
    return question, sources
