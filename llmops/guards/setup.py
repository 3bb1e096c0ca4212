"""guardrails-ai, offline: no metrics export, no downloads, nothing written to $HOME.

guardrails re-reads ``~/.guardrailsrc`` on every ``Guard()`` and, with ``enable_metrics``
(the default), exports OpenTelemetry traces to a remote endpoint after each validation.
Setting ``settings.rc`` once does not stick, so ``RC.load`` is wrapped to always return an
rc with metrics off — unless the operator sets ``LLMOPS_GUARDRAILS_METRICS=true``.
nltk's punkt download is prevented by ``NLTK_DATA`` (``llmops/offline.py``).

Every ``Guard()`` also builds a client for a Guardrails server (an httpx ``Client`` and
``AsyncClient``, each loading the CA bundle into an SSL context: ~60 ms of CPU, ~90 ms for the
first with httpx's transport imports), which only a Guard with ``use_server`` ever calls. The
Guard gets a client that builds them on first use instead (``_LazyApiClient``).
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
        _lazy_api_client()
        _done = True


def _lazy_api_client() -> None:
    import guardrails.guard as guard_module
    from guardrails.api_client import GuardrailsApiClient

    class _LazyApiClient(GuardrailsApiClient):
        """A ``GuardrailsApiClient`` whose HTTP clients are built when first needed."""

        def __init__(self, base_url: str | None = None, api_key: str | None = None) -> None:
            self._lazy_args: tuple[str | None, str | None] | None = (base_url, api_key)

        def __getattr__(self, name: str) -> Any:  # only for attributes not set yet
            args = self.__dict__.get("_lazy_args")
            if args is None or name.startswith("__"):
                raise AttributeError(name)
            self._lazy_args = None
            GuardrailsApiClient.__init__(self, *args)
            return getattr(self, name)

    guard_module.GuardrailsApiClient = _LazyApiClient  # type: ignore[misc]
