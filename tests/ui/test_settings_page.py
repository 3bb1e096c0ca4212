"""The Settings page shows the doctor's readiness and the configuration, and no secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from llmops.config import Settings, reset_settings
from llmops.readiness import MASK, effective_config

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parents[2]

SECRETS = {
    "LLMOPS_ADMIN_PASSWORD_HASH": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$hashSECRETvalue123",
    "LLMOPS_USER_ID_KEY": "user-id-key-XYZ987",
    "LLMOPS_ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T0/B0/webhookTOKEN42",
    "LLMOPS_OTLP_ENDPOINT": "http://otlpuser:otlpPASS77@127.0.0.1:9",
    "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20b3RscHNlY3JldA",
    "OPENAI_API_KEY": "sk-openai-SECRET55",
}
LEAKS = ["hashSECRETvalue123", "XYZ987", "webhookTOKEN42", "otlpPASS77", "b3RscHNlY3JldA",
         "SECRET55"]  # fmt: skip


def _texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("markdown", "caption", "success", "error", "warning", "info", "title",
                 "subheader", "code", "text"):  # fmt: skip
        parts += [str(e.value) for e in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


def test_settings_shows_readiness_and_masks_every_secret(
    admin_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    admin_app.run()
    admin_app.switch_page("pages/settings.py").run()
    assert not admin_app.exception, admin_app.exception
    assert admin_app.success and "Ready to serve" in admin_app.success[0].value
    checks = admin_app.dataframe[0].value
    assert {"store", "migrations", "chroma", "writer", "otlp"} <= set(checks["check"])
    text = _texts(admin_app)
    for leak in LEAKS:
        assert leak not in text, leak
    config = admin_app.dataframe[-1].value.set_index("setting")["value"]
    assert config["LLMOPS_USER_ID_KEY"] == config["LLMOPS_ADMIN_PASSWORD_HASH"] == MASK
    assert config["LLMOPS_ALERT_WEBHOOK_URL"] == "https://hooks.example.com/…"
    assert config["LLMOPS_OTLP_ENDPOINT"] == "http://otlpuser:***@127.0.0.1:9"
    assert config["OTEL_EXPORTER_OTLP_HEADERS"] == f"Authorization={MASK}"
    assert config["OPENAI_API_KEY"] == MASK
    assert config["LLMOPS_MAX_INPUT_CHARS"] == "4000"  # the rest is shown as it is
    assert "Exporting to `http://otlpuser:***@127.0.0.1:9/v1/traces`" in text


def test_the_database_password_is_masked(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, database_url="postgresql+psycopg://app:dbPASS99@db:5432/llmops")
    rows = {r["setting"]: r["value"] for r in effective_config(s)}
    assert "dbPASS99" not in str(rows)
    assert rows["LLMOPS_DATABASE_URL"] == "postgresql+psycopg://app:***@db:5432/llmops"


def test_the_settings_page_is_console_only(app: AppTest) -> None:
    app.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("pages/settings.py")
    at = AppTest.from_file(str(ROOT / "pages" / "settings.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == ["The console needs a sign-in."]
    assert not at.dataframe and not at.metric and not at.title
