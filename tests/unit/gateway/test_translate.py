from __future__ import annotations

import pytest

from appos.v1 import auth_pb2
from services.common.errors import InvalidArgument
from services.gateway.http_rules import public_routes
from services.gateway.translate import build_request, to_json

ROUTES = {r.full_name: r for r in public_routes()}


def test_body_star_fills_the_whole_message() -> None:
    route = ROUTES["appos.v1.Auth.CreateUser"]
    msg = build_request(
        route, path_params={}, query=[], body=b'{"username": "bob", "password": "p", "role": "viewer"}'
    )
    assert isinstance(msg, auth_pb2.CreateUserRequest)
    assert (msg.username, msg.role) == ("bob", "viewer")


def test_path_parameters_fill_their_field_and_win_over_the_body() -> None:
    route = ROUTES["appos.v1.Auth.UpdateUser"]
    msg = build_request(
        route, path_params={"username": "carol"}, query=[], body=b'{"username": "x", "role": "admin"}'
    )
    assert isinstance(msg, auth_pb2.UpdateUserRequest)
    assert msg.username == "carol"
    assert msg.HasField("role") and not msg.HasField("disabled")


def test_query_parameters_are_typed() -> None:
    route = ROUTES["appos.v1.Auth.ListUsers"]
    msg = build_request(route, path_params={}, query=[("page_size", "25"), ("page_token", "abc")], body=b"")
    assert isinstance(msg, auth_pb2.ListUsersRequest)
    assert msg.page_size == 25 and msg.page_token == "abc"
    tokens = build_request(
        ROUTES["appos.v1.Auth.ListTokens"], path_params={}, query=[("all_users", "true")], body=b""
    )
    assert isinstance(tokens, auth_pb2.ListTokensRequest) and tokens.all_users


@pytest.mark.parametrize(
    ("name", "query", "body", "needle"),
    [
        ("appos.v1.Auth.CreateUser", [], b"{", "not valid JSON"),
        ("appos.v1.Auth.CreateUser", [], b"[1]", "JSON object"),
        ("appos.v1.Auth.CreateUser", [], b'{"nope": 1}', "unknown field 'nope'"),
        ("appos.v1.Auth.CreateUser", [], b'{"username": {"a": 1}}', "username"),
        ("appos.v1.Auth.CreateUser", [("role", "admin")], b"{}", "unexpected query parameter"),
        ("appos.v1.Auth.ListUsers", [("page_size", "x")], b"", "page_size"),
        ("appos.v1.Auth.ListUsers", [("page_size", "1"), ("page_size", "2")], b"", "more than once"),
        ("appos.v1.Auth.ListUsers", [("limit", "1")], b"", "unknown query parameter"),
        ("appos.v1.Auth.ListUsers", [], b'{"page_size": 1}', "no request body"),
        ("appos.v1.Auth.ListTokens", [("all_users", "maybe")], b"", "true or false"),
        ("appos.v1.Auth.CreateToken", [], b'{"expires_in_days": 1e40}', "expires_in_days"),
    ],
)
def test_bad_requests_are_invalid_argument(
    name: str, query: list[tuple[str, str]], body: bytes, needle: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        build_request(ROUTES[name], path_params={}, query=query, body=body)
    assert needle.lower() in info.value.message.lower()


def test_replies_use_proto_field_names_and_print_defaults() -> None:
    reply = auth_pb2.LoginReply(access_token="t", token_type="bearer", expires_in=60)
    out = to_json(reply)
    assert out["access_token"] == "t" and out["expires_in"] == 60
    assert to_json(auth_pb2.ListUsersReply()) == {"users": [], "next_page_token": ""}
