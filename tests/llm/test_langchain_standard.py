"""LangChain's own standard tests (``langchain-tests``) for our integrations: the offline
``LocalModel`` chat model, the ``MiniLMEmbeddings`` embeddings and the knowledge base's
retriever. Skipped when ``langchain-tests`` is not installed (it is in the ``dev`` extra).

What does not apply skips through the suites' own feature flags, with their reasons: the
LocalModel is an extractive, offline model (no tool calling, structured output, JSON mode,
images, audio or PDF input; not serialisable; no environment settings), and recorded-HTTP
tests (VCR) are off because nothing here talks HTTP. Two standard tests found real gaps,
fixed: a per-call ``model`` now names the LocalModel's run (``ls_model_name``), and
``retriever.invoke(q, k=2)`` overrides the knowledge retriever's ``k`` for one call.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

pytest.importorskip("langchain_tests")  # brings pytest-asyncio, syrupy, pytest-recording

# the suites' async tests (ainvoke, astream, aembed, ...) run on pytest-asyncio's loop; the
# mark reaches the sync tests of the same classes too, where it does nothing
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:.*marked with '@pytest.mark.asyncio' but it is not"),
]

from langchain_tests.integration_tests import (  # noqa: E402
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests  # noqa: E402

from llmops.llm.local import LocalModel  # noqa: E402
from llmops.rag.embeddings import MiniLMEmbeddings  # noqa: E402
from llmops.rag.knowledge import KnowledgeRetriever  # noqa: E402


class TestLocalModelUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[LocalModel]:
        return LocalModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {}


class TestLocalModelIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[LocalModel]:
        return LocalModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {}


class TestMiniLMEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[MiniLMEmbeddings]:
        return MiniLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {}


class TestMiniLMEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[MiniLMEmbeddings]:
        return MiniLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {}


@cache
def _shared_kb() -> Any:
    """The shipped knowledge base ingested once into a temporary home."""
    import tempfile
    from pathlib import Path

    from llmops.config import Settings
    from llmops.rag.knowledge import KnowledgeBase
    from llmops.store.db import Database
    from llmops.store.migrate import upgrade

    home = Path(tempfile.mkdtemp(prefix="llmops-lc-standard-"))
    db = Database(f"sqlite:///{home / 'kb.db'}")
    upgrade(db)
    kb = KnowledgeBase(Settings(home=home), db, MiniLMEmbeddings())
    kb.ingest()
    return kb


class TestKnowledgeRetriever(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[KnowledgeRetriever]:
        return KnowledgeRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"kb": _shared_kb(), "min_score": -1.0}

    @property
    def retriever_query_example(self) -> str:
        return "What is LLMOps?"

    @property
    def num_results_arg_name(self) -> str:
        return "k"
