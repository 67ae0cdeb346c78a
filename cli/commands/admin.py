"""`appos users …` (admin), `appos tokens …` and `appos admin …` (admin)."""

from __future__ import annotations

import sys
from typing import Any

import typer

from cli.client import ApiError, CliError, connect, seg
from cli.commands.auth import read_secret
from cli.groups import group
from cli.output import JSON_OPTION, fields, note, out, plain, print_json, table, when

users_app = group("User accounts (admin).", default=True)
tokens_app = group("API tokens: lasting credentials for scripts and CI.", default=True)
admin_app = group("The installation itself (admin).")

ROLES = "admin, operator or viewer"


def _user_row(user: dict[str, Any]) -> list[Any]:
    return [
        user.get("username"),
        user.get("role"),
        "disabled" if user.get("disabled") else "",
        "on" if user.get("totp_enabled") else "",
        when(user.get("created_at")),
    ]


@users_app.command("list")
def list_users(as_json: bool = JSON_OPTION) -> None:
    """Every user."""
    users: list[dict[str, Any]] = []
    token = ""
    with connect() as api:
        while True:
            page = api.get("/api/v1/users", page_token=token)
            users.extend(page.get("users", []))
            token = page.get("next_page_token", "")
            if not token:
                break
    if as_json:
        print_json(users)
        return
    table(["USER", "ROLE", "DISABLED", "2FA", "CREATED"], (_user_row(u) for u in users))


