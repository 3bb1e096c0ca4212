"""Guard profiles: which validator runs on which direction, with which action.

A release names its profile (``ReleaseConfig.guard_profile``). Actions:

- ``block``: the user gets a safe, helpful reply in their language; a blocked input never
  reaches the model, a blocked output is never shown;
- ``fix``: the text is repaired (e.g. PII → ``<EMAIL>``) and the turn goes on;
- ``flag``: the text passes unchanged and the violation is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from llmops.errors import InvalidInputError

Action = Literal["block", "fix", "flag"]
Direction = Literal["input", "output"]


@dataclass(frozen=True)
class Rule:
    validator: str
    action: Action
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str
    input: tuple[Rule, ...] = ()
    output: tuple[Rule, ...] = ()

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        return self.input if direction == "input" else self.output

    def blocks(self, direction: Direction) -> bool:
        return any(r.action == "block" for r in self.rules(direction))


PROFILES: dict[str, Profile] = {
    "default": Profile(
        "default",
        input=(
            Rule("prompt_injection", "block"),
            Rule("toxicity", "block"),
            Rule("secrets", "fix"),
            Rule("pii", "fix"),
        ),
        output=(
            Rule("system_prompt_leak", "block"),
            Rule("toxicity", "block"),
            Rule("secrets", "fix"),
            Rule("pii", "fix"),
            Rule("grounding", "flag"),
        ),
    ),
    "strict": Profile(
        "strict",
        input=(
            Rule("prompt_injection", "block"),
            Rule("toxicity", "block"),
            Rule("secrets", "block"),
            Rule("pii", "block"),
            Rule("person_names", "block"),
        ),
        output=(
            Rule("system_prompt_leak", "block"),
            Rule("toxicity", "block"),
            Rule("secrets", "block"),
            Rule("pii", "block"),
            Rule("person_names", "fix"),
            Rule("grounding", "block"),
        ),
    ),
    # the default, plus person names redacted (English only; see llmops.guards.names)
    "privacy": Profile(
        "privacy",
        input=(
            Rule("prompt_injection", "block"),
            Rule("toxicity", "block"),
            Rule("secrets", "fix"),
            Rule("pii", "fix"),
            Rule("person_names", "fix"),
        ),
        output=(
            Rule("system_prompt_leak", "block"),
            Rule("toxicity", "block"),
            Rule("secrets", "fix"),
            Rule("pii", "fix"),
            Rule("person_names", "fix"),
            Rule("grounding", "flag"),
        ),
    ),
    "monitor": Profile(
        "monitor",
        input=(
            Rule("prompt_injection", "flag"),
            Rule("toxicity", "flag"),
            Rule("secrets", "fix"),
            Rule("pii", "fix"),
        ),
        output=(
            Rule("system_prompt_leak", "flag"),
            Rule("toxicity", "flag"),
            Rule("secrets", "fix"),
            Rule("pii", "fix"),
            Rule("grounding", "flag"),
        ),
    ),
    "off": Profile("off"),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise InvalidInputError(
            f"Unknown guard profile {name!r}.", hint=f"use one of {', '.join(PROFILES)}"
        ) from None
