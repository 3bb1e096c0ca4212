"""Releases page widgets: the list with labels and traffic, a release's config and actions
(promote, canary, staging, edit a copy), create with validation, diff, the canary with its
comparison and rollback rules, the playground, and the label history.

Every action goes through ``llmops.releases`` (which audits it); promotions and rollbacks
need an explicit confirmation first, and a promotion shows the release's risk report summary
(``llmops.ui.risk``) with a warning for each failed gate above it. Lists are paged in SQL.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import streamlit as st

from llmops.errors import UserFacingError
from llmops.governance.roles import Capability
from llmops.markdown import safe_markdown
from llmops.releases import compare, core, deploy, diff, playground, rollback
from llmops.ui.auth import can
from llmops.ui.deps import runtime
from llmops.ui.risk import promotion_summary
from llmops.ui.widgets import Sections, actor, pager, show_error

PAGE_SIZE = 25
SECTIONS = ["Releases", "New release", "Diff", "Canary", "Playground", "History"]
_SECTIONS = Sections("rl", SECTIONS, {"New release": Capability.RELEASES,
                                        "Playground": Capability.RELEASES})  # fmt: skip
section_picker, _done, _go = _SECTIONS.pick, _SECTIONS.done, _SECTIONS.go
_error = show_error
WINDOWS = {"Last 15 minutes": 15, "Last hour": 60, "Last 6 hours": 360, "Last 24 hours": 1440}
DRAFT_KEY = "rl_draft"  # a candidate config (dict) carried from New release to the playground
META_KEY = "rl_new_meta"  # the new release's name and note, kept across sections


def _choices(limit: int = 200) -> dict[str, str]:
    """Release id → "name · id · labels" for pickers (newest first)."""
    rows = core.list_releases(runtime().db, limit=limit)
    return {r.id: f"{r.name} · {r.id}" + (f" · {', '.join(r.labels)}" if r.labels else "")
            for r in rows}  # fmt: skip


def _picker(label: str, key: str, default: str | None = None) -> str | None:
    options = _choices()
    if not options:
        return None
    ids = list(options)
    index = ids.index(default) if default in ids else 0
    return st.selectbox(label, ids, index=index, format_func=options.__getitem__, key=key)


# -- the list and one release ------------------------------------------------------------------
def releases_section() -> None:
    db = runtime().db
    current = core.labels(db)
    if can(Capability.RELEASES):
        _rollback_panel(current)
    page = int(st.session_state.get("rl_page", 0))
    rows = core.list_releases(db, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    total = core.count_releases(db)
    st.dataframe(
        [{"id": r.id, "name": r.name, "labels": ", ".join(r.labels),
          "traffic": f"{r.traffic_share:.0%}" if r.traffic_share else "",
          "created": r.created_at, "by": r.created_by, "note": r.description} for r in rows],
        hide_index=True, width="stretch", key="rl_list",
    )  # fmt: skip
    if total > PAGE_SIZE:
        pager("rl_page", page, more=(page + 1) * PAGE_SIZE < total,
              caption=f"{total:,} releases")  # fmt: skip
    chosen = _picker("Release", "rl_pick", current.production)
    if chosen:
        release_detail(chosen, current)


def _rollback_panel(current: core.Labels) -> None:
    db = runtime().db
    target = deploy.previous_production(db)
    prod = current.production or "-"
    with st.container(border=True):
        st.markdown(f"**Production:** `{prod}`" + (
            f" · **canary:** `{current.canary}` at {current.canary_weight:.0%}"
            if current.canary else ""
        ))  # fmt: skip
        if target is None:
            st.caption("No previous production release to roll back to.")
            return
        note = st.text_input("Why roll back?", key="rl_rb_note")
        sure = st.checkbox(f"Confirm: production {prod} → {target}", key="rl_rb_confirm")
        if st.button("Roll back production", disabled=not sure, key="rl_rollback"):
            try:
                info = deploy.rollback(db, actor=actor(), note=note)
            except UserFacingError as exc:
                _error(exc)
                return
            st.session_state.pop("rl_rb_confirm", None)
            _done(f"Production is {info.name} ({info.id}) again.")


def release_detail(release_id: str, current: core.Labels) -> None:
    db = runtime().db
    info = core.get_release(db, release_id)
    st.subheader(f"{info.name} · {info.id}")
    by = f" by {info.created_by}" if info.created_by else ""
    when = f"{info.created_at:%Y-%m-%d %H:%M} UTC" if info.created_at else ""
    st.caption(f"Created {when}{by}" + (f" — {info.description}" if info.description else ""))
    cfg = info.config
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Model", f"{cfg.model.provider}/{cfg.model.name}")
    c2.metric("Retrieval", f"k={cfg.retrieval.k}, ≥{cfg.retrieval.min_score:g}")
    c3.metric("Guard profile", cfg.guard_profile)
    c4.metric("Knowledge", cfg.kb_version or "latest")
    with st.expander("System prompt and full configuration"):
        st.code(cfg.system_prompt, language=None, wrap_lines=True)
        st.json(cfg.model_dump(mode="json"), expanded=False)
    if not can(Capability.RELEASES):  # a viewer reads; operators act
        return
    a, b, c = st.columns(3)
    if a.button("Edit a copy", key="rl_copy"):
        st.session_state["rl_base"] = info.id
        st.session_state.pop(DRAFT_KEY, None)
        _go("New release")
    if b.button("Label staging", key="rl_stage", disabled=current.staging == info.id):
        core.set_label(db, core.STAGING, info.id, actor=actor())
        st.rerun()
    if c.button("Try in the playground", key="rl_try"):
        st.session_state["rl_pg_releases"] = [info.id]
        _go("Playground")
    if current.production == info.id:
        st.info("This release is production.")
        return
    with st.container(border=True):
        report = promotion_summary(info.id)
        note = st.text_input("Note", key="rl_note", placeholder="why this release")
        left, right = st.columns(2)
        failed = len(report.failed_gates) if report is not None else 0
        sure = left.checkbox(
            f"Confirm: production {current.production} → {info.id}"
            + (f" despite {failed} failed gate(s)" if failed else ""),
            key="rl_promote_confirm",
        )
        if left.button("Promote to production", disabled=not sure, key="rl_promote"):
            _act(lambda: deploy.promote(db, info.id, actor=actor(), note=note),
                 f"{info.name} is production.")  # fmt: skip
        pct = right.slider("Canary share (%)", 1, 50, 10, key="rl_weight")
        if right.button(f"Start canary at {pct} %", key="rl_canary"):
            _act(lambda: deploy.start_canary(db, info.id, pct / 100, actor=actor(), note=note),
                 f"{info.name} serves {pct} % of sessions.")  # fmt: skip


def _act(fn: Any, message: str) -> None:
    try:
        fn()
    except UserFacingError as exc:
        _error(exc)
        return
    st.session_state.pop("rl_promote_confirm", None)
    _done(message)


# -- create --------------------------------------------------------------------------------------
def new_release() -> None:
    db = runtime().db
    base_id = _picker("Start from", "rl_base", core.labels(db).production)
    if base_id is None:
        st.info("No release yet: run `llmops db upgrade`.")
        return
    base = core.get_release(db, base_id).config.model_dump(mode="json")
    data = st.session_state.get(DRAFT_KEY) or base
    form = _config_form(base_id, data)
    problems = core.config_problems(form)
    for path, msg in problems:
        st.error(f"{path}: {msg}")
    # Kept outside the widgets too: Streamlit drops a widget's state while another section is
    # shown, and a round trip to the playground must not lose them.
    meta = st.session_state.setdefault(META_KEY, {})
    name = st.text_input("Name", meta.get("name", ""), key="rl_new_name",
                         placeholder="shorter answers")  # fmt: skip
    note = st.text_area("Note", meta.get("note", ""), key="rl_new_note", height=68,
                        placeholder="what changed, why")  # fmt: skip
    meta.update(name=name, note=note)
    changed = [] if problems else diff.changes(core.parse_config(base), core.parse_config(form))
    if not problems:
        st.caption(
            f"{len(changed)} field(s) changed from {base_id}: "
            + (", ".join(c.path for c in changed) or "none")
        )
    left, right = st.columns(2)
    if left.button("Save release", type="primary", disabled=bool(problems), key="rl_save"):
        try:
            config = core.parse_config(form)
            existed = core.exists(db, config.release_id())
            info = core.create_release(db, config, name=name, description=note, actor=actor())
        except UserFacingError as exc:
            _error(exc)
            return
        st.session_state.pop(DRAFT_KEY, None)
        st.session_state.pop(META_KEY, None)
        if existed:
            st.info(f"This configuration is already {info.name} ({info.id}).")
        else:
            st.success(f"Saved {info.name} ({info.id}).")
    if right.button("Try the draft in the playground", disabled=bool(problems), key="rl_try_draft"):
        st.session_state[DRAFT_KEY] = form
        st.session_state["rl_pg_releases"] = [base_id]
        _go("Playground")


def _config_form(base_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """The config editor; widget keys include the base so switching base resets them."""
    from llmops.guards.profiles import PROFILES
    from llmops.rag import versions

    k = f"rl_f_{base_id}"
    model, retrieval = dict(data["model"]), dict(data["retrieval"])
    prompt = st.text_area("System prompt", data["system_prompt"], height=200, key=f"{k}_prompt")
    c1, c2, c3 = st.columns(3)
    providers = list(core.PROVIDER_NAMES)
    model["provider"] = c1.selectbox(
        "Provider", providers, index=providers.index(model["provider"])
        if model["provider"] in providers else 0, key=f"{k}_provider",
    )  # fmt: skip
    model["name"] = c2.text_input("Model", model["name"], key=f"{k}_model")
    model["base_url"] = c3.text_input("Base URL", model.get("base_url") or "", key=f"{k}_url")
    c1, c2, c3 = st.columns(3)
    model["api_key_env"] = c1.text_input(
        "API key variable", model.get("api_key_env") or "", key=f"{k}_key",
        help="The environment variable that holds the key (never the key itself).",
    )  # fmt: skip
    temp = c2.text_input("Temperature", _blank(model.get("temperature")), key=f"{k}_temp")
    model["temperature"] = _number(temp)
    tokens = c3.text_input("Max tokens", _blank(model.get("max_tokens")), key=f"{k}_tokens")
    model["max_tokens"] = _number(tokens)
    c1, c2, c3, c4 = st.columns(4)
    retrieval["k"] = c1.number_input("Retrieval k", 1, 50, int(retrieval["k"]), key=f"{k}_k")
    retrieval["min_score"] = c2.number_input(
        "Min score", -1.0, 1.0, float(retrieval["min_score"]), 0.05, key=f"{k}_min"
    )
    profiles = list(PROFILES)
    profile = c3.selectbox(
        "Guard profile", profiles, index=profiles.index(data["guard_profile"])
        if data["guard_profile"] in profiles else 0, key=f"{k}_profile",
    )  # fmt: skip
    kbs = [None, *(v.name for v in versions.list_versions(runtime().db, limit=100))]
    current = data.get("kb_version")
    kb = c4.selectbox(
        "Knowledge version", kbs, index=kbs.index(current) if current in kbs else 0,
        format_func=lambda v: v or "latest published", key=f"{k}_kb",
    )  # fmt: skip
    return {"system_prompt": prompt, "model": model, "retrieval": retrieval,
            "guard_profile": profile, "kb_version": kb}  # fmt: skip


def _blank(value: Any) -> str:
    return "" if value is None else str(value)


def _number(text: str) -> Any:
    """A number from a text field; blank is None; anything else is left for validation."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- diff ----------------------------------------------------------------------------------------
