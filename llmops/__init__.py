"""llmops: an offline-first RAG chat with a built-in LLMOps console."""

from llmops import offline as _offline  # noqa: F401  (must run before third-party imports)

__version__ = "0.1.0"
