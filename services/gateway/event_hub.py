"""One `State.Watch` per gateway, shared by every live-event client (SSE and WebSocket).

A state `Watch` holds one of the state server's threads for as long as it is open, so a stream per
client would let 100 open dashboards starve every other call. Instead the hub keeps a single watch
(started with the first client, stopped with the last, resumed from its last seq when state comes
back) and copies each event to every client's queue. A client that joins with `after` first reads
what it missed from the event log in pages (`ListEvents`, a short unary call), then continues with
the live events, skipping any it already had, so it sees every event once and in order. A client too
slow to keep up (its queue full) is ended; it resumes with the last seq it saw, like after any drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import grpc.aio

from appos.v1 import common_pb2, state_pb2, state_pb2_grpc
from services.common.clients import call_metadata, rpc_error

logger = logging.getLogger(__name__)

PAGE = 500
QUEUE_SIZE = 2000
RETRY_SECONDS = 0.5
LIST_TIMEOUT = 10.0


class _Overflow:
    """Put in a client's queue in place of the events it could not take."""


OVERFLOW = _Overflow()
Item = common_pb2.Event | _Overflow


class EventHub:
    def __init__(self, state: state_pb2_grpc.StateAsyncStub) -> None:
        self._state = state
        self._clients: set[asyncio.Queue[Item]] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def newest_seq(self) -> int:
        try:
            reply = await self._state.ListEvents(
                state_pb2.StateListEventsRequest(after_seq=0, limit=1), timeout=LIST_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, service="state") from exc
        return int(reply.last_seq)

    async def events(self, after: int, *, keepalive: float) -> AsyncIterator[common_pb2.Event | None]:
        """Every event after `after`, in order; None after `keepalive` seconds of silence. Ends when
        the client falls too far behind or state cannot be read (it resumes from its last seq)."""
        queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._clients.add(queue)  # before the catch-up, so nothing committed meanwhile is missed
        self._ensure_running()
        last = after
        try:
            while True:  # catch up from the log
                try:
                    reply = await self._state.ListEvents(
                        state_pb2.StateListEventsRequest(after_seq=last, limit=PAGE), timeout=LIST_TIMEOUT
                    )
                except grpc.aio.AioRpcError:
                    return
                for event in reply.events:
                    yield event
                    last = event.seq
                if len(reply.events) < PAGE:
                    break
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), keepalive)
                except TimeoutError:
                    yield None
                    continue
                if isinstance(item, _Overflow):
                    return
                if item.seq > last:
                    yield item
                    last = item.seq
        finally:
            self._clients.discard(queue)
            if not self._clients:
                self._stop()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        last: int | None = None
        while True:
            try:
                if last is None:
                    last = await self.newest_seq()
                request = state_pb2.StateWatchRequest(after_seq=last)
                call = self._state.Watch(request, metadata=call_metadata())
                async for event in call:
                    last = event.seq
                    self._publish(event)
            except Exception as exc:  # noqa: BLE001 - state comes back: resume from `last`
                logger.info("event watch ended (%s); resuming after seq %s", type(exc).__name__, last)
            await asyncio.sleep(RETRY_SECONDS)

    def _publish(self, event: common_pb2.Event) -> None:
        for queue in list(self._clients):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._clients.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(OVERFLOW)
