"""The event log over the internal State gRPC service: replay from any seq, then live, exactly once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import grpc
import pytest

from appos.v1 import common_pb2, state_pb2, state_pb2_grpc
from services.common.clients import sync_channel
from tests.harness import Stack


@pytest.fixture
def state(stack: Stack) -> Iterator[state_pb2_grpc.StateStub]:
    channel = sync_channel(stack.run_dir / "state.sock")
    yield state_pb2_grpc.StateStub(channel)
    channel.close()


def _append(state: state_pb2_grpc.StateStub, marker: str, i: int) -> int:
    event = state.AppendEvent(
        state_pb2.StateAppendEventRequest(
            type="test_event", subject=marker, actor="test", payload_json=json.dumps({"i": i})
        ),
        timeout=10,
    )
    return int(event.seq)


def _collect(state: state_pb2_grpc.StateStub, after: int, count: int) -> list[common_pb2.Event]:
    stream = state.Watch(state_pb2.StateWatchRequest(after_seq=after), timeout=30)
    got = []
    for event in stream:
        got.append(event)
        if len(got) == count:
            stream.cancel()
            break
    return got


def test_watch_after_a_disconnect_gets_every_event_exactly_once(state: state_pb2_grpc.StateStub) -> None:
    marker = "reconnect"
    first = [_append(state, marker, i) for i in range(5)]
    start = first[0] - 1
    seen = _collect(state, start, 5)
    assert [e.seq for e in seen] == first
    last_seen = seen[-1].seq
    # the client is gone; more is written meanwhile (by others too)
    later = [_append(state, marker, i) for i in range(5, 12)]
    resumed = _collect(state, last_seen, len(later))
    assert [e.seq for e in resumed] == later
    assert [json.loads(e.payload_json)["i"] for e in resumed] == list(range(5, 12))


def test_watch_replays_then_follows_live(state: state_pb2_grpc.StateStub) -> None:
    marker = "live"
    before = _append(state, marker, 0)
    received: list[int] = []
    done = threading.Event()

    def watch() -> None:
        for event in _collect(state, before - 1, 31):
            if event.subject == marker:
                received.append(json.loads(event.payload_json)["i"])
        done.set()

    thread = threading.Thread(target=watch)
    thread.start()
    for i in range(1, 31):
        _append(state, marker, i)
    assert done.wait(30)
    thread.join()
    assert received == list(range(31))


def test_events_are_written_with_the_change_they_describe(
    stack: Stack, state: state_pb2_grpc.StateStub
) -> None:
    admin = stack.login()
    before = state.ListEvents(state_pb2.StateListEventsRequest(after_seq=0, limit=1), timeout=10).last_seq
    with stack.client(admin) as c:
        assert (
            c.post(
                "/api/v1/users", json={"username": "evented", "password": "p" * 10, "role": "viewer"}
            ).status_code
            == 200
        )
        assert (
            c.post(
                "/api/v1/users", json={"username": "evented", "password": "p" * 10, "role": "viewer"}
            ).status_code
            == 409
        )
    events = state.ListEvents(
        state_pb2.StateListEventsRequest(after_seq=before, limit=100), timeout=10
    ).events
    created = [e for e in events if e.type == "user_created" and e.subject == "evented"]
    assert len(created) == 1  # the failed duplicate wrote nothing
    assert "p" * 10 not in created[0].payload_json
    assert "argon2" not in created[0].payload_json


def test_bad_event_input_is_invalid_argument(state: state_pb2_grpc.StateStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        state.AppendEvent(state_pb2.StateAppendEventRequest(type="x", payload_json="[1]"), timeout=10)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        state.ListEvents(state_pb2.StateListEventsRequest(after_seq=-1), timeout=10)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
