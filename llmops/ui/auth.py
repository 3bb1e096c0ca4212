"""Who is signed in to the console, with which role: OIDC via ``st.login`` when configured,
else an account name and password (``llmops.governance.accounts``).

The role is read from the store at every run (``current_actor``), so a new role or a removed
account applies at the next click. Pages and buttons a role cannot use are hidden (``can``);
the library refuses them anyway (``llmops.governance.roles.require``)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from llmops import auth
from llmops.config import get_settings
from llmops.governance import accounts
from llmops.governance.roles import Actor, Capability, Role
from llmops.ui.deps import runtime

log = logging.getLogger(__name__)

ADMIN_KEY = "admin_signed_in"  # a session signed in as the bootstrap admin (tests set it)
USER_KEY = "console_user"  # the account name this session signed in as
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


def _oidc_actor() -> Actor | None:
    if not oidc_configured():
        return None
    user = st.user
    email = str(user.get("email") or "").lower() if user.is_logged_in else ""
    if not email:
        return None
    account = accounts.actor_for(runtime().db, email)
    if account is not None:
        return account
    return Actor(email, Role.ADMIN) if email in admin_emails() else None


def current_actor() -> Actor | None:
    """The signed-in account with its role as the store has it now (None: nobody, or an
    account removed since it signed in)."""
    name = st.session_state.get(USER_KEY)
    if name:
        actor = accounts.actor_for(runtime().db, str(name))
        if actor is None:
            st.session_state.pop(USER_KEY, None)
        return actor
    if st.session_state.get(ADMIN_KEY):
        return Actor(accounts.BOOTSTRAP, Role.ADMIN)
    return _oidc_actor()


def can(capability: Capability) -> bool:
    """Whether the signed-in role may do this (to hide what it may not)."""
    actor = current_actor()
    return actor is not None and actor.can(capability)


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
            st.warning(f"{st.user.get('email')} has no account on this console.")
            st.button("Sign out", on_click=st.logout)
        else:
            st.button("Sign in", type="primary", on_click=st.login)
        return
    hashed = password_hash()
    if not hashed and not accounts.any_account(runtime().db):
        st.info(
            "No console account exists yet, so the console is closed.\n\n"
            "Create one on the server with `llmops admin users add NAME --role admin` (it "
            "stores only a salted argon2 hash), then reload this page."
        )
        return
    with st.form("signin"):
        username = st.text_input("Account name", value="" if not hashed else accounts.BOOTSTRAP)
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        result = accounts.sign_in(
            runtime().db, username, password, who=client_key(), legacy_hash=hashed
        )
        if result.ok:
            st.session_state[USER_KEY] = result.user
            st.rerun()
        st.error(result.message)
        if result.status == "wrong" and result.retry_after:
            st.warning(
                "Too many failed sign-ins from your address: the next attempt is checked in "
                f"{auth.format_wait(result.retry_after)}."
            )


def sign_out() -> None:
    st.session_state.pop(ADMIN_KEY, None)
    st.session_state.pop(USER_KEY, None)
    if oidc_configured() and st.user.is_logged_in:
        st.logout()


def require_page(capability: Capability = Capability.DASHBOARDS) -> Actor:
    """Stop a console page for anyone whose role lacks ``capability``; the signed-in actor.

    app.py registers console pages only for the roles that may see them, but a freshly
    started server answers the very first request for a page URL (``/traces``) by running
    that ``pages/`` script directly, before app.py has registered anything: every console
    page calls this first.
    """
    route_through_app()
    actor = current_actor()
    if actor is None:
        st.warning("The console needs a sign-in.")
        st.markdown("[Sign in](/signin)")
        st.stop()
    if not actor.can(capability):
        st.warning(f"Your role ({actor.role.label}) cannot open this page.")
        st.stop()
    return actor
