"""CLI tests run commands in this process: undo what a one-shot command does to the collector
(``cliutil.one_shot`` freezes every object it finds), so later tests collect as before."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()
