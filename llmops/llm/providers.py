"""Chat models for a release: the offline ``LocalModel`` or any provider via ``init_chat_model``.

Remote providers are used only when a release says so; their keys come from the environment
(or Streamlit secrets exported to it), never from the store.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel

from llmops.errors import InvalidInputError
from llmops.llm.local import LocalModel
from llmops.releases import ModelConfig

PROVIDERS = {
    "openai": ("openai", "OPENAI_API_KEY", "langchain-openai"),
    "openai-compatible": ("openai", "OPENAI_API_KEY", "langchain-openai"),
    "anthropic": ("anthropic", "ANTHROPIC_API_KEY", "langchain-anthropic"),
    "ollama": ("ollama", None, "langchain-ollama"),
}


def build_chat_model(cfg: ModelConfig) -> BaseChatModel:
    if cfg.provider == "local":
        return LocalModel(model_name=cfg.name)
    if cfg.provider not in PROVIDERS:
        known = ", ".join(["local", *PROVIDERS])
        raise InvalidInputError(
            f"Unknown model provider {cfg.provider!r}.", hint=f"use one of {known}"
        )
    provider, key_env, package = PROVIDERS[cfg.provider]
    kwargs: dict[str, Any] = {"timeout": cfg.timeout_s, "max_retries": cfg.max_retries}
    if cfg.temperature is not None:
        kwargs["temperature"] = cfg.temperature
    if cfg.max_tokens is not None:
        kwargs["max_tokens"] = cfg.max_tokens
    if cfg.base_url:
        kwargs["base_url"] = cfg.base_url
    env = cfg.api_key_env or key_env
    if env is not None:
        key = os.environ.get(env)
        if key:
            kwargs["api_key"] = key
        elif cfg.provider == "openai-compatible":
            kwargs["api_key"] = "not-needed"  # local servers (vLLM, llama.cpp) ignore it
        else:
            raise InvalidInputError(
                f"The {cfg.provider} model needs an API key.",
                hint=f"set {env} in the environment or in .streamlit/secrets.toml",
            )
    if provider == "openai":
        kwargs["stream_usage"] = True  # token usage on streamed answers
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(cfg.name, model_provider=provider, **kwargs)
    except ImportError as exc:
        raise InvalidInputError(
            f"The {cfg.provider} provider is not installed.",
            hint=f"pip install {package} (or: pip install 'llmops[providers]')",
        ) from exc
