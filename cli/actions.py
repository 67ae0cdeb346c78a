"""Requests that start a deployment: send, then (by default) follow it to its end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from cli.client import Api, CliError
from cli.events import Follower
from cli.output import out, status

WAIT_OPTION = typer.Option(True, "--wait/--no-wait", help="Follow the deployment to its end (default).")


def run(
    api: Api,
    request: Callable[[], dict[str, Any]],
    *,
    wait: bool,
    console: Console = out,
    before_wait: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """`request()` answers `{"deployment": …}` (plus more); with `wait`, the events stream is opened
    first and the deployment followed. A failed or cancelled deployment raises `CliError` with its
    reason. The reply is returned with its deployment replaced by the final one."""
    if not wait:
        reply = request()
        if before_wait:
            before_wait(reply)
        _queued(reply, console)
        return reply
    with Follower(api, console) as follower:
        reply = request()
        if before_wait:
            before_wait(reply)
        deployment = reply.get("deployment") or {}
        if not deployment.get("id"):
            return reply
        try:
            outcome = follower.wait(deployment)
        except KeyboardInterrupt:
            raise CliError(
                f"stopped waiting; deployment {deployment['id']} goes on "
                f"(appos deployments show {deployment['id']})",
                exit_code=130,
            ) from None
    final = outcome.deployment
    reply["deployment"] = final
    what = f"{final.get('action', 'deploy')} of {final.get('app', '')}"
    if not outcome.ok:
        reason = final.get("reason") or "no reason given"
        raise CliError(f"{what} {final.get('status', 'failed')}: {reason}")
    version = f" (v{final['version']})" if final.get("version") else ""
    console.print(f"{escape(what)}{version}: {status('succeeded')}")
    return reply


def _queued(reply: dict[str, Any], console: Console) -> None:
    deployment = reply.get("deployment") or {}
    if deployment.get("id"):
        console.print(
            f"{escape(str(deployment.get('action', 'deploy')))} of {escape(str(deployment.get('app', '')))} "
            f"queued as deployment {deployment['id']} (appos deployments show {deployment['id']})"
        )
