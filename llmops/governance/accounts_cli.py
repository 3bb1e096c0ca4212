"""``llmops admin``: the console's accounts (``users add|list|remove|set-role``) and the legacy
admin password (``set-password``); the root command lists it in ``llmops.cli.GROUPS``.

The CLI runs on the server with the store's credentials, so it is trusted as admin; what it
changes is audited under the operating-system user as ``cli:<user>`` (``roles.local_actor``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmops import cliutil as cli
from llmops.errors import InvalidInputError

admin_app = typer.Typer(help="Console administration: accounts and roles.", no_args_is_help=True)
users_app = typer.Typer(help="Console accounts and their roles.", no_args_is_help=True)
admin_app.add_typer(users_app, name="users")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
StdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
RoleHelp = "viewer, reviewer, operator or admin."


def _password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise InvalidInputError("No password on standard input.")
        return password
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The account name to sign in with.")],
    role: Annotated[str, typer.Option("--role", help=RoleHelp)] = "viewer",
    password_stdin: StdinOpt = False,
) -> None:
    """Add a console account (or re-enable a removed one) with a password and a role."""
    from llmops.governance import accounts, roles

    level = roles.parse_role(role)  # before asking for a password
    password = _password(password_stdin, f"Password for {username}")
    with cli.runtime() as rt:
        info = accounts.add(rt.db, username, password, level.label, actor=roles.local_actor())
    typer.echo(f"account {info.username} added as {info.role}")


@users_app.command("list")
def users_list(
    removed: Annotated[bool, typer.Option("--removed", help="Also list removed accounts.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the console accounts and their roles."""
    from llmops.governance import accounts

    with cli.runtime() as rt:
        rows = accounts.listing(rt.db, include_removed=removed)
    if as_json:
        cli.print_json({"accounts": [r.as_dict() for r in rows]})
        return
    if not rows:
        typer.echo("no accounts (llmops admin users add NAME --role admin)")
    for r in rows:
        state = f"removed {r.disabled_at:%Y-%m-%d %H:%M}" if r.disabled_at else "enabled"
        typer.echo(f"{r.username:<30} {r.role:<9} {state}  since {r.created_at:%Y-%m-%d}")


@users_app.command("remove")
def users_remove(
    username: Annotated[str, typer.Argument(help="The account to remove.")],
) -> None:
    """Remove an account: it can no longer sign in (the last admin cannot be removed)."""
    from llmops.governance import accounts, roles

    with cli.runtime() as rt:
        info = accounts.remove(rt.db, username, actor=roles.local_actor())
    typer.echo(f"account {info.username} removed")


@users_app.command("set-role")
def users_set_role(
    username: Annotated[str, typer.Argument(help="The account.")],
    role: Annotated[str, typer.Argument(help=RoleHelp)],
) -> None:
    """Change an account's role (the last admin cannot be demoted)."""
    from llmops.governance import accounts, roles

    with cli.runtime() as rt:
        info = accounts.set_role(rt.db, username, role, actor=roles.local_actor())
    typer.echo(f"account {info.username} is now {info.role}")


@users_app.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Argument(help="The account.")],
    password_stdin: StdinOpt = False,
) -> None:
    """Set an account's password."""
    from llmops.governance import accounts, roles

    password = _password(password_stdin, f"New password for {username}")
    with cli.runtime() as rt:
        info = accounts.set_password(rt.db, username, password, actor=roles.local_actor())
    typer.echo(f"password of {info.username} changed")


@admin_app.command("set-password")
def admin_set_password(
    password_stdin: StdinOpt = False,
    secrets: Annotated[
        Path | None, typer.Option(help="secrets.toml to write; default .streamlit/secrets.toml")
    ] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Only print the hash (for the environment).")
    ] = False,
) -> None:
    """Set the bootstrap admin password: stores only a salted argon2 hash. Signing in as
    ``admin`` with it creates the ``admin`` account; once that exists, this changes its
    password too."""
    from llmops import auth
    from llmops.config import get_settings
    from llmops.governance import accounts, audit, roles

    password = _password(password_stdin, "New admin password")
    hashed = auth.hash_password(password)
    if print_only:
        typer.echo(f"{auth.HASH_KEY}={hashed}")
        return
    path = secrets or get_settings().secrets_path
    auth.write_secret_hash(path, hashed)
    me = roles.local_actor()
    with cli.runtime() as rt:
        audit.record(rt.db, me.name, "admin.set_password", str(path))
        if accounts.actor_for(rt.db, accounts.BOOTSTRAP) is not None:
            accounts.set_password(rt.db, accounts.BOOTSTRAP, password, actor=me)
    typer.echo(f"admin password hash written to {path}; the console uses it at the next sign-in")
