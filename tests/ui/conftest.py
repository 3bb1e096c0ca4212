"""AppTest fixtures: a ready LLMOPS_HOME (migrated, knowledge ingested) per test.

The knowledge base is ingested once per session and copied into each test's home, and
Streamlit's process-wide caches are cleared around every test so each gets its own Runtime.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from llmops.config import Settings, reset_settings
from llmops.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("ui-home-template")
    rt = Runtime(Settings(home=home))
    try:
        assert rt.kb.ingest().chunks > 0
    finally:
        rt.close()
    return home


def _clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app_home(seeded_home: Path, llmops_home: Path) -> Iterator[Path]:
    shutil.copytree(seeded_home, llmops_home, dirs_exist_ok=True)
    reset_settings()
    _clear_caches()
    yield llmops_home
    from llmops.ui import deps

    with contextlib.suppress(Exception):
        deps.runtime().close()
    _clear_caches()


@pytest.fixture
def app(app_home: Path) -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


@pytest.fixture
def admin_app(app: AppTest) -> AppTest:
    app.session_state["admin_signed_in"] = True
    return app
