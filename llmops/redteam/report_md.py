"""The risk report as Markdown (``llmops release report REF --format md``, the console's
download): one heading per section, its plain summary, a table where there are numbers, and
the command to run where there is no data yet. Texts that came from the store are escaped
so a detector's detail cannot turn into markup."""

from __future__ import annotations

import re
from typing import Any

from llmops.redteam.report import FAIL, MISSING, OK, WARN, RiskReport, Section

BADGE = {OK: "✅ ok", WARN: "⚠️ warning", FAIL: "❌ failed", MISSING: "∅ no data"}
_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def esc(text: Any) -> str:
    """Markdown-inert text (table-safe: no pipes or line breaks)."""
    return _SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def code(text: Any) -> str:
    """Text as an inline code span (escapes do not work inside one: backticks dropped)."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "—" if value is None else format(value, fmt)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(r) + " |" for r in rows), ""]  # fmt: skip


def _guards(s: Section) -> list[str]:
    out = []
    for name, run in s.data["sets"].items():
        out.append(f"*{esc(name)}* — {run['cases']} cases, evaluation {run['run_id']} "
                   f"({esc(run['created_at'][:16])}), benign false-positive rate "
                   f"{_pct(run['benign_fpr'])}")  # fmt: skip
        out.append("")
        out += _table(["label", "support", "precision", "recall", "FPR"],
                      [[esc(k), str(m["support"]), _num(m["precision"], ".2f"),
                        _num(m["recall"], ".2f"), _num(m["fpr"], ".3f")]
                       for k, m in run["labels"].items()])  # fmt: skip
    return out


def _redteam(s: Section) -> list[str]:
    d = s.data
    changes = (d.get("comparison") or {}).get("by_category", {})
    out = _table(
        ["category", "OWASP", "ASR", "95% interval", "successes", "vs production"],
        [[esc(c), esc(e["owasp"]), _pct(e["asr"]), f"{_pct(e['low'])}–{_pct(e['high'])}",
          f"{e['successes']}/{e['attacks']}",
          "—" if (changes.get(c) or {}).get("change") is None
          else f"{changes[c]['change']:+.0%} (p={changes[c]['p_value']:.2f})"]
         for c, e in d["by_category"].items()],
    )  # fmt: skip
    if d.get("comparison"):
        c = d["comparison"]
        out.insert(0, f"Compared with production scan {c['scan_id']} (release "
                      f"{code(c['release_id'])}, ASR {_pct(c['attack_success_rate'])}).\n")  # fmt: skip
    return out


def _bias(s: Section) -> list[str]:
    out = []
    probe = s.data.get("probe_run")
    if probe:
        out += _table(
            ["attribute", "flagged", "refusal gap", "p", "length gap (words)", "p",
             "similarity"],
            [[esc(a), "yes" if r["flagged"] else "no", _pct(r["refusal_gap"]),
              _num(r["refusal_p"]), _num(r["length_gap"], ".1f"), _num(r["length_p"]),
              _num(r["similarity_mean"], ".2f")] for a, r in probe["attributes"].items()],
        )  # fmt: skip
    if s.data.get("fairness"):
        out += _table(["dataset", "fairness"],
                      [[esc(k), f"{v:.3f}"] for k, v in s.data["fairness"].items()])  # fmt: skip
    return out


def _evaluation(s: Section) -> list[str]:
    rows = []
    for r in s.data["runs"]:
        metrics = ", ".join(f"{esc(k)} {_num(v)}" for k, v in r["metrics"].items())
        rows.append([esc(r["dataset"]), f"v{r['dataset_version']}", code(r["run_id"]),
                     str(r["items"]), metrics or "—", esc(r["baseline_run"] or "—")])  # fmt: skip
    out = _table(["dataset", "version", "run", "items", "mean scores", "production run"], rows)
    if s.data.get("stored_gate"):
        g = s.data["stored_gate"]
        out.append(f"Improvement {g['improvement']}: gate {'passed' if g['passed'] else 'failed'}.")
        out.append("")
    return out


def _privacy(s: Section) -> list[str]:
    d = s.data
    rules = "; ".join(f"{direction}: " + (", ".join(f"{v} {a}" for v, a in r.items()) or "none")
                      for direction, r in d["guard_rules"].items())  # fmt: skip
    days = ", ".join(f"{k} {v or 'forever'}" + (" days" if v else "")
                     for k, v in d["retention_days"].items())  # fmt: skip
    return [f"- redact PII before storage: **{'yes' if d['redact_pii'] else 'NO'}**; person "
            f"names: {d['redact_names']}; user ids: {d['user_id_mode']}",
            f"- guard profile {code(d['guard_profile'])} — {rules}",
            f"- retention: {days}", ""]  # fmt: skip


def _findings(s: Section) -> list[str]:
    items = s.data["items"]
    if not items:
        return []
    return _table(["kind", "what", "why", "trace"],
                  [[i["kind"], esc(i["what"]), esc(i["why"]),
                    code(i["trace_id"]) if i["trace_id"] else "—"] for i in items])  # fmt: skip


BODY = {"guards": _guards, "redteam": _redteam, "bias": _bias, "evaluation": _evaluation,
        "privacy": _privacy, "findings": _findings}  # fmt: skip


def render(report: RiskReport) -> str:
    r = report.release
    gates = report.failed_gates
    lines = [
        f"# Risk report — {esc(r['name'])} ({code(r['id'])})",
        "",
        f"Labels: {', '.join(r['labels']) or 'none'} · model {code(r['model'])} · guard profile "
        f"{code(r['guard_profile'])} · knowledge {code(r['kb_version'] or 'latest')} · "
        f"generated {report.generated_at:%Y-%m-%d %H:%M} UTC",
        "",
        "## Gates",
        "",
        *(f"- {'✅' if g.passed else '❌' if g.passed is False else '∅'} **{g.name}** — "
          f"{g.message}" for g in report.gates),
        "",
        f"**{'⚠️ ' + str(len(gates)) + ' gate(s) failed' if gates else 'No gate failed.'}**",
        "",
    ]  # fmt: skip
    for s in report.sections:
        lines += [f"## {s.title} — {BADGE[s.status]}", "", s.summary, ""]
        if s.status == MISSING:
            lines += [f"To fill it: {s.hint}.", ""] if s.hint else []
            continue
        lines += BODY[s.key](s)
    return "\n".join(lines).rstrip() + "\n"
