"""Source passages as the chat shows them: plain text (no markdown headings, emphasis or
links) around the sentences an answer quoted."""

from __future__ import annotations

import re

from llmops.text import split_sentences, words

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.M)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_BULLET = re.compile(r"^\s*(?:[-*+•>]|\d+[.)])\s+", re.M)
_CITATION = re.compile(r"\s*\[\d{1,3}\]")
_SPACES = re.compile(r"\s+")


def plain_text(markdown: str) -> str:
    """The passage's words without markdown: headings dropped, links and emphasis unwrapped,
    bullets and line breaks turned into plain sentences."""
    text = _HEADING.sub("", markdown)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _BULLET.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _key(sentence: str) -> str:
    return " ".join(words(sentence))


def plain_snippet(markdown: str, answer: str = "", max_chars: int = 420) -> tuple[str, list[str]]:
    """A plain-text snippet of a passage and the sentences of it that ``answer`` quotes.

    The snippet starts at the first quoted sentence (or the passage start) and is cut at a
    sentence end near ``max_chars``; each quote is a substring of the snippet.
    """
    plain = plain_text(markdown)
    sentences = split_sentences(plain)
    said = {_key(s) for s in split_sentences(_CITATION.sub("", answer))}
    quoted = [s for s in sentences if _key(s) and _key(s) in said]
    start = plain.find(quoted[0]) if quoted else 0
    if start > 0 and start < 200 and len(plain) <= max_chars:
        start = 0  # the whole passage fits
    snippet = plain[max(start, 0) :]
    if len(snippet) > max_chars:
        cut = snippet.rfind(". ", 0, max_chars)
        snippet = snippet[: cut + 1] if cut > max_chars // 3 else snippet[:max_chars].rstrip() + "…"
    if start > 0:
        snippet = "… " + snippet
    return snippet, [q for q in quoted if q in snippet]
