"""Who may see the console: OIDC via ``st.login`` when configured, else the admin password."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from llmops import auth
from llmops.config import get_settings
from llmops.ui.deps import runtime

log = logging.getLogger(__name__)

ADMIN_KEY = "admin_signed_in"
_warned_proxied = threading.Event()


def _secrets() -> dict[str, Any]:
    try:
        return dict(st.secrets)
    except Exception:  # noqa: BLE001 - no secrets file is a normal state
        return {}


def oidc_configured() -> bool:
    return "auth" in _secrets()


def password_hash() -> str | None:
    """The secrets file as it is now (no restart after ``llmops admin set-password``), then
    Streamlit's secrets, then the environment (``LLMOPS_ADMIN_PASSWORD_HASH``, read at start)."""
    settings = get_settings()
    value = (
        auth.read_secret_hash(settings.secrets_path)
        or _secrets().get(auth.HASH_KEY)
        or settings.admin_password_hash
    )
    return str(value) if value else None


def admin_emails() -> list[str]:
    llmops_section = _secrets().get("llmops") or {}
    emails = llmops_section.get("admin_emails") or get_settings().admin_emails
    return [str(e).lower() for e in emails]


def is_admin() -> bool:
    if st.session_state.get(ADMIN_KEY):
        return True
    if oidc_configured():
        user = st.user
        email = str(user.get("email") or "").lower() if user.is_logged_in else ""
        return bool(email) and email in admin_emails()
    return False


def _connection() -> tuple[str | None, str | None]:
    """The peer address as Streamlit reports it (loopback too) and the X-Forwarded-For header.

    ``st.context.ip_address`` hides loopback peers, so the raw ``remote_ip`` of the session's
    client is read instead; it is what uvicorn made of the connection (see ``auth.client_key``).
    """
    from streamlit import runtime as st_runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not st_runtime.exists():
        return None, None
    client = st_runtime.get_instance().get_client(ctx.session_id)
    context = client.client_context if client is not None else None
    if context is None:
        return None, None
    peer = context.remote_ip
    forwarded = [
        value
        for name, value in context.headers
        if isinstance(name, str) and name.lower() == "x-forwarded-for"
    ]
    # AppTest's stand-in runtime answers with mock objects: they are no peer
    return (peer if isinstance(peer, str) else None), ", ".join(forwarded) if forwarded else None


def client_key() -> str:
    """Who is signing in, for the back-off and the audit log (``auth.client_key``)."""
    peer, forwarded = _connection()
    key = auth.client_key(
        peer,
        forwarded,
        get_settings().trusted_proxies,
        uvicorn_trusted=auth.uvicorn_trusted_hosts(),
    )
    if key == auth.PROXIED and not _warned_proxied.is_set():
        _warned_proxied.set()
        log.warning(
            "Sign-ins arrive through a proxy that LLMOPS_TRUSTED_PROXIES does not list, so all "
            "its clients share one sign-in limit; list the proxy (README: The console)."
        )
    return key


def route_through_app() -> None:
    """Run this request through app.py's navigation.

    Until app.py has called ``st.navigation`` once, a freshly started server treats ``pages/``
    as an old-style pages directory: a first request for ``/traces`` runs pages/traces.py
    directly, the sidebar lists the raw file names, and every rerun (a sign-in too) stays in
    that mode. Such a run registers app.py itself as a page; leaving that mode and rerunning
    hands the request, its page and its query string to app.py, which registers the pages
    this user may see. (AppTest resets that mode before every run by design, so there this
    does nothing; tests/e2e covers it on a real server.)
    """
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or config.get_option("global.appTest"):
        return
    manager = ctx.pages_manager
    main = Path(manager.main_script_path).resolve()
    scripts = [info.get("script_path") for info in manager.get_pages().values()]
    if any(s and Path(str(s)).resolve() == main for s in scripts):
        PagesManager.uses_pages_directory = False
        st.rerun()


def sign_in_panel() -> None:
    """The console sign-in form (or how to configure one)."""
    route_through_app()
    if oidc_configured():
        st.write("Sign in with your organisation's account to open the console.")
        if st.user.is_logged_in:
            st.warning(f"{st.user.get('email')} is not an admin of this console.")
            st.button("Sign out", on_click=st.logout)
        else:
            st.button("Sign in", type="primary", on_click=st.login)
        return
    hashed = password_hash()
    if not hashed:
        st.info(
            "No admin password is configured, so the console is closed.\n\n"
            "Set one on the server with `llmops admin set-password` (it stores only a salted "
            "argon2 hash in `.streamlit/secrets.toml`), then reload this page."
        )
        return
    with st.form("signin"):
        password = st.text_input("Admin password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        result = auth.sign_in(runtime().db, hashed, password, who=client_key())
        if result.ok:
            st.session_state[ADMIN_KEY] = True
            st.rerun()
        st.error(result.message)
        if result.status == "wrong" and result.retry_after:
            st.warning(
                "Too many failed sign-ins from your address: the next attempt is checked in "
                f"{auth.format_wait(result.retry_after)}."
            )


def sign_out() -> None:
    st.session_state.pop(ADMIN_KEY, None)
    if oidc_configured() and st.user.is_logged_in:
        st.logout()


def require_admin() -> None:
    """Stop a console page for anyone but a signed-in admin.

    app.py registers console pages only for admins, but a freshly started server answers
    the very first request for a page URL (``/traces``) by running that ``pages/`` script
    directly, before app.py has registered anything: every console page calls this first.
    """
    route_through_app()
    if not is_admin():
        st.warning("The console needs an admin sign-in.")
        st.markdown("[Sign in](/signin)")
        st.stop()
