"""Guardrails: validators (guardrails-ai), profiles, the chat's guard runner, evaluation."""
