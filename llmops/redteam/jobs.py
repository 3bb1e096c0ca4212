"""Scans and bias probe runs as background jobs of the app process: the console starts one
and watches its row (``redteam_scans.done`` / ``total``, ``bias_runs.status``); navigating
away does not stop it."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from llmops.errors import InvalidInputError
from llmops.governance.roles import Actor, Capability, require
from llmops.redteam import suite
from llmops.redteam.scan import resolve_target, run_scan, start_scan

if TYPE_CHECKING:
    from llmops.chat import ChatService

log = logging.getLogger(__name__)


class ScanJobs:
    """Red-team scans started from the console, each on a daemon thread of this process."""

    def __init__(self, chat: ChatService) -> None:
        self.chat = chat
        self._threads: dict[int, threading.Thread] = {}
        self._bias: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(
        self,
        release_ref: str | None,
        *,
        categories: list[str] | None = None,
        langs: list[str] | None = None,
        actor: Actor | str = "console",
    ) -> int:
        """Create the scan (status ``running``) and run it in the background; its id."""
        actor = require(self.chat.db, actor, Capability.REDTEAM, action="redteam.scan")
        cats = suite.parse_categories(categories)
        attacks = suite.select(cats, langs)
        if not attacks:
            raise InvalidInputError("No attack matches those categories and languages.")
        release = resolve_target(self.chat.db, release_ref)
        scan_id = start_scan(self.chat.db, release, cats, actor, len(attacks))

        def go() -> None:
            try:
                run_scan(self.chat, release.id, categories=cats, langs=langs, actor=actor,
                         scan_id=scan_id)  # fmt: skip
            except Exception:  # the scan row records the failure; the app lives on
                log.exception("red-team scan %s failed", scan_id)

        thread = threading.Thread(target=go, name=f"redteam-{scan_id}", daemon=True)
        with self._lock:
            self._threads[scan_id] = thread
        thread.start()
        return scan_id

    def start_bias(
        self,
        release_ref: str | None,
        *,
        attributes: list[str] | None = None,
        langs: list[str] | None = None,
        actor: Actor | str = "console",
    ) -> None:
        """Run the bias probes in the background; the run's row (``bias_runs``, status
        ``running`` until done) is what the console watches."""
        from llmops.redteam import bias

        actor = require(self.chat.db, actor, Capability.REDTEAM, action="redteam.bias")
        attrs = bias.parse_attributes(attributes)
        resolve_target(self.chat.db, release_ref)  # a bad reference fails here, not later

        def go() -> None:
            try:
                bias.run(self.chat, release_ref, attrs=attrs, langs=langs, actor=actor)
            except Exception:  # the run row records the failure; the app lives on
                log.exception("bias probes of %s failed", release_ref)

        thread = threading.Thread(target=go, name="redteam-bias", daemon=True)
        with self._lock:
            self._bias.append(thread)
        thread.start()

    def alive(self, scan_id: int) -> bool:
        with self._lock:
            thread = self._threads.get(scan_id)
        return thread is not None and thread.is_alive()

    def join(self, timeout: float = 120.0) -> None:
        """Wait for every scan (tests, shutdown)."""
        with self._lock:
            threads = [*self._threads.values(), *self._bias]
        for thread in threads:
            thread.join(timeout)
