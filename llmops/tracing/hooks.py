"""Work stored in the same transaction as a batch of spans: the writer's extension point.

Before each batch's insert the writer calls every batch hook on the insert's connection with
the rendered rows (a hook may change them in place, as pricing fills a trace's cost); what a
hook returns is applied after the insert, in the same transaction, so a batch and what it
adds (the monitoring rollups) are stored together or not at all.

Tracing does not know what the hooks compute. The built-in ones are named in ``BUILTIN`` and
imported by name when the first batch is written, so ``llmops.tracing`` never imports the
packages that plug into it (``llmops.monitoring.rollups.prepare`` keeps the rollups and prices
new traces); ``register`` adds another.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection

# "module:function" of the hooks every writer runs
BUILTIN = ("llmops.monitoring.rollups:prepare",)


class Pending(Protocol):
    """What a hook computed before the insert, to write after it."""

    def apply(self, conn: Connection, dialect: str) -> None: ...


class BatchHook(Protocol):
    def __call__(
        self,
        conn: Connection,
        dialect: str,
        rows: dict[str, list[Any]],
        trace_columns: Sequence[str],
    ) -> Pending | None: ...


_hooks: list[BatchHook] | None = None
_extra: list[BatchHook] = []
_lock = threading.Lock()


def batch_hooks() -> list[BatchHook]:
    """The built-in hooks (imported on first call) and the registered ones, in that order."""
    global _hooks
    if _hooks is None:
        with _lock:
            if _hooks is None:
                loaded = []
                for target in BUILTIN:
                    module, _, name = target.partition(":")
                    loaded.append(getattr(importlib.import_module(module), name))
                _hooks = loaded
    return [*_hooks, *_extra]


def register(hook: BatchHook) -> None:
    """Run ``hook`` on every batch every writer of this process stores from now on."""
    with _lock:
        if hook not in _extra:
            _extra.append(hook)


def unregister(hook: BatchHook) -> None:
    with _lock:
        if hook in _extra:
            _extra.remove(hook)
