"""Replies the gateway passes on from state by their bytes must have the same wire layout."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor

from appos.v1 import apps_pb2, auth_pb2, common_pb2, state_pb2
from services.common.timestamps import set_ts


def layout(descriptor: Descriptor) -> list[tuple[str, int, int, bool, str]]:
    return [
        (f.name, f.number, f.type, f.is_repeated, f.message_type.full_name if f.message_type else "")
        for f in descriptor.fields
    ]


def test_list_users_replies_share_their_layout() -> None:
    assert layout(state_pb2.StateListUsersReply.DESCRIPTOR) == layout(auth_pb2.ListUsersReply.DESCRIPTOR)
    user = common_pb2.User(id="1", username="ann", role="admin", totp_enabled=True)
    set_ts(user.created_at, 1_764_000_000_123_456)
    state = state_pb2.StateListUsersReply(users=[user, common_pb2.User(username="bob")], next_page_token="x")
    public = auth_pb2.ListUsersReply.FromString(state.SerializeToString())
    assert list(public.users) == list(state.users)
    assert public.next_page_token == "x"


def test_list_apps_replies_share_their_layout() -> None:
    """The gateway reads state's app list as the public reply (services/gateway/state_replies.py)."""
    assert layout(state_pb2.StateListAppsReply.DESCRIPTOR) == layout(apps_pb2.ListAppsReply.DESCRIPTOR)
    app = apps_pb2.App(name="blog", status="running", backup_volumes=True, server="local")
    app.last_deployment.id = "d1"
    set_ts(app.created_at, 1_764_000_000_123_456)
    state = state_pb2.StateListAppsReply(apps=[app, apps_pb2.App(name="wiki")])
    assert list(apps_pb2.ListAppsReply.FromString(state.SerializeToString()).apps) == list(state.apps)
