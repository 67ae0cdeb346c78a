from __future__ import annotations

from types import ModuleType

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from appos.v1 import (
    apps_pb2,
    audit_pb2,
    auth_pb2,
    backups_internal_pb2,
    backups_pb2,
    common_pb2,
    notifications_pb2,
    proxy_pb2,
    state_pb2,
    system_pb2,
    terminal_pb2,
)
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


def test_timestamps_as_json_format_writes_them() -> None:
    """Every precision json_format distinguishes, before the epoch, the ends of the valid range, and
    many minutes (the converter caches each minute's prefix)."""
    seconds = [0, -1, -86_401, 59, 60, 951_782_400, 4_102_444_799, -62_135_596_800, 253_402_300_799]
    seconds += [1_764_000_000 + 37 * i for i in range(500)]
    for second in seconds:
        for nanos in (0, 5, 120_000_000, 123_456_000, 999_999_999, 1_000, 1_000_000):
            user = common_pb2.User(id="x")
            user.created_at.seconds, user.created_at.nanos = second, nanos
            assert message_to_json(user) == reference(user), (second, nanos)


def test_every_message_type_unset_and_with_its_scalars_set() -> None:
    """The converter built for each message type of the API, on an empty message and on one with
    every singular scalar field set to a value other than its default."""
    values = {
        FieldDescriptor.TYPE_STRING: "é\u2603",
        FieldDescriptor.TYPE_BOOL: True,
        FieldDescriptor.TYPE_BYTES: b"\x00\xff",
        FieldDescriptor.TYPE_DOUBLE: 1.5,
        FieldDescriptor.TYPE_FLOAT: 0.25,
    }
    modules: tuple[ModuleType, ...] = (
        apps_pb2,
        audit_pb2,
        auth_pb2,
        backups_internal_pb2,
        backups_pb2,
        common_pb2,
    )
    modules += (notifications_pb2, proxy_pb2, state_pb2, system_pb2, terminal_pb2)
    for module in modules:
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            message = module.__dict__[descriptor.name]()
            assert message_to_json(message) == reference(message), descriptor.full_name
            for field in descriptor.fields:
                if field.is_repeated or field.type == FieldDescriptor.TYPE_MESSAGE:
                    continue
                if field.type == FieldDescriptor.TYPE_ENUM:
                    assert field.enum_type is not None
                    setattr(message, field.name, field.enum_type.values[-1].number)
                else:
                    setattr(message, field.name, values.get(field.type, 7))
            assert message_to_json(message) == reference(message), descriptor.full_name


def test_reply_bytes_as_starlette_writes_them() -> None:
    from starlette.responses import JSONResponse

    from services.gateway.translate import ProtoJSONResponse, to_json

    nan = common_pb2.Event(seq=1, payload_json='{"a": "é\u2603 \\" \\n"}')
    for message in [*samples(), nan, system_pb2.Health(parts=[system_pb2.HealthPart(name="ü\U0001f600")])]:
        content = to_json(message)
        assert ProtoJSONResponse(content).body == JSONResponse(content).body, type(message).__name__


def _app(name: str, status: str) -> apps_pb2.App:
    app = apps_pb2.App(name=name, status=status, policy_exceptions=["host_network"], server="local")
    app.services.add(service="web", container=f"appos-{name}-web-1", state="running", ports=["80/tcp"])
    app.last_deployment.id, app.last_deployment.action = "d1", "deploy"
    set_ts(app.last_deployment.created_at, 1_764_000_000_123_456)
    return app


def test_reply_json_writes_what_the_dicts_write() -> None:
    """List replies (each element's JSON kept by its bytes) and others, read again, after their
    elements changed, and with repeated elements, against pydantic-core on message_to_json."""
    import pydantic_core

    from services.gateway.jsonify import reply_json

    user = samples()[0]
    assert isinstance(user, common_pb2.User)
    lists: list[Message] = [
        apps_pb2.ListAppsReply(apps=[_app("blog", "running"), _app("wiki", "stopped")]),
        apps_pb2.ListAppsReply(
            apps=[_app("blog", "failed"), _app("wiki", "stopped"), _app("wiki", "stopped")]
        ),
        apps_pb2.ListAppsReply(),
        auth_pb2.ListUsersReply(users=[user, common_pb2.User(username="bob")], next_page_token="abc"),
        auth_pb2.ListUsersReply(users=[user]),
        auth_pb2.ListUsersReply(next_page_token="x"),
    ]
    for message in [*samples(), *lists, *lists]:
        assert reply_json(message) == pydantic_core.to_json(message_to_json(message)), message


def test_the_memo_of_a_list_stays_within_its_budget() -> None:
    import pydantic_core

    from services.gateway.jsonify import _Fragments

    fragments = _Fragments(budget=3000)
    for round_ in range(3):
        apps = [_app(f"app{i}", "running" if round_ else "stopped") for i in range(5)]
        out: list[bytes] = []
        fragments.add(out, apps)
        assert b"".join(out) == b",".join(pydantic_core.to_json(message_to_json(app)) for app in apps)
        assert fragments.size <= 3000 and len(fragments.found) < 5
