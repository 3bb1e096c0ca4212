"""Zero egress by default: switch off every phone-home before any third-party import.

Imported first by ``llmops/__init__.py``. Each variable is set with ``setdefault`` so an
operator can still opt in explicitly (for example ``LANGSMITH_TRACING=true``).
What each one stops is measured in ``../shared/notes/offline-recipes.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_ENV: dict[str, str] = {
    # onnxruntime: a native thread resolves a telemetry host ~9 s after import.
    "ORT_DISABLE_TELEMETRY": "1",
    # chromadb: anonymized product telemetry (posthog).
    "ANONYMIZED_TELEMETRY": "False",
    # litellm (pulled in by guardrails-ai): fetches a model cost map at import.
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    # Hugging Face libraries: no hub look-ups, no telemetry.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_OFFLINE": "1",
    # tldextract (Presidio's email check) fetches the public-suffix list.
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    # LangSmith: only when the operator opts in.
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    # Streamlit: usage beacon off.
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    # Generic opt-out honoured by several tools.
    "DO_NOT_TRACK": "1",
    # nltk (pulled in by guardrails-ai) downloads punkt unless it finds it: an empty stand-in.
    "NLTK_DATA": str(Path(__file__).resolve().parent / "guards" / "nltk_data"),
    # guardrails-ai: run validators in order, each seeing the previous fix (and faster).
    "GUARDRAILS_RUN_SYNC": "true",
}


def apply() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


apply()
