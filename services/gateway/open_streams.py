"""The long streams the gateway serves — log follows, live events (SSE, WebSocket), terminals, backup
downloads, server streams on the public gRPC port — counted per user, and ended when the access
that opened them ends.

Each stream holds a `Lease` while it is open. A user may hold `per_user` at once, across every
gateway process (the places are counted in Redis: `stream_counts.py`); one more is refused before
anything starts (`RateLimited`: 429, WebSocket close 4429, RESOURCE_EXHAUSTED), saying how many are
open and the limit. While Redis cannot be asked, each process counts its own streams.

While any lease is held, one task checks every credential that opened a stream again, every
`recheck_seconds`, with the same `Authenticator` that let it in: a revoked API token, a signed-out
session, a disabled, deleted or changed user (password, role), an expired token and a rotated
signing key all fail that check, and the streams of that credential end with its message. A role
that fell below what the stream needs, or below the role it was opened with (events are filtered by
role), ends them too. A credential is checked once a round however many streams share it: for a
login's access token that is a signature check and memory look-ups (the user record is cached for a
few seconds and dropped at once when this gateway changes the user), for an API token one state
call. While state cannot be asked, streams go on: nothing can be revoked then either.

A stream reads its source through `Lease.guard`, which ends it with `AccessEnded` (its `error` the
Unauthenticated or PermissionDenied to report) as soon as the lease is ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.common.errors import (
    AppOSError,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from services.common.roles import ROLES, role_allows
from services.gateway.context import Caller
from services.gateway.redis_outage import RedisOutage
from services.gateway.stream_counts import StreamCounts, member

logger = logging.getLogger(__name__)

T = TypeVar("T")
Authenticate = Callable[[str], Awaitable[Caller]]


class AccessEnded(Exception):
    """The access that opened a stream has ended; `error` says why (401 or 403)."""

    def __init__(self, error: AppOSError) -> None:
        super().__init__(error.message)
        self.error = error


class Lease:
    def __init__(self, caller: Caller, token: str, min_role: str) -> None:
        self.username = caller.username
        self.role = caller.role
        self.token = token
        self.min_role = min_role
        self.session = ""  # a terminal's session id, once it is open
        self.id = uuid.uuid4().hex
        self.counted = ""  # its member in Redis's count (stream_counts.py); "" when not counted there
        self.error: AppOSError | None = None
        self._ended = asyncio.Event()

    @property
    def ended(self) -> bool:
        return self.error is not None

    def end(self, error: AppOSError) -> None:
        if self.error is None:
            self.error = error
            self._ended.set()

    async def wait_ended(self) -> AppOSError:
        await self._ended.wait()
        assert self.error is not None
        return self.error

    def check(self) -> None:
        if self.error is not None:
            raise AccessEnded(self.error)

    async def guard(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        """`source`'s items until it ends, or until this lease ends (then AccessEnded)."""
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            while True:
                self.check()
                step = asyncio.ensure_future(anext(source))
                await asyncio.wait((step, ended), return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    try:
                        await step
                    except (asyncio.CancelledError, StopAsyncIteration):
                        pass
                    except Exception:  # noqa: BLE001 - the stream is being ended anyway
                        logger.debug("an ended stream's last read failed", exc_info=True)
                    self.check()
                try:
                    item = step.result()
                except StopAsyncIteration:
                    return
                yield item
        finally:
            ended.cancel()


def bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header (already checked by the Authenticator)."""
    return (authorization or "").partition(" ")[2].strip()


class OpenStreams:
    def __init__(
        self,
        authenticate: Authenticate,
        *,
        per_user: int,
        recheck_seconds: float,
        counts: StreamCounts | None = None,
    ) -> None:
        """`authenticate`: the gateway's `Authenticator.authenticate_token`; `counts`: the places
        shared by every gateway process (None: this process's own streams only)."""
        self._authenticate = authenticate
        self.per_user = per_user
        self.recheck_seconds = recheck_seconds
        self._counts = counts
        self._held: dict[str, set[Lease]] = {}
        self._task: asyncio.Task[None] | None = None
        self._outage = RedisOutage(logger)

    def count(self, username: str) -> int:
        """This process's streams of the user."""
        return len(self._held.get(username, ()))

    async def take(self, caller: Caller, token: str, *, min_role: str, session: str = "") -> Lease:
        """A lease for one more stream of this caller, or RateLimited when it holds its limit. A
        terminal attached again (`session`) takes the place its earlier connection holds: that one
        is detached by the attach and gives its lease back."""
        lease = Lease(caller, token, min_role)
        here = self._held.get(caller.username, set())
        again = bool(session) and any(h.session == session for h in here)
        held: int | None = None if again or len(here) < self.per_user else len(here)
        if self._counts is not None and not self._outage.skipping:
            name = member(lease.id, "")
            try:
                limit = self.per_user if not again else 2**31
                held = await self._counts.take(caller.username, name, limit=limit, session=session)
                lease.counted = name if held is None else ""
            except RedisError:
                self._outage.failed("could not count open streams in redis; counting this process's own")
        if held is not None:
            raise RateLimited(
                f"{caller.username} has {held} streams open (log follows, event streams, "
                f"terminals, downloads); the limit is {self.per_user} per user: close one first"
            )
        self._held.setdefault(caller.username, set()).add(lease)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._recheck_loop())
        return lease

    async def release(self, lease: Lease) -> None:
        held = self._held.get(lease.username)
        if held is not None:
            held.discard(lease)
            if not held:
                del self._held[lease.username]
        if self._counts is not None and lease.counted:
            lease.counted = ""
            try:
                await self._counts.give_back(
                    lease.username, [member(lease.id, ""), member(lease.id, lease.session)]
                )
            except RedisError:
                lapse = self._counts.lapse_seconds
                self._outage.failed(
                    f"could not give back a stream's place in redis; it lapses in {lapse:.0f} s"
                )

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _recheck_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self.recheck_seconds)
            try:
                await self.recheck()
            except Exception:  # noqa: BLE001 - the next round tries again
                logger.exception("re-checking open streams failed")
            await self.renew()

    async def renew(self) -> None:
        """Keep this process's places in Redis's count (they lapse otherwise, as a killed
        process's do), under the name of the terminal session each now has, and count again
        the ones taken while Redis was down."""
        if self._counts is None or self._outage.skipping:
            return
        names = {lease: member(lease.id, lease.session) for held in self._held.values() for lease in held}
        by_user: dict[str, list[tuple[str, str]]] = {}
        for lease, name in names.items():
            by_user.setdefault(lease.username, []).append((name, lease.counted))
        try:
            await self._counts.renew(by_user)
        except RedisError:
            self._outage.failed("could not renew the open streams' places in redis")
            return
        for lease, name in names.items():
            if lease in self._held.get(lease.username, ()):
                lease.counted = name

    async def recheck(self) -> None:
        """One round: each credential with open streams, checked once."""
        by_token: dict[str, list[Lease]] = {}
        for held in self._held.values():
            for lease in held:
                if not lease.ended:
                    by_token.setdefault(lease.token, []).append(lease)
        await asyncio.gather(*(self._check(token, leases) for token, leases in by_token.items()))

    async def _check(self, token: str, leases: list[Lease]) -> None:
        try:
            caller = await self._authenticate(token)
        except Unauthenticated as exc:
            for lease in leases:
                lease.end(exc)
            return
        except AppOSError as exc:  # state is down: nothing can be revoked meanwhile either
            logger.info("could not re-check %d open streams: %s", len(leases), exc.message)
            return
        for lease in leases:
            if not role_allows(caller.role, lease.min_role):
                lease.end(
                    PermissionDenied(f"your role is now {caller.role}; this needs the {lease.min_role} role")
                )
            elif ROLES.index(caller.role) < ROLES.index(lease.role):
                lease.end(
                    PermissionDenied(f"your role changed from {lease.role} to {caller.role}; open it again")
                )


class LeasedStreamingResponse(StreamingResponse):
    """A streamed answer that gives its lease back when it ends, however it ends (even when the
    client left before the body started)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        streams: OpenStreams,
        lease: Lease,
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._streams = streams
        self._lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._streams.release(self._lease)
