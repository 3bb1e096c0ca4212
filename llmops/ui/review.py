"""Review page widgets: human review queues (create from filters, review one item at a time
under a lock, progress and agreement, export to a dataset or to fine-tuning JSONL) and the
improvement loop (evidence → dataset → candidate → gate → canary → promote)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from llmops.errors import UserFacingError
from llmops.governance.roles import Actor, Capability
from llmops.markdown import safe_markdown
from llmops.review import agreement, queues
from llmops.ui.auth import can
from llmops.ui.deps import runtime
from llmops.ui.widgets import Sections, actor, show_error

SECTIONS = ["Queues", "Review", "Results", "Improvements"]
_SECTIONS = Sections("rv", SECTIONS, {"Improvements": Capability.IMPROVEMENTS})
section_picker, _done, _go = _SECTIONS.pick, _SECTIONS.done, _SECTIONS.go
_error = show_error
RANGES = {"any time": None, "last 24 hours": 1, "last 7 days": 7, "last 30 days": 30}


def _queue_picker(key: str) -> str | None:
    rows = queues.list_queues(runtime().db, limit=200)
    if not rows:
        st.info("No review queue yet: create one in Queues.")
        return None
    names = [q.name for q in rows]
    return st.selectbox("Queue", names, key=key)


# -- queues ----------------------------------------------------------------------------------------
def queues_section() -> None:
    db = runtime().db
    rows = queues.list_queues(db, limit=100)
    if rows:
        st.dataframe(
            [{"queue": q.name, "items": q.items, "done": q.done,
              "reviewers per item": q.reviewers_per_item, "created": q.created_at,
              "by": q.created_by, "filter": json.dumps(q.filter, default=str)} for q in rows],
            hide_index=True, width="stretch", key="rv_queues",
        )  # fmt: skip
    with st.form("rv_new"):
        st.markdown("**New queue** — the traces that match now become its items")
        name = st.text_input("Name", key="rv_name")
        c1, c2, c3 = st.columns(3)
        fb = c1.selectbox("Feedback", ["down", "any", "up", "none"], key="rv_fb")
        when = c2.selectbox("Time range", list(RANGES), index=2, key="rv_range")
        release = c3.selectbox("Release", ["any", *_release_ids()], key="rv_release")
        c1, c2, c3 = st.columns(3)
        guard = c1.checkbox("Only turns with a guard violation", key="rv_guard")
        score = c2.text_input("Evaluator score below (name=value)", key="rv_score",
                              placeholder="groundedness=0.5")  # fmt: skip
        sample = c3.number_input("Random sample of (0 = all)", 0, queues.MAX_ITEMS, 0,
                                 key="rv_sample")  # fmt: skip
        reviewers = st.number_input("Reviewers per item", 1, 5, 1, key="rv_reviewers")
        submitted = st.form_submit_button("Create queue")
    if submitted:
        try:
            flt = _filter(fb, when, release, guard, score, int(sample))
            q = queues.create_queue(db, name, flt, reviewers_per_item=int(reviewers),
                                    actor=actor())  # fmt: skip
        except UserFacingError as exc:
            _error(exc)
            return
        _done(f"Queue {q.name} created with {q.items} item(s).")


def _release_ids() -> list[str]:
    from llmops.releases import core

    return [r.id for r in core.list_releases(runtime().db, limit=100)]


def _filter(
    fb: str, when: str, release: str, guard: bool, score: str, sample: int
) -> queues.QueueFilter:
    days = RANGES[when]
    data: dict[str, Any] = {"feedback": fb, "guard_events": guard}
    if days:
        data["since"] = datetime.now(UTC) - timedelta(days=days)
    if release != "any":
        data["release_id"] = release
    if sample:
        data["sample"] = sample
    if score.strip():
        name, _, value = score.partition("=")
        try:
            data["score_name"], data["score_below"] = name.strip(), float(value)
        except ValueError:
            from llmops.errors import InvalidInputError

            raise InvalidInputError(
                "Write the score filter as name=value, e.g. groundedness=0.5."
            ) from None
    return queues.parse_filter(data)


# -- review one item -------------------------------------------------------------------------------
def review_section() -> None:
    db = runtime().db
    name = _queue_picker("rv_pick")
    if name is None:
        return
    me = actor()
    try:
        task = queues.next_item(db, name, me)
    except UserFacingError as exc:
        _error(exc)
        return
    p = queues.progress(db, name)
    st.progress(p.done / p.total if p.total else 1.0, text=f"{p.done} of {p.total} done")
    if task is None:
        st.success("Nothing left for you in this queue.")
        return
    until = f"{task.locked_until:%H:%M} UTC" if task.locked_until else "-"
    st.caption(f"Item {task.item_id} · held for you until {until} · "
               f"[trace](/traces?trace={task.trace_id})")  # fmt: skip
    with st.chat_message("user"):
        st.markdown(safe_markdown(task.question))
    with st.chat_message("assistant"):
        st.markdown(safe_markdown(task.answer))
    for s in task.sources:
        with st.expander(f"{s.get('source', '?')} ({s.get('score', 0) or 0:.2f})"):
            st.text(str(s.get("snippet") or s.get("text") or ""))
    verdict = st.radio("Verdict", list(queues.VERDICTS), horizontal=True, key="rv_verdict")
    cats = st.multiselect(
        "What is wrong", ["missing facts", "wrong facts", "not grounded", "off topic",
                          "wrong language", "unsafe", "too long", "refused wrongly"],
        key="rv_cats",
    )  # fmt: skip
    corrected = st.text_area("A better answer (optional)", key="rv_corrected")
    note = st.text_input("Note", key="rv_note")
    if st.button("Save and next", type="primary", key="rv_save"):
        try:
            queues.label(db, task.item_id, me, verdict, categories=cats,
                         corrected=corrected or None, note=note or None)  # fmt: skip
        except UserFacingError as exc:
            _error(exc)
            return
        for key in ("rv_verdict", "rv_corrected", "rv_note", "rv_cats"):  # a fresh form
            st.session_state.pop(key, None)
        _done(f"Saved: {verdict}.")


# -- results -----------------------------------------------------------------------------------------
def results_section() -> None:
    db = runtime().db
    name = _queue_picker("rv_res_pick")
    if name is None:
        return
    p = queues.progress(db, name)
    c = st.columns(4)
    c[0].metric("Items", p.total)
    c[1].metric("Done", p.done)
    c[2].metric("Held now", p.locked)
    c[3].metric("Verdicts", sum(p.verdicts.values()))
    if p.verdicts:
        st.bar_chart(p.verdicts, horizontal=True)
    agree = agreement.reviewers(db, name)
    st.markdown("**Reviewer agreement**")
    if agree.pairs:
        kappa = "n/a" if agree.fleiss_kappa is None else f"{agree.fleiss_kappa:.2f}"
        st.caption(f"Fleiss' kappa {kappa} over {agree.fleiss_items} items")
        st.dataframe([{"reviewer A": x.a, "reviewer B": x.b, "items": x.items,
                       "agreement": x.agreement, "Cohen's kappa": x.kappa}
                      for x in agree.pairs], hide_index=True, key="rv_pairs")  # fmt: skip
    else:
        st.caption("Needs items with two or more verdicts (reviewers per item ≥ 2).")
    evals = agreement.evaluators(db, name)
    if evals:
        st.markdown("**Evaluators against reviewers**")
        st.dataframe([{"evaluator": e.evaluator, "items": e.items, "accuracy": e.accuracy,
                       "Cohen's kappa": e.kappa} for e in evals],
                     hide_index=True, key="rv_evals")  # fmt: skip
    st.markdown("**Export**")
    c1, c2 = st.columns(2)
    target = c1.text_input("Dataset name", value=f"review-{name}", key="rv_ds")
    if can(Capability.DATASETS) and c1.button("Add reviewed items to the dataset", key="rv_to_ds"):
        try:
            n = queues.to_dataset(db, name, target, actor=actor())
        except UserFacingError as exc:
            _error(exc)
        else:
            st.success(f"{n} case(s) added to {target}.")
    if not can(Capability.EXPORTS):  # conversations leaving the store: admins
        return
    examples = queues.finetune_examples(db, name, actor=actor())
    c2.download_button(
        f"Fine-tuning JSONL ({len(examples)} examples)",
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples),
        file_name=f"{name}-finetune.jsonl", mime="application/jsonl",
        disabled=not examples, key="rv_ft",
        on_click=_audit_finetune, args=(name, len(examples), actor()),
    )  # fmt: skip


def _audit_finetune(queue: str, examples: int, who: Actor) -> None:
    """A fine-tuning download is an export of reviewed data: audited when clicked."""
    from llmops.governance.audit import record

    record(runtime().db, who.name, "review.export", queue, format="finetune-jsonl",
           examples=examples)  # fmt: skip


# -- improvements ------------------------------------------------------------------------------------
def improvements_section() -> None:
    from llmops.improve import loop

    db = runtime().db
    rows = loop.list_improvements(db, limit=100)
    if rows:
        st.dataframe(
            [{"id": r.id, "title": r.title, "status": r.status,
              "evidence": f"{r.evidence.get('kind')} {r.evidence.get('ref') or ''}".strip(),
              "dataset": r.dataset, "candidate": r.candidate_release_id,
              "gate": {True: "passed", False: "failed", None: ""}[r.gate_passed],
              "updated": r.updated_at} for r in rows],
            hide_index=True, width="stretch", key="rv_improvements",
        )  # fmt: skip
    with st.expander("Open an improvement", expanded=not rows):
        title = st.text_input("What is wrong", key="rv_im_title")
        c1, c2 = st.columns(2)
        kind = c1.selectbox("Evidence", list(loop.EVIDENCE_KINDS), key="rv_im_kind")
        ref = c2.text_input("Reference (gap id, queue, run id)", key="rv_im_ref")
        summary = st.text_area("Where it shows", key="rv_im_summary", height=68)
        if st.button("Open", key="rv_im_open"):
            try:
                rec = loop.start(db, title, kind=kind, ref=ref or None, summary=summary,
                                 actor=actor())  # fmt: skip
            except UserFacingError as exc:
                _error(exc)
                return
            st.session_state["rv_im_pick"] = rec.id
            _done(f"Improvement #{rec.id} opened.")
    if rows:
        ids = [r.id for r in rows]
        chosen = st.selectbox("Improvement", ids, key="rv_im_pick",
                              format_func=lambda i: f"#{i} {next(r.title for r in rows if r.id == i)}")  # fmt: skip
        improvement_detail(int(chosen))


def improvement_detail(improvement_id: int) -> None:
    from llmops.evals import datasets as ds
    from llmops.improve import loop
    from llmops.releases import core

    db = runtime().db
    rec = loop.get(db, improvement_id)
    st.subheader(f"#{rec.id} {rec.title}")
    steps = [s for s in loop.STEPS if s != "abandoned"]
    reached = steps.index(rec.status) if rec.status in steps else -1
    st.caption(" → ".join(f"**{s}**" if i <= reached else s for i, s in enumerate(steps))
               + (" · abandoned" if rec.status == "abandoned" else ""))  # fmt: skip
    if rec.status in loop.CLOSED:
        st.info(f"{rec.status.capitalize()}" + (f": {rec.reason}" if rec.reason else "")
                + (" (promoted with an override)" if rec.overridden else ""))  # fmt: skip
    else:
        _next_step(rec, [d.name for d in ds.list_datasets(db, limit=200)],
                   {r.id: r.name for r in core.list_releases(db, limit=100)})  # fmt: skip
    if rec.gate:
        with st.expander("Gate report"):
            st.json(rec.gate, expanded=False)
    st.dataframe([{"at": s.at, "step": s.step, "by": s.actor,
                   "details": json.dumps(s.details, default=str)}
                  for s in loop.events(db, rec.id)], hide_index=True, key="rv_im_steps")  # fmt: skip


def _index(options: list[str], value: str | None) -> int:
    return options.index(value) if value in options else 0


def _next_step(rec: Any, datasets: list[str], releases: dict[str, str]) -> None:
    from llmops.improve import loop
    from llmops.releases import core

    db = runtime().db
    me = actor()

    def act(fn: Any, message: str) -> None:
        try:
            fn()
        except UserFacingError as exc:
            _error(exc)
            return
        _done(message)

    # The pickers start at what the record already holds; keyed per improvement, so opening
    # another one does not carry this one's choices over.
    c1, c2 = st.columns(2)
    ds_options = ["", *datasets]
    ds_name = c1.selectbox("Dataset", ds_options, index=_index(ds_options, rec.dataset),
                           key=f"rv_im_ds.{rec.id}")  # fmt: skip
    regression = c2.selectbox("Regression dataset (optional)", ds_options,
                              index=_index(ds_options, rec.regression_dataset),
                              key=f"rv_im_reg.{rec.id}")  # fmt: skip
    if st.button("Use this dataset", disabled=not ds_name, key="rv_im_set_ds"):
        act(lambda: loop.set_dataset(db, rec.id, ds_name, regression_dataset=regression or None,
                                     actor=me), "Dataset chosen.")  # fmt: skip
    if rec.dataset is None:
        return
    cand_options = ["", *releases]
    cand = st.selectbox("Candidate release", cand_options,
                        index=_index(cand_options, rec.candidate_release_id),
                        key=f"rv_im_cand.{rec.id}",
                        format_func=lambda r: f"{releases[r]} · {r}" if r else "")  # fmt: skip
    if st.button("Use this candidate", disabled=not cand, key="rv_im_set_cand"):
        act(lambda: loop.set_candidate(db, rec.id, cand, actor=me), "Candidate chosen.")
    if rec.candidate_release_id is None:
        return
    if st.button("Evaluate against production (gate)", key="rv_im_eval"):
        from llmops.evals.runner import EvalRunner

        with st.spinner("Running the candidate and production over the dataset…"):
            act(lambda: loop.evaluate(EvalRunner.from_runtime(runtime()), rec.id, actor=me),
                "Gate evaluated.")  # fmt: skip
    c1, c2 = st.columns(2)
    pct = c1.slider("Canary share (%)", 1, 50, 10, key="rv_im_weight")
    if c1.button(f"Start canary at {pct} %", disabled=rec.gate_passed is not True,
                 key="rv_im_canary"):  # fmt: skip
        act(lambda: loop.start_canary(db, rec.id, pct / 100, actor=me), "Canary started.")
    override = c2.checkbox("Override a gate that has not passed", key="rv_im_override",
                           disabled=rec.gate_passed is True)  # fmt: skip
    reason = c2.text_input("Reason (kept with the record)", key="rv_im_reason")
    production = core.labels(db).production or "-"
    sure = c2.checkbox(f"Confirm: production {production} → {rec.candidate_release_id}",
                       key=f"rv_im_confirm.{rec.id}")  # fmt: skip
    if c2.button("Promote to production", disabled=not sure, key="rv_im_promote"):
        act(lambda: loop.promote(db, rec.id, actor=me, override=override, reason=reason),
            "Promoted.")  # fmt: skip
    why = st.text_input("Why abandon?", key="rv_im_why")
    if st.button("Abandon", key="rv_im_abandon"):
        act(lambda: loop.abandon(db, rec.id, why, actor=me), "Abandoned.")