def diff_section() -> None:
    current = core.labels(runtime().db)
    c1, c2 = st.columns(2)
    with c1:
        a = _picker("Release A", "rl_diff_a", current.production)
    with c2:
        b = _picker("Release B", "rl_diff_b", current.canary or current.staging)
    if not a or not b:
        return
    show_diff(a, b)


def show_diff(a: str, b: str) -> None:
    db = runtime().db
    ra, rb = core.get_release(db, a), core.get_release(db, b)
    changes = diff.changes(ra.config, rb.config)
    if not changes:
        st.info("Same configuration.")
        return
    st.dataframe(
        [{"field": c.path, "A": _cell(c.a), "B": _cell(c.b)} for c in changes
         if c.path != "system_prompt"],
        hide_index=True, width="stretch", key="rl_diff",
    )  # fmt: skip
    text = diff.prompt_diff(ra.config.system_prompt, rb.config.system_prompt, names=(a, b))
    if text:
        st.markdown("**System prompt**")
        st.code(text, language="diff")


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


# -- canary ----------------------------------------------------------------------------------------
P_COLUMN = {"p": st.column_config.NumberColumn("p", format="%.4f", help="two-sided p-value")}


def canary_section() -> None:
    db = runtime().db
    current = core.labels(db)
    ended = rollback.ended_by_rollback(db)
    if ended is not None and current.canary is None:
        st.error(f"{ended.message} ({ended.at:%Y-%m-%d %H:%M:%S} UTC)")
    if current.canary is None:
        st.info("No canary is running. Start one from a release in Releases.")
    else:
        st.markdown(f"**Canary** `{current.canary}` serves {current.canary_weight:.0%} of sessions "
                    f"(sticky per session); production `{current.production}`.")  # fmt: skip
        if can(Capability.CANARY) and st.button("Stop the canary", key="rl_stop"):
            _act(lambda: deploy.stop_canary(db, actor=actor()), "The canary is stopped.")
        _comparison()
    _rules()
    events = rollback.events(db, limit=20)
    if events:
        st.markdown("**Automatic rollbacks**")
        st.dataframe(
            [{"at": e.at, "release": e.release_id, "metric": e.metric, "canary": e.canary_value,
              "production": e.production_value, "p": e.p_value, "turns": e.samples,
              "webhook": e.delivery, "message": e.message} for e in events],
            hide_index=True, width="stretch", key="rl_events", column_config=P_COLUMN,
        )  # fmt: skip


