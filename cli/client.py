"""HTTP to the gateway, and the CLI's one error type.

Every failure a user can meet becomes a `CliError` whose message is fit to print as is: the server's
own `message` for API errors, a plain sentence for connection problems and a missing login. Tokens
never appear in a message.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from cli.config import ConfigError, Settings, load

USER_AGENT = "appos-cli/0.1"
LOGIN_HINT = "run `appos login` (or set APPOS_TOKEN)"


class CliError(Exception):
    """Printed as `error: <message>` on stderr; the process exits with `exit_code`."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ApiError(CliError):
    """The server answered with an error: its HTTP status and `{"code", "message"}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def error_from(response: httpx.Response, *, token_sent: bool = True) -> ApiError:
    try:
        body = json.loads(response.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or "error")
    message = str(body.get("message") or f"HTTP {response.status_code} {response.reason_phrase}")
    if response.status_code == 401 and token_sent:
        message = f"{message} — {LOGIN_HINT}"
    return ApiError(response.status_code, code, message)


class Api:
    """A thin JSON client: `get`/`post`/`put`/`patch`/`delete` return the decoded body."""

    def __init__(self, settings: Settings, *, need_token: bool = True, timeout: float = 60.0) -> None:
        if need_token and not settings.token:
            raise CliError(f"not logged in to {settings.url}: {LOGIN_HINT}")
        self.settings = settings
        self.url = settings.url
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        self.http = httpx.Client(base_url=settings.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unreachable(self, exc: httpx.HTTPError) -> CliError:
        kind = type(exc).__name__
        return CliError(f"cannot reach AppOS at {self.url} ({kind}: {exc}); is it running? (APPOS_URL)")

    def response(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The raw reply of a request that succeeded (2xx); errors raise `ApiError`."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.is_error:
            raise error_from(response, token_sent=bool(self.settings.token))
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.response(method, path, **kwargs)
        if not response.content:
            return {}
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise CliError(f"{method} {path}: the server did not answer JSON") from exc

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=_params(params))

    def post(self, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        return self.call("POST", path, json=body or {}, params=_params(params))

    def put(self, path: str, body: dict[str, Any], *, headers: dict[str, str], **params: Any) -> Any:
        return self.call("PUT", path, json=body, headers=headers, params=_params(params))

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("PATCH", path, json=body)

    def delete(self, path: str, **params: Any) -> Any:
        return self.call("DELETE", path, params=_params(params))

    @contextmanager
    def stream(self, path: str, **params: Any) -> Iterator[httpx.Response]:
        """A streamed GET (events, followed logs), with no read timeout."""
        timeout = httpx.Timeout(self.http.timeout.connect, read=None)
        try:
            with self.http.stream("GET", path, params=_params(params), timeout=timeout) as response:
                if response.is_error:
                    raise error_from(response, token_sent=bool(self.settings.token))
                yield response
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc


def seg(value: object) -> str:
    """A path segment from user input, escaped (so `a/../b` stays one segment)."""
    return urllib.parse.quote(str(value), safe="")


def _params(params: dict[str, Any]) -> dict[str, str]:
    """Query parameters without the unset ones; booleans as `true`."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value is False or value == "":
            continue
        out[key] = "true" if value is True else str(value)
    return out


def connect(*, need_token: bool = True) -> Api:
    """A client for the configured server (config file, overridden by APPOS_URL/APPOS_TOKEN)."""
    try:
        settings = load()
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    return Api(settings, need_token=need_token)