@users_app.command("show")
def show_user(username: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """One user."""
    with connect() as api:
        user = api.get(f"/api/v1/users/{seg(username)}")
    if as_json:
        print_json(user)
        return
    fields(list(zip(["user", "role", "disabled", "2fa", "created"], _user_row(user), strict=True)))


@users_app.command("create")
def create_user(
    username: str = typer.Argument(...),
    role: str = typer.Option("viewer", "--role", "-r", help=ROLES),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create a user (the password is asked, or read from stdin)."""
    password = read_secret("Password", from_stdin=password_stdin, confirm=not password_stdin)
    with connect() as api:
        user = api.post("/api/v1/users", {"username": username, "password": password, "role": role})
    out.print(f"Created {user.get('username')} ({user.get('role')}).")


@users_app.command("update")
def update_user(
    username: str = typer.Argument(...),
    role: str | None = typer.Option(None, "--role", "-r", help=ROLES),
    disabled: bool | None = typer.Option(None, "--disable/--enable", help="Lock or unlock the account."),
    password: bool = typer.Option(False, "--password", help="Set a new password (asked)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from stdin."),
) -> None:
    """Change a user's role, password or disabled flag."""
    body: dict[str, Any] = {}
    if role is not None:
        body["role"] = role
    if disabled is not None:
        body["disabled"] = disabled
    if password or password_stdin:
        body["password"] = read_secret("New password", from_stdin=password_stdin, confirm=not password_stdin)
    if not body:
        raise CliError("nothing to change: give --role, --disable/--enable or --password")
    with connect() as api:
        user = api.patch(f"/api/v1/users/{seg(username)}", body)
    state = ", disabled" if user.get("disabled") else ""
    out.print(f"Updated {user.get('username')} ({user.get('role')}{state}).")


@users_app.command("delete")
def delete_user(
    username: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Delete a user (and their tokens)."""
    if not yes:
        if not sys.stdin.isatty():
            raise CliError("delete asks for confirmation: pass --yes when not at a terminal")
        typer.confirm(f"Delete user {username}?", abort=True)
    with connect() as api:
        api.delete(f"/api/v1/users/{seg(username)}")
    out.print(f"Deleted {username}.")


@users_app.command("reset-2fa")
def reset_2fa(
    username: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Turn a user's two-factor authentication off (a lost phone): they log in with the password
    alone and can set it up again from the console's account page."""
    if not yes:
        if not sys.stdin.isatty():
            raise CliError("reset-2fa asks for confirmation: pass --yes when not at a terminal")
        typer.confirm(f"Turn two-factor authentication off for {username}?", abort=True)
    with connect() as api:
        user = api.delete(f"/api/v1/users/{seg(username)}/totp")
    out.print(f"Two-factor authentication is off for {user.get('username', username)}.")


@tokens_app.command("list")
def list_tokens(
    all_users: bool = typer.Option(False, "--all", help="Every user's tokens (admin)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Your API tokens (never their secrets)."""
    with connect() as api:
        tokens = api.get("/api/v1/tokens", all_users=all_users or None).get("tokens", [])
    if as_json:
        print_json(tokens)
        return
    table(
        ["ID", "NAME", "USER", "ROLE", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED"],
        (
            [
                t.get("id"),
                t.get("name"),
                t.get("username"),
                t.get("role"),
                t.get("prefix"),
                when(t.get("created_at")),
                when(t.get("expires_at")) or "never",
                when(t.get("last_used_at")),
                when(t.get("revoked_at")),
            ]
            for t in tokens
        ),
    )


@tokens_app.command("create")
def create_token(
    name: str = typer.Argument(..., help="What it is for, e.g. ci."),
    role: str = typer.Option("", "--role", "-r", help=f"{ROLES}; at most yours (default: yours)."),
    expires_in_days: int = typer.Option(0, "--expires-in-days", help="0: never expires."),
    as_json: bool = typer.Option(False, "--json", help="Print the reply, secret included, as JSON."),
    totp_code: str = typer.Option(
        "", "--totp-code", help="A current two-factor code (a login with 2FA needs one; asked at a tty)."
    ),
) -> None:
    """Create an API token. Its secret is printed once: store it now."""
    body: dict[str, Any] = {"name": name, "expires_in_days": expires_in_days}
    if role:
        body["role"] = role
    if totp_code:
        body["totp_code"] = "".join(totp_code.split())
    with connect() as api:
        try:
            reply = api.post("/api/v1/tokens", body)
        except ApiError as exc:
            # a login's session of a 2FA account: a token is never asked for a code, so it needs one now
            if exc.code != "totp_required" or totp_code:
                raise
            if not sys.stdin.isatty():
                raise CliError(f"{exc} (add --totp-code CODE)") from exc
            body["totp_code"] = "".join(str(typer.prompt("Two-factor code")).split())
            reply = api.post("/api/v1/tokens", body)
    if as_json:
        print_json(reply)
        return
    token = reply.get("token") or {}
    note(f"Token {reply.get('id')} ({token.get('role', '?')}) created. Its secret, shown once:")
    plain(str(reply.get("secret", "")))
    note("Use it with APPOS_TOKEN=… or `appos config set-token`.")


@tokens_app.command("revoke")
def revoke_token(token_id: str = typer.Argument(...)) -> None:
    """Revoke a token at once."""
    with connect() as api:
        token = api.delete(f"/api/v1/tokens/{seg(token_id)}")
    out.print(f"Revoked {token.get('id', token_id)} ({token.get('name', '')}).")


ROTATE_WARNING = (
    "Every signed-in session ends at once, yours included: everyone (the console too) signs in again. "
    "API tokens (appos_…) keep working."
)


@admin_app.command("rotate-key")
def rotate_key(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Replace the key login tokens are signed with by a new random one (when it may have leaked).

    Every signed-in session ends, yours included; API tokens keep working.
    """
    if not yes:
        if not sys.stdin.isatty():
            raise CliError(
                f"rotate-key asks for confirmation: pass --yes when not at a terminal. {ROTATE_WARNING}"
            )
        note(ROTATE_WARNING)
        typer.confirm("Rotate the signing key?", abort=True)
    with connect() as api:
        reply = api.post("/api/v1/system/rotate-signing-key", {})
    if as_json:
        print_json(reply)
        return
    out.print(f"Signing key rotated at {when(reply.get('rotated_at'))}. Every signed-in session has ended.")
    note("API tokens keep working. Log in again with `appos login` if you used a login's token.")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(admin_app, name="admin")