def _comparison() -> None:
    label = st.selectbox("Window", list(WINDOWS), index=1, key="rl_window")
    result = compare.compare(runtime().db, window=timedelta(minutes=WINDOWS[label]))
    arms = [a for a in (result.production, result.canary) if a is not None]
    cols = st.columns(len(arms) or 1)
    for col, arm, name in zip(cols, arms, ("Production", "Canary"), strict=False):
        col.metric(f"{name} turns", f"{arm.turns:,}", help=arm.release_id)
    if result.metrics:
        st.dataframe(
            [{"metric": m.label, "production": m.production, "canary": m.canary,
              "difference": m.diff, "95% low": m.low, "95% high": m.high, "p": m.p_value,
              "canary worse": "yes" if m.worse and m.significant else "",
              "turns (prod/canary)": f"{m.n_production}/{m.n_canary}"} for m in result.metrics],
            hide_index=True, width="stretch", key="rl_compare", column_config=P_COLUMN,
        )  # fmt: skip
    (st.warning if "worse" in result.verdict else st.info)(result.verdict)


def _rules() -> None:
    db = runtime().db
    rules = rollback.list_rules(db)
    st.markdown("**Automatic rollback rules** — the first that fires takes the canary out")
    if not can(Capability.CANARY):
        for r in rules:
            st.markdown(f"- {r.describe()}" + ("" if r.enabled else " (off)"))
        return
    for r in rules:
        on = st.toggle(r.describe(), value=r.enabled, key=f"rl_rule_{r.id}")
        if on != r.enabled:
            rollback.set_enabled(db, r.id, on, actor=actor())
            st.rerun()
    with st.expander("Add a rule"):
        c1, c2, c3 = st.columns(3)
        metric = c1.selectbox("Metric", list(compare.SPECS), key="rl_r_metric",
                              format_func=lambda k: compare.SPECS[k].label)  # fmt: skip
        kind = c2.selectbox("Kind", list(rollback.KINDS), key="rl_r_kind",
                            help="worse: than production, significantly; limit: a bound")  # fmt: skip
        threshold = c3.number_input("Threshold (rates as fractions)", 0.0, 1e9, 0.02, key="rl_r_t")
        c1, c2, c3 = st.columns(3)
        p = c1.number_input("p-value", 0.0001, 0.5, 0.05, format="%.4f", key="rl_r_p")
        n = c2.number_input("Min canary turns", 1, 1_000_000, 20, key="rl_r_n")
        window = c3.number_input("Window (minutes)", 1, 7 * 24 * 60, 60, key="rl_r_w")
        if st.button("Add rule", key="rl_r_add"):
            _act(lambda: rollback.add_rule(
                db, name="", metric=metric, kind=kind, threshold=float(threshold),
                p_value=float(p), min_samples=int(n), window_minutes=int(window), actor=actor(),
            ), "Rule added.")  # fmt: skip


