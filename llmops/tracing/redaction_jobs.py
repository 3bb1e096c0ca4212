"""Redacting a batch's texts, the same way in the writer's thread and in its redaction
process (``llmops.tracing.redact_process``).

A batch's redaction is a list of jobs in the order rendering asks for them: a text of a
trace (``TEXT``, redacted once a trace: ``redact_once``) or an attributes value whose
strings are redacted (``VALUE``). ``redact_jobs`` answers them in order; the answer depends
only on the jobs and the redactor, so the writer's thread and the process store the same
rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmops.tracing.render import to_text

Redactor = Callable[[str], str]
TEXT, VALUE = 0, 1
REDACTION_FAILED = "<REDACTION FAILED: text not stored>"
Job = tuple[int, str, Any]  # (TEXT | VALUE, trace id, text or JSON-like value)

ONCE_MIN = 16  # shorter texts are not worth remembering (and match too easily)
ONCE_MAX = 16  # texts remembered a trace (each is looked for in the trace's later texts)
_EDGE = frozenset("\n\r\t\"'[]{}<>`|")


def redact_once(text: str, known: dict[str, str] | None, redact: Redactor) -> str:
    """``text`` redacted, reusing what its trace's texts became (``known``, updated): a
    turn's question is in the input and output of most of its spans and inside the model's
    prompt, and scanning it is most of the writer's cost. A text of this trace that the
    redactor changed is replaced by its redacted form where it stands on its own in
    ``text`` (``substitute``), and the result is scanned again, cheaply: what was found is a
    placeholder now."""
    if known is None:
        return redact(text)
    done = known.get(text)
    if done is not None:
        return done
    source = text
    for original, redacted in known.items():
        if original in source:
            source = substitute(source, original, redacted)
    out = redact(source)
    if out != text and len(text) >= ONCE_MIN and len(known) < ONCE_MAX:
        known[text] = out
    return out


def substitute(text: str, original: str, redacted: str) -> str:
    """``text`` with each occurrence of ``original`` that stands on its own replaced by
    ``redacted``: at the start of ``text`` or after a line break, a quote, a bracket or a
    role prefix ("human: "), and before the end, a line break, a quote or a bracket. Any
    other occurrence (followed by a word, a digit, a separator of numbers) is left to the
    full scan: an entity may run across its edge ("... ask Ana" + " López")."""
    out: list[str] = []
    pos, size, end = 0, len(original), len(text)
    while (at := text.find(original, pos)) >= 0:
        stop = at + size
        alone_before = at == 0 or text[at - 1] in _EDGE or text[at - 2 : at] == ": "
        if not (alone_before and (stop == end or text[stop] in _EDGE)):
            out.append(text[pos : at + 1])
            pos = at + 1
            continue
        out.append(text[pos:at])
        out.append(redacted)
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def redact_strings(value: Any, redact: Redactor, depth: int = 0) -> Any:
    """``value`` with every string inside it redacted (containers rebuilt, numbers kept;
    any other object as its text, redacted)."""
    if isinstance(value, str):
        return redact(value)
    if depth > 6 or isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {k: redact_strings(v, redact, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(v, redact, depth + 1) for v in value]
    return redact(to_text(value) or "")


def _keep(text: str) -> str:
    return text


def plain(value: Any) -> Any:
    """``value`` as ``redact_strings`` sees it, nothing redacted: strings, numbers, None,
    lists and dicts only (what crosses to the redaction process)."""
    return redact_strings(value, _keep)


def redact_jobs(jobs: list[Job], redact: Redactor) -> list[Any]:
    """Each job's answer, in order: a ``TEXT`` redacted once for its trace, a ``VALUE``
    with its strings redacted."""
    known: dict[str, dict[str, str]] = {}
    out: list[Any] = []
    for op, trace_id, payload in jobs:
        if op == TEXT:
            texts = known.get(trace_id)
            if texts is None:
                texts = known[trace_id] = {}
            out.append(redact_once(payload, texts, redact))
        else:
            out.append(redact_strings(payload, redact))
    return out
