"""Who may see the console: OIDC via ``st.login`` when configured, else the admin password."""

from __future__ import annotations

import logging
import threading
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
    value = _secrets().get(auth.HASH_KEY) or get_settings().admin_password_hash
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


def sign_in_panel() -> None:
    """The console sign-in form (or how to configure one)."""
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
    if not is_admin():
        st.warning("The console needs an admin sign-in.")
        st.markdown("[Sign in](/signin)")
        st.stop()
