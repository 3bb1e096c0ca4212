"""What redaction costs the span writer, per text and per record (issue 17).

    .venv/bin/python bench/redaction.py [--turns 3000] [--rounds 3] [--json]

The texts are those of ``bench/ingest.py --concurrent``'s turns (``synthetic_turn``: each
question different, one in five with an e-mail address and a phone number): the question,
the prompt as a list of messages, the model's answer. Reported, CPU time of this thread:

- ``redact_us_per_text``: ``llmops.redaction`` on each distinct text, its cache bypassed;
  also split into texts with a PII candidate (an ``@``, a run of digits, ...) and without;
- ``render_us_per_record``: the production writer's rendering (text, JSON, redaction once a
  trace) of the same turns' records, redaction on and off; no store involved.

The best of ``--rounds`` rounds is kept (the machine is shared: CPU time still varies).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_concurrent import synthetic_turn
from llmops.guards import pii
from llmops.redaction import _redact, redact
from llmops.store.db import Database
from llmops.tracing.records import SpanRecord, TraceRecord
from llmops.tracing.render import to_text
from llmops.tracing.writer import SpanWriter


def _cpu_us(fn, items) -> float:  # type: ignore[no-untyped-def]
    t0 = time.thread_time()
    for item in items:
        fn(item)
    return (time.thread_time() - t0) * 1e6 / max(1, len(items))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    turns = [synthetic_turn(i) for i in range(args.turns)]
    texts: list[str] = []
    for records in turns:
        for rec in records:
            if isinstance(rec, SpanRecord | TraceRecord):
                texts += [t for t in (to_text(rec.input), to_text(rec.output)) if t]
    texts = list(dict.fromkeys(texts))
    with_candidate = [t for t in texts if pii._windows(t)]
    without = [t for t in texts if not pii._windows(t)]
    uncached = _redact.__wrapped__  # type: ignore[attr-defined]
    names = "context"
    for t in texts[:200]:  # warm-up: rules, Presidio, libphonenumber
        uncached(t, names)

    home = Path(tempfile.mkdtemp(prefix="llmops-bench-redaction-"))
    db = Database(f"sqlite:///{home / 'unused.db'}")
    records = [rec for turn in turns for rec in turn]

    def render(writer: SpanWriter) -> float:
        t0 = time.thread_time()
        for i in range(0, len(records), 500):
            writer._render(records[i : i + 500])
        return (time.thread_time() - t0) * 1e6 / len(records)

    on = SpanWriter(db, home / "spool", redact=redact, start=False)
    off = SpanWriter(db, home / "spool", redact=None, start=False)
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        _redact.cache_clear()  # type: ignore[attr-defined]
        rounds = {
            "redact_us_per_text": _cpu_us(lambda t: uncached(t, names), texts),
            "redact_us_per_text_with_candidate": _cpu_us(
                lambda t: uncached(t, names), with_candidate
            ),
            "redact_us_per_text_without_candidate": _cpu_us(lambda t: uncached(t, names), without),
            "render_us_per_record_redacting": render(on),
            "render_us_per_record_not_redacting": render(off),
        }
        _redact.cache_clear()  # type: ignore[attr-defined]
        for key, value in rounds.items():
            best[key] = round(min(best.get(key, value), value), 1)
    result: dict[str, object] = {
        "texts": len(texts),
        "texts_with_candidate": len(with_candidate),
        "records": len(records),
        **best,
        "records_per_cpu_s_redacting": round(1e6 / best["render_us_per_record_redacting"]),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"  {key:<40} {value}")


if __name__ == "__main__":
    main()
