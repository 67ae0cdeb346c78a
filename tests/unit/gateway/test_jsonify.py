from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message

from appos.v1 import auth_pb2, common_pb2, state_pb2, system_pb2
from services.common.timestamps import set_ts
from services.gateway.jsonify import message_to_json


def reference(message: Message) -> dict[str, object]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def samples() -> list[Message]:
    user = common_pb2.User(id="1", username="ann", role="admin", disabled=True)
    set_ts(user.created_at, 1_764_000_000_123_456)
    set_ts(user.updated_at, 1_764_000_000_000_000)
    token = common_pb2.ApiToken(id="t", name="n", username="ann", role="viewer", prefix="appos_x")
    token.expires_at.seconds, token.expires_at.nanos = 4_000_000_000, 5
    milli = common_pb2.ApiToken(id="m")
    milli.created_at.seconds, milli.created_at.nanos = 0, 120_000_000
    return [
        user,
        common_pb2.User(),
        token,
        milli,
        auth_pb2.ListUsersReply(users=[user, user], next_page_token="abc"),
        auth_pb2.ListUsersReply(),
        auth_pb2.LoginReply(access_token="x", token_type="bearer", expires_in=3600, user=user),
        auth_pb2.UpdateUserRequest(username="u", role="viewer"),
        auth_pb2.UpdateUserRequest(username="u", disabled=False),
        common_pb2.Event(seq=2**40, type="t", payload_json="{}"),
        system_pb2.Health(
            status="down", parts=[system_pb2.HealthPart(name="state", status="down", message="x")]
        ),
        state_pb2.StateListEventsReply(events=[common_pb2.Event(seq=1)], last_seq=9),
    ]


def test_same_output_as_json_format() -> None:
    for message in samples():
        assert message_to_json(message) == reference(message), type(message).__name__
