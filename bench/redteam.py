"""Red-team scans: time per attack and attack success rate per category, for the default
release and for a deliberately weak one (guard profile ``off``).

    .venv/bin/python bench/redteam.py [--repeats 1] [--bias] [--json]

A real Runtime in a temporary LLMOPS_HOME (SQLite, the shipped knowledge base ingested,
real guards, the offline LocalModel). The weak release is the default configuration with
guard profile ``off``. Each repeat runs the whole built-in suite against both releases with
``llmops.redteam.scan.run_scan`` (planting the test documents, the canary, every turn through
``ChatService``, judging, storing). Reported: wall time per scan, the median and p95 time per
attack (``latency_ms`` of the findings: all of an attack's turns), the scan overhead (wall
time minus the attacks: planting, removal, storing), and the ASR per category with its
Wilson 95 % interval.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


KEYS = ("refusal_gap", "refusal_p", "length_gap", "length_p", "similarity_mean", "similarity_min")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--bias", action="store_true", help="Also run the bias probes.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as home:
        os.environ["LLMOPS_HOME"] = home
        os.environ.pop("LLMOPS_DATABASE_URL", None)
        from llmops.config import reset_settings

        reset_settings()
        from llmops.redteam import suite
        from llmops.redteam.scan import run_scan
        from llmops.releases.core import ReleaseConfig, create_release
        from llmops.runtime import Runtime

        rt = Runtime()
        try:
            rt.kb.ingest()
            rt.chat.guards.warm_up()
            weak = create_release(rt.db, ReleaseConfig(guard_profile="off"), name="weak").id
            targets = {"default (production)": None, "weak (guard profile off)": weak}
            out: dict[str, Any] = {"attacks": len(suite.builtin()), "repeats": args.repeats,
                                   "releases": {}}  # fmt: skip
            for name, ref in targets.items():
                walls, per_attack, overhead = [], [], []
                report = None
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    report = run_scan(rt.chat, ref, actor="bench")
                    wall = time.perf_counter() - t0
                    lat = [f["latency_ms"] for f in report.findings]
                    walls.append(wall)
                    per_attack += lat
                    overhead.append(wall - sum(lat) / 1000)
                assert report is not None
                out["releases"][name] = {
                    "scan_s": round(statistics.median(walls), 2),
                    "attack_ms_p50": round(statistics.median(per_attack), 1),
                    "attack_ms_p95": round(_p(per_attack, 0.95), 1),
                    "overhead_s": round(statistics.median(overhead), 2),
                    "asr": report.attack_success_rate,
                    "asr_low": report.overall["low"],
                    "asr_high": report.overall["high"],
                    "by_category": {
                        cat: {k: e[k] for k in ("asr", "low", "high", "successes", "attacks")}
                        for cat, e in report.by_category.items()
                    },
                    "by_lang": {lang: e["asr"] for lang, e in report.by_lang.items()},
                    "successful_attacks": [f["attack_id"] for f in report.findings if f["success"]],
                }
            if args.bias:
                from llmops.redteam import bias

                t0 = time.perf_counter()
                b = bias.run(rt.chat, None, actor="bench")
                wall = time.perf_counter() - t0
                out["bias"] = {
                    "probes": b.probes,
                    "probe_ms": round(wall / b.probes * 1000, 1),
                    "flagged": b.flagged,
                    "attributes": {a: {k: r[k] for k in KEYS} for a, r in b.attributes.items()},
                }
        finally:
            rt.close()

    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['attacks']} attacks, {args.repeats} repeat(s)")
    for name, r in out["releases"].items():
        print(f"\n{name}: scan {r['scan_s']} s, per attack p50 {r['attack_ms_p50']} ms, "
              f"p95 {r['attack_ms_p95']} ms, overhead {r['overhead_s']} s")  # fmt: skip
        print(f"  ASR {r['asr']:.0%} (95% {r['asr_low']:.0%}–{r['asr_high']:.0%}); "
              + ", ".join(f"{k} {v:.0%}" for k, v in r["by_lang"].items()))  # fmt: skip
        for cat, e in r["by_category"].items():
            print(f"  {cat:<26}{e['asr']:>5.0%}  ({e['low']:.0%}–{e['high']:.0%})  "
                  f"{e['successes']}/{e['attacks']}")  # fmt: skip
    if "bias" in out:
        b = out["bias"]
        print(f"\nbias probes: {b['probes']} through the default release, "
              f"{b['probe_ms']} ms per probe; flagged: {b['flagged'] or 'none'}")  # fmt: skip
        for a, r in b["attributes"].items():
            print(f"  {a:<12} refusal gap {r['refusal_gap']} (p={r['refusal_p']}), length gap "
                  f"{r['length_gap']} (p={r['length_p']}), similarity mean "
                  f"{r['similarity_mean']} min {r['similarity_min']}")  # fmt: skip


if __name__ == "__main__":
    main()
