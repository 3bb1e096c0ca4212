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
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

DEFAULT_SYSTEM_PROMPT = (
    "You are the llmops assistant. Answer the user's question using only the sources given "
    "in the message. Cite the sources you use as [n]. If the sources do not cover the "
    "question, say so plainly instead of guessing. Answer in the language of the question."
)

HUMAN_TEMPLATE = '<sources>\n{context}\n</sources>\n<question lang="{lang}">{question}</question>'

CONDENSE_PROMPT = (
    "Rewrite the user's last message as one standalone question that can be understood "
    "without the conversation before it: replace pronouns and references with what they "
    "refer to, keep the user's language and wording otherwise. If it already stands alone, "
    "repeat it unchanged. Reply with the question only."
)

_SOURCE = re.compile(r'<source id="(\d+)" name="([^"]*)">\n?(.*?)\n?</source>', re.DOTALL)
_QUESTION = re.compile(r'<question(?: lang="(\w*)")?>(.*?)</question>', re.DOTALL)


def rag_prompt(system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> ChatPromptTemplate:
    """System prompt, the conversation so far (``history``: chat messages, optional), then
    the sources and the question (``lang``: the language to answer in, optional)."""
    return ChatPromptTemplate.from_messages(
        [
            ("system", system_prompt),
            MessagesPlaceholder("history", optional=True),
            ("human", HUMAN_TEMPLATE),
        ]
    ).partial(lang="")


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
    question, _, sources = parse_rag_message_lang(text)
    return question, sources


def parse_rag_message_lang(text: str) -> tuple[str, str | None, list[ParsedSource]]:
    """Like ``parse_rag_message``, plus the language the answer is asked in (or None)."""
    q = _QUESTION.search(text)
    question = html.unescape(q.group(2)).strip() if q else text.strip()
    lang = (q.group(1) or None) if q else None
    sources = [
        ParsedSource(int(m.group(1)), html.unescape(m.group(2)), m.group(3))
        for m in _SOURCE.finditer(text)
    ]
    return question, lang, sources
