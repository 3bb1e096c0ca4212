"""Helpers every ``llmops`` sub-command shares: one JSON document on stdout, finite numbers,
trailing day windows, a runtime that is closed after the command, and no garbage-collection
pauses for a one-shot command. The root command
(``llmops.cli``) and each sub-app import them from here, so no CLI module imports another."""

from __future__ import annotations

import gc
import json
import math
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from llmops.errors import InvalidInputError

SURROGATE = re.compile("[\ud800-\udfff]")
MAX_DAYS = 36_500.0  # a trailing --days window: at most 100 years


def actor() -> str:
    """Who a state-changing verb acts as: the trusted local identity ``cli:<OS user>``
    (``llmops.governance.roles.local_actor``; docs/governance.md, Accounts and roles)."""
    from llmops.governance.roles import local_actor

    return local_actor().name


def print_json(data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8").lower().replace("-", "")
    if encoding != "utf8":  # a non-UTF-8 terminal: \u escapes keep the document valid JSON
        text = json.dumps(data, ensure_ascii=True, indent=2, default=str)
    # a lone surrogate as its JSON escape: written raw it would make the output invalid UTF-8
    typer.echo(SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def finite(value: float | None, option: str) -> float | None:
    """``value``, unless it is nan or infinite (click's float ranges let nan through)."""
    if value is not None and not math.isfinite(value):
        raise InvalidInputError(f"{option} must be a finite number, not {value}.")
    return value


def days_ago(days: float, option: str = "--days") -> datetime:
    """The start of a trailing window of ``days`` days, for options like ``--days``."""
    finite(days, option)
    if not 0 <= days <= MAX_DAYS:
        raise InvalidInputError(
            f"{option} must be between 0 and {MAX_DAYS:,.0f} days, not {days:g}."
        )
    return datetime.now(UTC) - timedelta(days=days)


@contextmanager
def runtime(migrate: bool = True) -> Iterator[Any]:
    from llmops.runtime import Runtime

    rt = Runtime(migrate=migrate)
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def one_shot() -> Iterator[None]:
    """Run a one-shot command's work without cyclic garbage collection, then freeze what it
    loaded (``gc.freeze``) and turn collection back on.

    Loading guardrails, LangChain and the guard rules allocates a few hundred thousand
    long-lived objects and little garbage. With the collector on, ``llmops guard check`` ran
    ~380 young and 3 full collections over them while loading (~0.2 s of its ~1.4 s) and one
    more full collection at exit; frozen, they are never scanned again. The cost is the cyclic
    garbage made inside the block, freed only at exit (~2 MB for ``guard check``): for
    commands that do one bounded piece of work, not for loops over a dataset."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Any]:
    """A progress bar on stderr fed by a ``progress(done, total, ...)`` callback (evaluation
    runs, red-team scans); extra callback arguments are ignored."""
    bar: Any = None
    shown = 0

    def progress(done: int, total: int, *_: Any) -> None:
        nonlocal bar, shown
        if not enabled:
            return
        if bar is None:
            bar = typer.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        if done > shown:
            bar.update(done - shown)
            shown = done

    try:
        yield progress
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
