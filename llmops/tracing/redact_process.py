"""The span writer's redaction process: redaction off the chat process's interpreter lock.

Redacting a batch's texts is most of what the span writer costs (docs/benchmarks.md), and
in the writer's thread it competes for the one interpreter lock with the chat turns that
produce the records. Under sustained load the writer (``SpanWriter``, ``redact_process``)
hands each batch's redaction jobs (``llmops.tracing.redaction_jobs``: plain strings and
JSON-like values, rendered in its thread) to this process through a pipe and stores the
previous batch while the process works; the process answers the jobs in order with the
same code the thread would run, so the stored rows are the same.

Nothing depends on the process being there: until it says it is ready, and whenever it
dies, hangs past its deadline or sends something unreadable, the writer redacts in its own
thread (the batch in hand included) and starts a new process later. The process exits when
its parent goes (the pipe closes).

    python -m llmops.tracing.redact_process FD_IN FD_OUT MODULE:FUNCTION
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import import_module
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from llmops.tracing.redaction_jobs import REDACTION_FAILED, Job, Redactor, redact_jobs

log = logging.getLogger(__name__)


class RedactProcessError(Exception):
    """The process is gone, late or garbled; the writer redacts in its thread instead."""


def reference(fn: Callable[..., Any]) -> str | None:
    """``module:qualname`` of a function another interpreter can import as the same
    function, or None (a lambda, a closure, a bound method: those stay in the thread)."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not module or not name or "<" in name:
        return None
    try:
        return f"{module}:{name}" if _resolve(f"{module}:{name}") is fn else None
    except Exception:  # noqa: BLE001 - not importable: not for another process
        return None


def _resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    obj: Any = import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


class RedactProcess:
    """One redaction process and its two pipes. Not thread-safe: the writer's thread alone
    uses it."""

    def __init__(
        self, redactor: str, *, timeout_s: float = 10.0, start_timeout_s: float = 60.0
    ) -> None:
        self.redactor = redactor
        self.timeout_s = timeout_s  # a batch's deadline: this, plus 10 ms a job
        self._start_deadline = time.monotonic() + start_timeout_s
        self.cpu_s = 0.0  # the process's CPU time, as it last reported it
        self.batches = 0
        self._ready = False
        self._seq = 0
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        env = dict(os.environ)
        # the llmops this process runs, wherever it was imported from
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(job_r), str(out_w), redactor],
                pass_fds=(job_r, out_w),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            os.close(job_w)
            os.close(out_r)
            raise
        finally:  # the child's ends, which this process must not hold open
            os.close(job_r)
            os.close(out_w)
        self._jobs = Connection(job_w, readable=False)
        self._answers = Connection(out_r, writable=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def started(self) -> bool:
        """Whether the process has said it is ready (as last heard; never waits)."""
        return self._ready

    def ready(self) -> bool:
        """Whether the process has started and said so (never waits)."""
        if self._ready:
            return True
        if self.proc.poll() is not None and not self._answers.poll(0):
            raise RedactProcessError(f"exited with {self.proc.returncode} before it was ready")
        if not self._answers.poll(0):
            if time.monotonic() > self._start_deadline:
                raise RedactProcessError("not ready in time")
            return False
        message = self._receive()
        if not (isinstance(message, tuple) and message[:1] == ("ready",)):
            raise RedactProcessError(f"unexpected first message: {message!r:.200}")
        self._ready = True
        return True

    def send(self, jobs: list[Job]) -> int:
        """Hand a batch's jobs over; returns its number for ``receive``."""
        self._seq += 1
        try:
            self._jobs.send_bytes(pickle.dumps((self._seq, jobs), pickle.HIGHEST_PROTOCOL))
        except (OSError, ValueError) as exc:
            raise RedactProcessError(f"cannot send: {exc}") from exc
        return self._seq

    def receive(self, seq: int, jobs: int) -> tuple[list[Any], int]:
        """The answers to batch ``seq`` (``jobs`` of them) and how many texts the redactor
        failed on; raises ``RedactProcessError`` when they do not come in time."""
        deadline = time.monotonic() + self.timeout_s + 0.01 * jobs
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RedactProcessError(f"no answer to batch {seq} in time")
            try:
                if self._answers.poll(min(left, 0.5)):
                    break
            except (OSError, EOFError) as exc:
                raise RedactProcessError(f"pipe closed: {exc}") from exc
        message = self._receive()
        if not (isinstance(message, tuple) and len(message) == 4 and message[0] == seq):
            raise RedactProcessError(f"unexpected answer to batch {seq}: {message!r:.200}")
        _, answers, failures, cpu_s = message
        if not isinstance(answers, list) or len(answers) != jobs:
            raise RedactProcessError(f"batch {seq}: {jobs} jobs, a different number of answers")
        self.cpu_s = float(cpu_s)
        self.batches += 1
        return answers, int(failures)

    def _receive(self) -> Any:
        try:
            return pickle.loads(self._answers.recv_bytes())
        except (OSError, EOFError) as exc:
            raise RedactProcessError(f"pipe closed: {exc}") from exc
        except Exception as exc:
            raise RedactProcessError(f"unreadable answer: {exc}") from exc

    def close(self, timeout: float = 2.0) -> None:
        """Close the pipes (the process exits when its input closes), then make sure."""
        for conn in (self._jobs, self._answers):
            with contextlib.suppress(OSError):
                conn.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)


def _failsafe(redact: Redactor, failures: list[int]) -> Redactor:
    """As the writer's own: a text the redactor fails on is stored as a placeholder."""

    def safe(text: str) -> str:
        try:
            return redact(text)
        except Exception:
            failures[0] += 1
            if failures[0] == 1:
                log.exception("redaction process: redaction failed; the text is not stored")
            return REDACTION_FAILED

    return safe


def main(argv: list[str] | None = None) -> int:
    """Answer batches of redaction jobs until the parent closes the pipe."""
    fd_in, fd_out, ref = argv if argv is not None else sys.argv[1:]
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    jobs_in = Connection(int(fd_in), writable=False)
    answers_out = Connection(int(fd_out), readable=False)
    failures = [0]
    redact = _failsafe(_resolve(ref), failures)
    redact("warm up: ana@example.com +34 612 345 678")  # build the detectors before "ready"
    answers_out.send_bytes(pickle.dumps(("ready", os.getpid())))
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def read() -> None:
        # Always reading, so the parent's next batch never waits for this one's answer to
        # be taken (each side blocked on a full pipe would be a deadlock).
        try:
            while True:
                inbox.put(jobs_in.recv_bytes())
        except (OSError, EOFError):
            inbox.put(None)

    threading.Thread(target=read, name="redaction-process-reader", daemon=True).start()
    while (message := inbox.get()) is not None:
        seq, jobs = pickle.loads(message)
        failures[0] = 0
        answers = redact_jobs(jobs, redact)
        reply = (seq, answers, failures[0], time.process_time())
        try:
            answers_out.send_bytes(pickle.dumps(reply, pickle.HIGHEST_PROTOCOL))
        except OSError:
            return 0  # the parent is gone
    return 0


if __name__ == "__main__":
    sys.exit(main())
