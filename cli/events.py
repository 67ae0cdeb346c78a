"""The live events stream (server-sent events at /api/v1/events), and following one deployment on it.

A `Follower` subscribes *before* the action that creates the deployment, so no event is missed; when
the stream drops it resumes from the last seq it saw. Log lines missed for any reason are fetched
from the deployment's own log at the end, and the outcome is read back from the deployment itself.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from cli.client import Api, ApiError, CliError
from cli.output import status

ENDED = ("succeeded", "failed", "cancelled")
RECONNECTS = 20


@dataclass
class Event:
    seq: int
    type: str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def parse_sse(lines: Iterator[str]) -> Iterator[Event | int]:
    """Events from SSE lines; the stream's opening comment `: events after N` yields N."""
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):
            comment = line[1:].strip()
            if comment.startswith("events after "):
                with contextlib.suppress(ValueError):
                    yield int(comment.removeprefix("events after "))
            continue
        if line == "":
            if data:
                event = _event("\n".join(data))
                data = []
                if event is not None:
                    yield event
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value.removeprefix(" "))


def _event(text: str) -> Event | None:
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    payload = body.get("payload")
    return Event(
        seq=int(body.get("seq") or 0),
        type=str(body.get("type", "")),
        subject=str(body.get("subject", "")),
        payload=payload if isinstance(payload, dict) else {},
        raw=body,
    )


class EventStream:
    """Iterate events after a seq, reconnecting (from the last seq seen) when the stream drops."""

    def __init__(self, api: Api, after: int | None = None) -> None:
        self.api = api
        self.after = after
        self._stack = contextlib.ExitStack()
        self._items: Iterator[Event | int] | None = None
        self._pending: list[Event] = []

    def open(self) -> int:
        """Connect and return the seq the stream starts after."""
        response = self._stack.enter_context(self.api.stream("/api/v1/events", after=self.after))
        self._items = parse_sse(response.iter_lines())
        first = next(self._items, None)
        if isinstance(first, int):
            self.after = first
        elif isinstance(first, Event):
            self._pending.append(first)
        return self.after or 0

    def _seen(self, event: Event) -> None:
        self.after = max(self.after or 0, event.seq)

    def close(self) -> None:
        self._stack.close()
        self._items = None

    def __iter__(self) -> Iterator[Event]:
        failures = 0
        while True:
            try:
                if self._items is None:
                    self.open()
                assert self._items is not None
                while self._pending:
                    event = self._pending.pop(0)
                    self._seen(event)
                    yield event
                for item in self._items:
                    if isinstance(item, Event):
                        failures = 0
                        self._seen(item)
                        yield item
                cause = "the server ended the stream"
            except (CliError, httpx.HTTPError) as exc:
                if isinstance(exc, ApiError) and exc.status < 500:
                    raise
                cause = str(exc)
            # Reconnect from the last seq seen, backing off while nothing arrives.
            self.close()
            failures += 1
            if failures > RECONNECTS:
                raise CliError(f"lost the events stream: {cause}")
            time.sleep(min(0.2 * failures, 2.0))


@dataclass
class Outcome:
    deployment: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.deployment.get("status") == "succeeded"


class Follower:
    """Subscribe first (`with Follower(api, console) as f:`), then act, then `f.wait(deployment)`."""

    def __init__(self, api: Api, console: Console) -> None:
        self.api = api
        self.console = console
        self.stream = EventStream(api)

    def __enter__(self) -> Follower:
        self.stream.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()

    def wait(self, deployment: dict[str, Any]) -> Outcome:
        """Print the deployment's log lines live until it ends; its final state."""
        dep_id = str(deployment["id"])
        label = f"{deployment.get('action', 'deploy')} {deployment.get('app', '')}".strip()
        last_line = 0
        current = str(deployment.get("status", "pending"))
        with self.console.status(f"{escape(label)}: {status(current)}") as spinner:
            if current not in ENDED:
                for event in self.stream:
                    if event.subject != dep_id:
                        continue
                    if event.type == "deployment_log":
                        last_line = self._print(event.payload, last_line)
                    elif event.type == "deployment_status":
                        current = str(event.payload.get("status", ""))
                        spinner.update(f"{escape(label)}: {status(current)}")
                        if current in ENDED:
                            break
            logs = self.api.get(f"/api/v1/deployments/{dep_id}/logs", after=last_line)
            for line in logs.get("lines", []):
                last_line = self._print(line, last_line)
        final: dict[str, Any] = self.api.get(f"/api/v1/deployments/{dep_id}")
        return Outcome(final)

    def _print(self, line: dict[str, Any], last: int) -> int:
        seq = int(line.get("seq") or 0)
        if seq and seq <= last:
            return last
        self.console.print(f"  {line.get('line', '')}", markup=False, highlight=False, soft_wrap=True)
        return max(seq, last)
