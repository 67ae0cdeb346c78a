"""EventHub: one state watch shared by every event client, catch-up from the log, no duplicates,
slow clients ended, the watch resumed after state goes away (a fake State stub: unit test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from appos.v1 import common_pb2, state_pb2
from services.gateway import event_hub
from services.gateway.event_hub import EventHub


class Unavailable(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "gone")


class FakeState:
    """An event log, with `Watch` streams fed by `commit`."""

    def __init__(self) -> None:
        self.log: list[common_pb2.Event] = []
        self.watches: list[asyncio.Queue[common_pb2.Event | None]] = []
        self.watch_afters: list[int] = []

    def commit(self, n: int = 1) -> None:
        for _ in range(n):
            event = common_pb2.Event(seq=len(self.log) + 1, type="t")
            self.log.append(event)
            for queue in self.watches:
                queue.put_nowait(event)

    def break_watches(self) -> None:
        for queue in self.watches:
            queue.put_nowait(None)
        self.watches.clear()

    async def ListEvents(self, request: state_pb2.StateListEventsRequest, **_: Any) -> Any:
        found = [e for e in self.log if e.seq > request.after_seq][: request.limit]
        return state_pb2.StateListEventsReply(events=found, last_seq=len(self.log))

    def Watch(self, request: state_pb2.StateWatchRequest, **_: Any) -> AsyncIterator[common_pb2.Event]:
        queue: asyncio.Queue[common_pb2.Event | None] = asyncio.Queue()
        for event in self.log[request.after_seq :]:
            queue.put_nowait(event)
        self.watches.append(queue)
        self.watch_afters.append(request.after_seq)

        async def stream() -> AsyncIterator[common_pb2.Event]:
            while (event := await queue.get()) is not None:
                yield event
            raise Unavailable()

        return stream()


async def _take(stream: AsyncIterator[common_pb2.Event | None], n: int) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(5):
        async for event in stream:
            if event is not None:
                seqs.append(event.seq)
            if len(seqs) == n:
                break
    return seqs


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_clients_share_one_watch_and_each_sees_every_event_once() -> None:
    async def scenario() -> None:
        state = FakeState()
        state.commit(3)
        hub = EventHub(state)  # type: ignore[arg-type]
        streams = [hub.events(after, keepalive=5) for after in (0, 2, 3)]
        tasks = [asyncio.create_task(_take(s, n)) for s, n in zip(streams, (8, 6, 5), strict=True)]
        await _settle()
        state.commit(5)
        assert [await t for t in tasks] == [list(range(1, 9)), list(range(3, 9)), list(range(4, 9))]
        assert len(state.watch_afters) == 1  # one watch for all three clients
        await hub.close()

    asyncio.run(scenario())


def test_the_watch_resumes_after_state_goes_away_without_gaps() -> None:
    async def scenario() -> None:
        state = FakeState()
        hub = EventHub(state)  # type: ignore[arg-type]
        task = asyncio.create_task(_take(hub.events(0, keepalive=5), 4))
        await _settle()
        state.commit(2)
        await _settle()
        state.break_watches()  # state restarts
        state.commit(2)  # committed while no watch was open
        assert await task == [1, 2, 3, 4]
        assert state.watch_afters[-1] == 2  # resumed from the last seq it had
        await hub.close()

    asyncio.run(scenario())


def test_a_client_that_cannot_keep_up_is_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_hub, "QUEUE_SIZE", 3)

    async def scenario() -> None:
        state = FakeState()
        hub = EventHub(state)  # type: ignore[arg-type]
        slow = hub.events(0, keepalive=0.05)
        assert await asyncio.wait_for(anext(slow), 2) is None  # caught up, now waiting for live events
        state.commit(5)  # more than its queue holds, while it does not read
        await _settle()
        assert hub.clients == 0
        rest = [e async for e in slow]  # ended: it resumes from its last seq, like after any drop
        assert rest == []
        await hub.close()

    asyncio.run(scenario())


def test_keepalives_come_in_silence_and_the_watch_stops_with_the_last_client() -> None:
    async def scenario() -> None:
        state = FakeState()
        hub = EventHub(state)  # type: ignore[arg-type]
        stream = hub.events(0, keepalive=0.05)
        assert await asyncio.wait_for(anext(stream), 2) is None
        assert hub.clients == 1
        await stream.aclose()  # type: ignore[attr-defined]
        assert hub.clients == 0
        await hub.close()

    asyncio.run(scenario())