# -- playground ------------------------------------------------------------------------------------
def playground_section() -> None:
    db = runtime().db
    options = _choices()
    draft_cfg = st.session_state.get(DRAFT_KEY)
    draft = None
    if draft_cfg is not None:
        try:
            draft = playground.draft(core.parse_config(draft_cfg))
        except UserFacingError as exc:
            _error(exc)
    default = [r for r in st.session_state.get("rl_pg_releases", []) if r in options]
    picked = st.multiselect("Releases", list(options), default=default or list(options)[:1],
                            format_func=options.__getitem__, max_selections=3,
                            key="rl_pg_pick")  # fmt: skip
    if draft is not None:
        st.caption(f"Also trying the unsaved draft {draft.id} (from New release).")
    questions = st.text_area("Questions (one a line)", key="rl_pg_q", height=100)
    items = _dataset_questions()
    lines = [q for q in questions.splitlines() if q.strip()] + items
    if st.button("Run", type="primary", key="rl_pg_run"):
        infos = [core.get_release(db, r) for r in picked] + ([draft] if draft else [])
        try:
            with st.spinner("Running through each release…"):
                st.session_state["rl_pg_result"] = playground.run(
                    runtime().chat, lines, infos, actor=actor()
                )
        except UserFacingError as exc:
            _error(exc)
    rows = st.session_state.get("rl_pg_result")
    if rows:
        _attempts(rows)
    if draft is not None:
        name = st.text_input("Save the draft as", key="rl_pg_name", placeholder="candidate")
        if st.button("Save the draft as a release", key="rl_pg_save"):
            try:
                info = core.create_release(db, draft.config, name=name, actor=actor(),
                                           description="from the playground")  # fmt: skip
            except UserFacingError as exc:
                _error(exc)
                return
            st.session_state.pop(DRAFT_KEY, None)
            st.success(f"Saved {info.name} ({info.id}).")


