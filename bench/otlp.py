"""What OpenTelemetry export costs a chat turn: turns/s with and without an OTLP endpoint.

    .venv/bin/python bench/otlp.py [--turns 200] [--rounds 8] [--json]

One real Runtime (store, writer, guards, embeddings, Chroma, LocalModel) in a temporary
LLMOPS_HOME; a real OTLP/HTTP receiver (tests/otlp_receiver.py, decoding every request) runs
in a separate process on 127.0.0.1. Rounds alternate export off / on (the writer's exporter
is attached and detached between rounds) so both arms see the same machine load; each round
ends with the writer (and the exporter) flushed, so the figure includes the background work.
Also reported: the exporter thread's cost per span (rows -> SDK spans -> protobuf), and that
every stored span reached the receiver.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chat_turn import QUESTIONS  # noqa: E402


def _serve(port_q: Any, stop: Any, count_q: Any) -> None:
    from tests.otlp_receiver import Receiver

    r = Receiver().start()
    port_q.put(r.server.server_address[1])
    stop.wait()
    count_q.put((r.requests, len(r.spans)))
    r.stop()


def _round(chat: Any, rt: Any, start: int, turns: int) -> float:
    t0 = time.perf_counter()
    for i in range(start, start + turns):
        chat.ask(QUESTIONS[i % len(QUESTIONS)], session_id=f"bench-{i % 7}")
    rt.writer.flush(60)
    if rt.writer.exporter is not None:
        rt.writer.exporter.flush(60)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=200, help="turns per arm")
    ap.add_argument("--rounds", type=int, default=8, help="alternations per arm")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["LLMOPS_HOME"] = tempfile.mkdtemp(prefix="llmops-bench-otlp-")
    ctx = mp.get_context("spawn")
    port_q, count_q, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(port_q, stop, count_q), daemon=True)
    server.start()
    port = port_q.get(timeout=60)

    from sqlalchemy import func, select

    from llmops.runtime import Runtime
    from llmops.store.models import Span
    from llmops.tracing.otlp import OTLPExport
    from llmops.tracing.writer import COLUMNS

    rt = Runtime()
    if rt.kb.ingest().chunks == 0:
        sys.exit("the knowledge base is empty: nothing to benchmark")
    chat = rt.chat
    for q in QUESTIONS:  # warm-up: models loaded, chains and guards built
        chat.ask(q)
    rt.writer.flush(60)
    with rt.db.session() as s:
        before = int(s.scalar(select(func.count()).select_from(Span)) or 0)
    exporter = OTLPExport(f"http://127.0.0.1:{port}", columns=COLUMNS, db=rt.db)
    rt.writer.exporter = exporter  # warm the export path too (imports, connection)
    _round(chat, rt, 0, len(QUESTIONS))
    per_round = max(1, args.turns // args.rounds)
    off = on = 0.0
    n = 0
    for _ in range(args.rounds):
        rt.writer.exporter = None
        off += _round(chat, rt, n, per_round)
        n += per_round
        rt.writer.exporter = exporter
        on += _round(chat, rt, n, per_round)
        n += per_round
    rt.writer.exporter = None
    stats = exporter.stats()

    # the exporter thread's own cost per span, on rows like the ones it got
    with rt.db.engine.connect() as conn:
        cols = ", ".join(COLUMNS["span"])
        rows = [tuple(r) for r in conn.exec_driver_sql(f"SELECT {cols} FROM spans LIMIT 2000")]
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    rows = [(*r[:5], str(r[5]), str(r[6]) if r[6] else None, *r[7:]) for r in rows]
    t0 = time.perf_counter()
    spans = exporter.builder.build({"span": rows, "trace": [], "event": []})
    t1 = time.perf_counter()
    encode_spans(spans).SerializePartialToString()
    t2 = time.perf_counter()
    exporter.close()
    stop.set()
    requests, received = count_q.get(timeout=60)
    server.join(10)
    with rt.db.session() as s:
        after = int(s.scalar(select(func.count()).select_from(Span)) or 0)
    rt.close()

    turns_arm = per_round * args.rounds
    result = {
        "turns_per_arm": turns_arm,
        "turns_per_s_off": round(turns_arm / off, 2),
        "turns_per_s_on": round(turns_arm / on, 2),
        "ratio_on_off": round(off / on, 3),
        "ms_per_turn_added": round((on - off) / turns_arm * 1000, 2),
        "spans_exported": stats.exported,
        "spans_dropped": stats.dropped,
        "otlp_requests": requests,
        "spans_received": received,
        "spans_stored": after - before,  # both arms and the export warm-up
        "build_us_per_span": round((t1 - t0) / max(1, len(spans)) * 1e6, 1),
        "encode_us_per_span": round((t2 - t1) / max(1, len(spans)) * 1e6, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
