"""What a guard step decides, as the chat and the guard runner both see it.

Here (not in ``llmops.chat``) so the guards never import the chat: the chat depends on the
guards' results, not the other way round. ``llmops.chat`` re-exports both names.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Violation:
    validator: str
    direction: str
    action: str
    message: str


@dataclass
class GuardResult:
    """What a guard step decided: the (possibly fixed) text, violations, and a block reply."""

    text: str
    violations: list[Violation] = field(default_factory=list)
    blocked: bool = False
    reply: str | None = None
