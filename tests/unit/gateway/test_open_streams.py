"""Open streams: the per-user limit, and the re-check that ends a stream when its access ends (the
authenticator is a function here: what it decides is tested with the real one in integration)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.common.errors import PermissionDenied, RateLimited, Unauthenticated, Unavailable
from services.gateway.context import Caller
from services.gateway.open_streams import AccessEnded, OpenStreams


class Credentials:
    """token → the caller it stands for now, or the error it fails with."""

    def __init__(self) -> None:
        self.now: dict[str, Caller | Exception] = {}
        self.asked: list[str] = []

    async def __call__(self, token: str) -> Caller:
        self.asked.append(token)
        found = self.now[token]
        if isinstance(found, Exception):
            raise found
        return found


async def _forever() -> AsyncIterator[int]:
    n = 0
    while True:
        n += 1
        yield n
        await asyncio.sleep(0.01)


def test_one_stream_over_the_limit_is_refused_saying_how_many_are_open() -> None:
    async def scenario() -> None:
        streams = OpenStreams(Credentials(), per_user=2, recheck_seconds=60)
        vera = Caller(username="vera", role="viewer")
        first = await streams.take(vera, "t1", min_role="viewer")
        await streams.take(vera, "t2", min_role="viewer")
        with pytest.raises(RateLimited, match="vera has 2 streams open .*the limit is 2 per user"):
            await streams.take(vera, "t3", min_role="viewer")
        await streams.take(Caller(username="otto", role="viewer"), "t4", min_role="viewer")  # per user
        await streams.release(first)
        await streams.take(vera, "t3", min_role="viewer")
        assert streams.count("vera") == 2
        await streams.close()

    asyncio.run(scenario())


def test_a_failed_recheck_ends_every_stream_of_that_credential_only() -> None:
    async def scenario() -> None:
        creds = Credentials()
        admin = Caller(username="ada", role="admin")
        creds.now = {"revoked": admin, "kept": admin}
        streams = OpenStreams(creds, per_user=10, recheck_seconds=0.05)
        doomed = [await streams.take(admin, "revoked", min_role="viewer") for _ in range(3)]
        kept = await streams.take(admin, "kept", min_role="viewer")
        creds.now["revoked"] = Unauthenticated("invalid, expired or revoked token")
        async with asyncio.timeout(5):
            got = [n async for n in _take(doomed[0].guard(_forever()), until_error=True)]
        assert got  # it streamed until then
        assert all(lease.ended for lease in doomed) and not kept.ended
        assert doomed[1].error is not None and doomed[1].error.message == "invalid, expired or revoked token"
        assert creds.asked.count("revoked") <= creds.asked.count("kept") + 1  # once a round, not per stream
        await streams.close()

    asyncio.run(scenario())


def test_a_role_lowered_below_the_stream_or_its_opening_ends_it() -> None:
    async def scenario() -> None:
        creds = Credentials()
        creds.now = {"api": Caller(username="ada", role="admin")}
        streams = OpenStreams(creds, per_user=10, recheck_seconds=60)
        ada = Caller(username="ada", role="admin")
        host = await streams.take(ada, "api", min_role="admin")
        events = await streams.take(ada, "api", min_role="viewer")
        creds.now["api"] = Caller(username="ada", role="operator")
        await streams.recheck()
        assert isinstance(host.error, PermissionDenied) and "needs the admin role" in host.error.message
        assert isinstance(events.error, PermissionDenied)  # opened as admin: its events were filtered so
        assert "from admin to operator" in events.error.message
        await streams.close()

    asyncio.run(scenario())


def test_streams_go_on_while_state_cannot_be_asked() -> None:
    async def scenario() -> None:
        creds = Credentials()
        creds.now = {"t": Unavailable("the state service is unavailable")}
        streams = OpenStreams(creds, per_user=10, recheck_seconds=60)
        lease = await streams.take(Caller(username="ada", role="admin"), "t", min_role="viewer")
        await streams.recheck()
        assert not lease.ended
        await streams.close()

    asyncio.run(scenario())


async def _take(source: AsyncIterator[int], *, until_error: bool) -> AsyncIterator[int]:
    try:
        async for n in source:
            yield n
    except AccessEnded:
        if not until_error:
            raise
