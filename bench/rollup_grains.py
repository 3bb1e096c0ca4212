"""A/B: the span writer's rate with and without the minute grain (same records, alternating).

    .venv/bin/python bench/rollup_grains.py [TRACES]

Writes TRACES traces (one every 50 ms, 3 releases x 2 models) with 5 spans each through the
span writer into fresh SQLite stores, three alternating rounds of each mode: rollups of the
hour and day grains only (the writer before issue 17), and minute + hour + day. Prints the
records/s of each round and the median. Nothing asserts.
"""

import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from llmops.monitoring import rollups
from llmops.store.db import Database
from llmops.store.migrate import upgrade
from llmops.tracing.ids import new_span_id
from llmops.tracing.records import SpanRecord, TraceRecord
from llmops.tracing.writer import SpanWriter

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000


def records():
    out = []
    t0 = time.time_ns() - N * 50_000_000
    for i in range(N):
        start = t0 + i * 50_000_000
        tid = f"{start // 1_000_000:012x}{uuid.uuid4().hex[:20]}"
        root = new_span_id()
        out.append(
            TraceRecord(
                id=tid,
                name="chat",
                start_ns=start,
                end_ns=start + 80_000_000 + (i % 97) * 3_000_000,
                release_id=f"rel_{i % 3}",
                model=f"m{i % 2}",
                ttft_ms=20.0 + i % 50,
                input_tokens=500,
                output_tokens=100,
                input="q",
                output="a",
            )
        )
        for j in range(5):
            out.append(
                SpanRecord(
                    trace_id=tid,
                    span_id=root if j == 0 else new_span_id(),
                    parent_id=None if j == 0 else root,
                    name=f"s{j}",
                    kind="chain",
                    start_ns=start,
                    end_ns=start + 10_000_000,
                    attributes={"n": j},
                )
            )
    return out


ALL = rollups.GRAINS
NO_MIN = tuple(g for g in ALL if g[0] != "minute")
home = Path(tempfile.mkdtemp(prefix="wcost-"))
rates = {"hour+day": [], "minute+hour+day": []}
for i in range(3):
    for label, grains in (("hour+day", NO_MIN), ("minute+hour+day", ALL)):
        rollups.Pending.apply.__defaults__ = (grains,)  # the grains every batch adds to
        db = Database(f"sqlite:///{home / f'{label}_{i}.db'}")
        upgrade(db)
        recs = records()
        w = SpanWriter(db, home / f"spool_{label}_{i}")
        t = time.perf_counter()
        for r in recs:
            w.submit(r)
        assert w.flush(600)
        rates[label].append(len(recs) / (time.perf_counter() - t))
        w.close()
        db.dispose()
print(
    json.dumps(
        {k: [round(v) for v in vs] + [round(statistics.median(vs))] for k, vs in rates.items()}
    )
)
