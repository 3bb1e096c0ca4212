"""What the Evaluations page's sections share: the section picker, the background runs, cached
reads paged in SQL."""

from __future__ import annotations

import logging

import streamlit as st

from llmops.evals import datasets, mining
from llmops.evals.compare import Comparison, compare_runs
from llmops.evals.jobs import BackgroundRuns
from llmops.evals.runner import EvalRunner
from llmops.evals.runs import RunInfo, list_runs
from llmops.governance.roles import Capability
from llmops.ui.deps import runtime
from llmops.ui.widgets import Sections

log = logging.getLogger(__name__)

PAGE_SIZE = 25
SECTIONS = ["Datasets", "New run", "Runs", "Compare", "Suggestions"]
LIVE = ("pending", "running", "cancelling")


# -- process-wide state ------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def background() -> BackgroundRuns:
    return BackgroundRuns(EvalRunner.from_runtime(runtime()))


# -- cached reads ------------------------------------------------------------------------------
@st.cache_data(ttl=5, show_spinner=False)
def cached_datasets() -> list[datasets.DatasetInfo]:
    return datasets.list_datasets(runtime().db, limit=500)


@st.cache_data(ttl=5, show_spinner=False)
def cached_items(
    name: str, version: int, text: str, offset: int
) -> tuple[list[datasets.Item], int]:
    return datasets.list_items(
        runtime().db, name, version=version, text=text or None, limit=PAGE_SIZE, offset=offset
    )


@st.cache_data(ttl=3, show_spinner=False)
def cached_runs(dataset_id: int | None, offset: int) -> tuple[list[RunInfo], int]:
    return list_runs(runtime().db, dataset_id=dataset_id, limit=PAGE_SIZE, offset=offset)


@st.cache_data(ttl=10, show_spinner=False)
def cached_comparison(run_a: str, run_b: str, metric: str | None) -> Comparison:
    return compare_runs(runtime().db, run_a, run_b, metric=metric)


@st.cache_data(ttl=10, show_spinner=False)
def cached_suggestions(
    q: mining.TraceQuery, offset: int
) -> tuple[list[mining.TraceCandidate], int]:
    return mining.candidate_traces(runtime().db, q, limit=PAGE_SIZE, offset=offset)


def refresh() -> None:
    cached_datasets.clear()
    cached_items.clear()
    cached_runs.clear()
    cached_suggestions.clear()


NEEDS = {"New run": Capability.EVALUATIONS, "Suggestions": Capability.DATASETS}


_SECTIONS = Sections("ev", SECTIONS, NEEDS)
section_picker = _SECTIONS.pick
