"""Evaluations page widgets: datasets, new runs, runs and their detail, comparisons, and
production traces suggested as new cases — one module per section, sharing ``common``.

Runs started here execute in a background thread of the app process (``BackgroundRuns``), so
navigating away does not stop them; the detail view polls the store for progress with a
fragment. Every list is paged in SQL; aggregates come precomputed with the run.
"""

from llmops.ui.evals.common import background, section_picker
from llmops.ui.evals.compare import compare_section, compare_view
from llmops.ui.evals.datasets import datasets_section
from llmops.ui.evals.runs import new_run, run_detail, runs_section
from llmops.ui.evals.suggestions import suggestions_section

__all__ = [
    "background",
    "compare_section",
    "compare_view",
    "datasets_section",
    "new_run",
    "run_detail",
    "runs_section",
    "section_picker",
    "suggestions_section",
]
