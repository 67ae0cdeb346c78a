"""login, logout, whoami, passwd, and `config set-url/set-token/show`."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import typer

from cli import config
from cli.client import Api, ApiError, CliError, connect
from cli.groups import group
from cli.output import JSON_OPTION, fields, note, out, print_json

config_app = group("Where the CLI connects: the stored URL and token (APPOS_URL/APPOS_TOKEN override).")


def read_secret(prompt: str, *, from_stdin: bool, confirm: bool = False) -> str:
    """A password or token: one line of stdin (`--password-stdin`), else a hidden prompt."""
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
    if not value:
        raise CliError(f"{prompt.lower()} is empty")
    return value


def _settings(url: str | None) -> config.Settings:
    try:
        current = config.load()
        return config.Settings(
            url=config.normalize_url(url) if url else current.url,
            token="",
            url_source="argument" if url else current.url_source,
            token_source="",
        )
    except config.ConfigError as exc:
        raise CliError(str(exc)) from exc


TOTP_OPTION_HELP = "A two-factor code (or a recovery code); asked when the account needs one."


def read_code(*, from_stdin: bool) -> str:
    """A two-factor code: the next line of stdin (with --password-stdin), else a prompt."""
    if from_stdin:
        value = sys.stdin.readline().strip()
    else:
        value = str(typer.prompt("Two-factor code (or a recovery code)")).strip()
    if not value:
        raise CliError("this account has two-factor authentication: a code is needed")
    return value


def second_factor(code: str) -> dict[str, str]:
    """The login fields for `code`: six digits from the app, anything else a recovery code."""
    digits = "".join(code.split())
    return {"totp_code": digits} if digits.isdigit() else {"recovery_code": code.strip()}


def _login(
    settings: config.Settings, username: str, password: str, *, code: str = "", from_stdin: bool = False
) -> dict[str, Any]:
    """Log in; when the server asks for a two-factor code and none was given, ask for one."""
    body = {"username": username, "password": password, **(second_factor(code) if code else {})}
    with Api(settings, need_token=False) as api:
        try:
            reply: dict[str, Any] = api.post("/api/v1/auth/login", body)
        except ApiError as exc:
            if exc.code != "totp_required" or code:
                raise
            body |= second_factor(read_code(from_stdin=from_stdin))
            reply = api.post("/api/v1/auth/login", body)
    return reply


def _save(url: str, token: str) -> str:
    try:
        return str(config.update_file(url=url, token=token))
    except config.ConfigError as exc:
        raise CliError(str(exc)) from exc


def login(
    url: str | None = typer.Argument(None, help="The AppOS URL (default: stored, APPOS_URL, or local)."),
    username: str | None = typer.Option(None, "--username", "-u", help="Default: asked."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password (then a two-factor code, if asked) from stdin."
    ),
    totp_code: str = typer.Option("", "--totp-code", help=TOTP_OPTION_HELP),
) -> None:
    """Log in and store the URL and an access token in the config file (mode 0600)."""
    settings = _settings(url)
    if not username:
        username = str(typer.prompt("Username", default="admin"))
    password = read_secret("Password", from_stdin=password_stdin)
    reply = _login(settings, username, password, code=totp_code, from_stdin=password_stdin)
    path = _save(settings.url, str(reply["access_token"]))
    user = reply.get("user") or {}
    hours = int(reply.get("expires_in") or 0) // 3600
    out.print(f"Logged in to {settings.url} as {user.get('username', username)} ({user.get('role', '?')}).")
    note(f"Token saved in {path}; it expires in {hours} h (for a lasting one: appos tokens create).")
    if os.environ.get("APPOS_TOKEN"):
        note("Note: APPOS_TOKEN is set and overrides the stored token.")


API_TOKEN_PREFIX = "appos_"  # as services/gateway/authn.py makes them


def logout() -> None:
    """End the stored login's session on the server and forget its token (the URL stays)."""
    try:
        stored = config.read_file()
    except config.ConfigError as exc:
        raise CliError(str(exc)) from exc
    token = stored.get("token", "")
    if token and not token.startswith(API_TOKEN_PREFIX):  # an API token is revoked, not signed out
        try:
            with Api(dataclasses.replace(config.load(), token=token)) as api:
                api.post("/api/v1/auth/logout")
        except (CliError, config.ConfigError) as exc:  # expired or already ended: nothing to end
            note(f"The server did not end the session ({exc}); the token is forgotten anyway.")
    try:
        path = config.update_file(token="")
    except config.ConfigError as exc:
        raise CliError(str(exc)) from exc
    out.print(f"Logged out (token removed from {path}).")


def whoami(as_json: bool = JSON_OPTION) -> None:
    """The user (and role) the token belongs to."""
    with connect() as api:
        me = api.get("/api/v1/auth/me")
        if as_json:
            print_json(me)
            return
        fields([("user", me.get("username")), ("role", me.get("role")), ("server", api.url)])


def passwd(
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the current and the new password, one per line, from stdin."
    ),
) -> None:
    """Change your password (then log in again with it, storing the new token)."""
    with connect() as api:
        current = read_secret("Current password", from_stdin=password_stdin)
        new = read_secret("New password", from_stdin=password_stdin, confirm=not password_stdin)
        user = api.post("/api/v1/auth/password", {"current_password": current, "new_password": new})
        settings = api.settings
    out.print(f"Password changed for {user.get('username', '?')}.")
    if settings.token_source == "file":
        reply = _login(settings, str(user.get("username")), new, from_stdin=password_stdin)
        _save(settings.url, str(reply["access_token"]))
        note("Logged in again with the new password (old access tokens no longer work).")


@config_app.command("set-url")
def set_url(url: str = typer.Argument(..., help="e.g. https://appos.example.com")) -> None:
    """Store the AppOS URL."""
    try:
        path = config.update_file(url=config.normalize_url(url))
    except config.ConfigError as exc:
        raise CliError(str(exc)) from exc
    out.print(f"URL saved in {path}.")


@config_app.command("set-token")
def set_token(
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check the token with the server first."),
) -> None:
    """Store a token (an `appos_…` API token or an access token), read from stdin or a hidden prompt."""
    token = read_secret("Token", from_stdin=not sys.stdin.isatty())
    settings = config.load()
    if verify:
        checked = config.Settings(url=settings.url, token=token, url_source="", token_source="")
        with Api(checked) as api:
            me = api.get("/api/v1/auth/me")
        note(f"The token belongs to {me.get('username')} ({me.get('role')}) on {settings.url}.")
    path = config.update_file(token=token)
    out.print(f"Token saved in {path}.")


@config_app.command("show")
def show(as_json: bool = JSON_OPTION) -> None:
    """Where the config is, the URL in use, and whether a token is set (never the token itself)."""
    try:
        settings = config.load()
    except config.ConfigError as exc:
        raise CliError(str(exc)) from exc
    info = {
        "path": str(config.config_path()),
        "url": settings.url,
        "url_source": settings.url_source,
        "token_set": bool(settings.token),
        "token_source": settings.token_source,
    }
    if as_json:
        print_json(info)
        return
    token = f"set ({settings.token_source})" if settings.token else "not set — run appos login"
    fields([("config", info["path"]), ("url", f"{settings.url} ({settings.url_source})"), ("token", token)])


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command()(whoami)
    app.command()(passwd)
    app.add_typer(config_app, name="config")


__all__ = ["register", "read_secret"]