def _dataset_questions() -> list[str]:
    from llmops.evals import datasets as ds

    db = runtime().db
    sets = {d.name: d for d in ds.list_datasets(db, limit=100)}
    if not sets:
        return []
    with st.expander("…or pick dataset items"):
        name = st.selectbox("Dataset", ["", *sets], key="rl_pg_ds")
        if not name:
            return []
        items, _ = ds.list_items(db, name, limit=playground.MAX_QUESTIONS)
        chosen = st.multiselect("Items", [i.input for i in items], key="rl_pg_items")
        return list(chosen)


def _attempts(rows: list[list[playground.Attempt]]) -> None:
    for row in rows:
        st.markdown(f"**{row[0].question}**")
        for col, a in zip(st.columns(len(row)), row, strict=True):
            with col.container(border=True):
                st.caption(f"{a.release_name} · {a.release_id}")
                st.markdown(safe_markdown(a.answer))
                ms = f"{a.latency_ms:,.0f} ms" if a.latency_ms is not None else "-"
                st.caption(f"{a.status} · {ms} · {a.input_tokens}+{a.output_tokens} tokens · "
                           f"${a.cost:.4f} · [trace](/traces?trace={a.trace_id})")  # fmt: skip
                for c in a.citations:
                    st.caption(f"[{c.get('n')}] {c.get('source')} ({c.get('score', 0):.2f})")
                for v in a.violations:
                    st.caption(f"🛡️ {v.get('validator')}: {v.get('action')}")


# -- history ---------------------------------------------------------------------------------------
def history_section() -> None:
    page = int(st.session_state.get("rl_hist_page", 0))
    rows = core.history(runtime().db, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE)
    st.dataframe(
        [{"at": r.at, "label": r.label, "action": r.action, "from": r.previous_release_id,
          "to": r.release_id, "weight": f"{r.weight:.0%}" if r.label == core.CANARY else "",
          "by": r.actor, "note": r.note} for r in rows[:PAGE_SIZE]],
        hide_index=True, width="stretch", key="rl_history",
    )  # fmt: skip
    pager("rl_hist_page", page, more=len(rows) > PAGE_SIZE, caption=f"page {page + 1}")
