"""Deployment: releases, labels, canary assignment, comparison, rollback and the playground.

A release is an immutable configuration (system prompt, model and parameters, retrieval,
guard profile, knowledge-base version); labels (``production``, ``canary``, ``staging``) move
between releases. See docs/deployment.md.
"""

from llmops.releases.core import (
    CANARY,
    PRODUCTION,
    STAGING,
    ModelConfig,
    ReleaseConfig,
    ReleaseInfo,
    RetrievalConfig,
    audit,
    create_release,
    ensure_default_release,
    get_release,
    resolve_ref_or_file,
    resolve_release,
    set_label,
)

__all__ = [
    "CANARY",
    "PRODUCTION",
    "STAGING",
    "ModelConfig",
    "ReleaseConfig",
    "ReleaseInfo",
    "RetrievalConfig",
    "audit",
    "create_release",
    "ensure_default_release",
    "get_release",
    "resolve_ref_or_file",
    "resolve_release",
    "set_label",
]
