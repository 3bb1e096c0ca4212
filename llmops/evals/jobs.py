"""Evaluation runs started from the console, on daemon threads of the app process.

A job, not UI: the Evaluations page only starts and watches them (``llmops.ui.evals``), and
navigating away does not stop a run. Progress and results are in the store, so any process
can watch a run; cancelling also marks the run in the store, which stops it in another
process too.
"""

from __future__ import annotations

import logging
import threading

from llmops.evals.runner import EvalRunner
from llmops.evals.runs import cancel_run
from llmops.governance.roles import Actor, Capability, require

log = logging.getLogger(__name__)


class BackgroundRuns:
    """Runs started from the console, each on a daemon thread of this process."""

    def __init__(self, runner: EvalRunner) -> None:
        self.runner = runner
        self._runs: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._lock = threading.Lock()

    def start(self, run_id: str, *, actor: Actor | str = "system") -> None:
        """Run (or resume) a created run in the background."""
        require(self.runner.db, actor, Capability.EVALUATIONS, action="eval.run")
        with self._lock:
            current = self._runs.get(run_id)
            if current is not None and current[0].is_alive():
                return
            cancel = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(run_id, cancel), name=f"eval-{run_id}", daemon=True
            )
            self._runs[run_id] = (thread, cancel)
            thread.start()

    def _run(self, run_id: str, cancel: threading.Event) -> None:
        try:
            self.runner.run(run_id, cancel=cancel)
        except Exception:  # the run records its failure; the app must not die with it
            log.exception("evaluation run %s failed", run_id)

    def cancel(self, run_id: str, *, actor: Actor | str = "system") -> None:
        require(self.runner.db, actor, Capability.EVALUATIONS, action="eval.cancel")
        with self._lock:
            local = self._runs.get(run_id)
        if local is not None:
            local[1].set()
        cancel_run(self.runner.db, run_id, actor=actor)  # also stops a run in another process

    def alive(self, run_id: str) -> bool:
        with self._lock:
            local = self._runs.get(run_id)
        return local is not None and local[0].is_alive()

    def join(self, timeout: float = 60.0) -> None:
        """Wait for every run (tests, shutdown)."""
        for thread, _ in list(self._runs.values()):
            thread.join(timeout)
