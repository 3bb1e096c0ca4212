"""guardrails-ai, offline: no metrics export, no downloads, nothing written to $HOME.

guardrails re-reads ``~/.guardrailsrc`` on every ``Guard()`` and, with ``enable_metrics``
(the default), exports OpenTelemetry traces to a remote endpoint after each validation.
Setting ``settings.rc`` once does not stick, so ``RC.load`` is wrapped to always return an
rc with metrics off — unless the operator sets ``LLMOPS_GUARDRAILS_METRICS=true``.
nltk's punkt download is prevented by ``NLTK_DATA`` (``llmops/offline.py``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_done = False
_lock = threading.Lock()


def configure() -> None:
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        from guardrails.classes.rc import RC

        if os.environ.get("LLMOPS_GUARDRAILS_METRICS", "").lower() != "true":
            original = RC.load.__func__  # type: ignore[attr-defined]

            def load_without_metrics(cls: type[RC], logger: Any = None) -> RC:
                rc = original(cls, logger)
                rc.enable_metrics = False
                return rc

            RC.load = classmethod(load_without_metrics)  # type: ignore[method-assign,assignment]
            try:
                from guardrails.settings import settings

                settings.rc = RC.load()
            except Exception:  # noqa: BLE001 - older layouts have no settings module
                pass
        _done = True
