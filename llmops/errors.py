"""A small error hierarchy: what the user can act on vs. what we must fix."""

from __future__ import annotations


class LLMOpsError(Exception):
    """Base class for every error raised by llmops."""


class UserFacingError(LLMOpsError):
    """An error whose message is safe and useful to show to the person who caused it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInputError(UserFacingError):
    """Bad arguments or input: wrong format, out of range, empty."""


class NotFoundError(UserFacingError):
    """An id or name that does not exist in the store."""


class StoreError(LLMOpsError):
    """The store failed; the message says what to check."""


class StoreUnavailableError(StoreError):
    """The database could not be reached (down, locked, misconfigured)."""


class ProviderError(UserFacingError):
    """A remote model provider failed (rate limit, server error, bad credentials)."""
