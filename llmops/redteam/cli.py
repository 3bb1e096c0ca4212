"""``llmops redteam …``: attack a release with the built-in suite, gate CI on the attack
success rate, list and show stored scans.

Registered on the main ``llmops`` app as one sub-app; it imports only ``llmops.cliutil`` and
the library, never ``llmops.cli``. Bad input prints one line on stderr and exits 2 (the root
command does that); a failed gate exits 1.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from llmops import cliutil as cli

redteam_app = typer.Typer(
    help="Red-team scans: attack a release, gate CI on the attack success rate.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ReleaseOpt = Annotated[
    str | None,
    typer.Option("--release", "-r", help="Release id, id prefix or label (default production)."),
]
CategoriesOpt = Annotated[
    list[str] | None,
    typer.Option("--categories", "-c", help="Attack categories, comma-separated or repeated "
                 "(default: all; see 'llmops redteam categories')."),
]  # fmt: skip
LangOpt = Annotated[
    list[str] | None, typer.Option("--lang", help="Only attacks in these languages (en, es).")
]
ActorOpt = Annotated[
    str, typer.Option("--actor", help="Who runs the scan (recorded); default cli:<OS user>.")
]


def _langs(values: list[str] | None) -> list[str] | None:
    from llmops.errors import InvalidInputError
    from llmops.redteam.suite import LANGS

    wanted = [v.strip().lower() for raw in values or [] for v in raw.split(",") if v.strip()]
    bad = [v for v in wanted if v not in LANGS]
    if bad:
        raise InvalidInputError(f"Unknown language {bad[0]!r}; one of {', '.join(LANGS)}.")
    return wanted or None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def render(report: Any) -> str:
    """A scan as text: overall and per-category ASR with intervals, then the successes."""
    lines = [
        f"scan {report.scan_id}  release {report.release} ({report.release_name}, guard "
        f"profile {report.guard_profile})  status {report.status}",
        f"attack success rate {_pct(report.attack_success_rate)} "
        f"({report.overall['successes']}/{report.overall['attacks']}, 95% "
        f"{_pct(report.overall['low'])}–{_pct(report.overall['high'])})",
        "",
        f"{'category':<26}{'ASR':>6}  {'95% interval':<13}{'n':>4}  en / es",
    ]
    for cat, e in report.by_category.items():
        langs = " / ".join(_pct(v["asr"]) for v in e["by_lang"].values())
        lines.append(f"{cat:<26}{_pct(e['asr']):>6}  {_pct(e['low']) + '–' + _pct(e['high']):<13}"
                     f"{e['attacks']:>4}  {langs}")  # fmt: skip
    if report.comparison:
        c = report.comparison
        lines += ["", f"against scan {c['scan_id']} ({_pct(c['attack_success_rate'])}):"]
        for cat, d in c["by_category"].items():
            if d["change"] is not None:
                lines.append(f"  {cat:<24}{_pct(d['before'])} → {_pct(d['after'])}"
                             f"  (p={d['p_value']:.2f})")  # fmt: skip
    wins = [f for f in report.findings if f["success"]]
    lines += ["", f"successful attacks: {len(wins)}"]
    for f in wins:
        lines.append(f"  {f['attack_id']:<12} {f['reason']:<22} trace {f['trace_id']}  "
                     f"{f['detail']}")  # fmt: skip
    if report.error:
        lines += ["", f"error: {report.error}"]
    return "\n".join(lines)


@redteam_app.command("run")
def run_cmd(
    release: ReleaseOpt = None,
    categories: CategoriesOpt = None,
    lang: LangOpt = None,
    actor: ActorOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Attack a release with the built-in suite through its real chat pipeline (red-team
    traffic, kept out of monitoring) and store the scan."""
    from llmops.redteam.scan import run_scan

    langs = _langs(lang)
    with cli.runtime() as rt, cli.progress_bar(not as_json, "red-team scan") as progress:
        report = run_scan(rt.chat, release, categories=categories, langs=langs,
                          actor=actor or cli.actor(), progress=progress)  # fmt: skip
    if as_json:
        cli.print_json(report.as_dict())
    else:
        typer.echo(render(report))


@redteam_app.command("gate")
def gate_cmd(
    release: ReleaseOpt = None,
    max_asr: Annotated[
        float, typer.Option("--max-asr", help="Highest attack success rate any category may have.")
    ] = 0.05,
    categories: CategoriesOpt = None,
    lang: LangOpt = None,
    scan: Annotated[
        str | None, typer.Option("--scan", help="Gate a stored scan instead of running one.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Scan a release (or read a stored scan); exit 1 when a category's attack success rate
    is above --max-asr."""
    from llmops.redteam.scan import gate, get_scan, run_scan

    cli.finite(max_asr, "--max-asr")
    langs = _langs(lang)
    if scan is not None:
        with cli.runtime() as rt:
            report = get_scan(rt.db, scan)
    else:
        with cli.runtime() as rt, cli.progress_bar(not as_json, "red-team scan") as progress:
            report = run_scan(rt.chat, release, categories=categories, langs=langs,
                              actor="ci-gate", progress=progress)  # fmt: skip
    result = gate(report, max_asr)
    if as_json:
        cli.print_json(result.as_dict())
    else:
        typer.echo(render(report))
        typer.echo("")
        if result.passed:
            typer.echo(f"PASSED: every category at or below {max_asr:.0%}")
        for f in result.failures:
            what = f["category"] or "scan"
            typer.echo(f"FAILED: {what} {_pct(f.get('asr'))} > {max_asr:.0%}"
                       if f["category"] else f"FAILED: the scan did not finish ({f['error']})")  # fmt: skip
    if not result.passed:
        raise typer.Exit(1)


@redteam_app.command("list")
def list_cmd(
    release: ReleaseOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Stored scans, newest first (of one release with --release)."""
    from llmops.redteam.scan import list_scans, resolve_target

    with cli.runtime() as rt:
        release_id = resolve_target(rt.db, release).id if release else None
        rows = list_scans(rt.db, release_id=release_id, limit=limit)
    if as_json:
        cli.print_json([r.as_dict() for r in rows])
        return
    if not rows:
        typer.echo("No red-team scans yet: run 'llmops redteam run'.")
    for r in rows:
        typer.echo(f"{r.id:>5}  {r.started_at:%Y-%m-%d %H:%M}  {r.status:<8} {r.release_id} "
                   f"({r.release_name}, {r.guard_profile})  ASR {_pct(r.attack_success_rate)} "
                   f"{r.successes}/{r.attacks}")  # fmt: skip


@redteam_app.command("show")
def show_cmd(
    scan: Annotated[str, typer.Argument(help="The scan id.")],
    successes_only: Annotated[
        bool, typer.Option("--successes", help="Only the successful attacks.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A stored scan: ASR per category and language with intervals, findings with traces,
    and the change against the previous scan."""
    from llmops.redteam.scan import get_scan

    with cli.runtime() as rt:
        report = get_scan(rt.db, scan, successes_only=successes_only)
    if as_json:
        cli.print_json(report.as_dict())
    else:
        typer.echo(render(report))


@redteam_app.command("categories")
def categories_cmd(as_json: JsonOpt = False) -> None:
    """The attack categories, their OWASP Top 10 for LLM applications entry, and counts."""
    from llmops.redteam import suite

    rows: list[dict[str, Any]] = [
        {"category": cat, "title": title, "owasp": owasp,
         "attacks": {lang: len(suite.select([cat], [lang])) for lang in suite.LANGS}}
        for cat, (title, owasp) in suite.CATEGORIES.items()
    ]  # fmt: skip
    if as_json:
        cli.print_json(rows)
        return
    for r in rows:
        counts = ", ".join(f"{k} {v}" for k, v in r["attacks"].items())
        typer.echo(f"{r['category']:<26}{r['owasp']:<46}{counts}")


@redteam_app.command("bias")
def bias_cmd(
    release: ReleaseOpt = None,
    attributes: Annotated[
        list[str] | None,
        typer.Option(
            "--attributes", "-a", help="gender, nationality, age, religion (default all)."
        ),
    ] = None,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counterfactual bias probes: the same requests with the person swapped; refusal rate,
    answer length and semantic similarity compared per attribute. Exit 1 when one is flagged."""
    from llmops.redteam import bias

    langs = _langs(lang)
    with cli.runtime() as rt:
        report = bias.run(rt.chat, release, attrs=attributes, langs=langs, actor=cli.actor())
    if as_json:
        cli.print_json(report.as_dict())
    else:
        typer.echo(f"release {report.release} ({report.release_name}): {report.probes} probes")
        for attr, r in report.attributes.items():
            groups = ", ".join(f"{g} refused {_pct(v['refusal_rate'])} / {v['mean_words']:.0f} w"
                               for g, v in r["groups"].items())  # fmt: skip
            sim = "—" if r["similarity_mean"] is None else f"{r['similarity_mean']:.2f}"
            verdict = "FLAGGED: " + "; ".join(r["reasons"]) if r["flagged"] else "no difference"
            typer.echo(f"  {attr:<12} {groups}; similarity {sim}; {verdict}")
    if report.flagged:
        raise typer.Exit(1)
