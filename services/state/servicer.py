"""The internal State service: proto in, one domain call in one session, proto out."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from appos.v1 import common_pb2, state_pb2, state_pb2_grpc
from services.common.timestamps import ts_us
from services.state import events, tokens, users
from services.state.models import fill_user
from services.state.store import Store

# How long a watcher sleeps between checks that its caller is still there.
WATCH_POLL_SECONDS = 1.0


class StateServicer(state_pb2_grpc.StateServicer):
    def __init__(self, store: Store) -> None:
        self.store = store

    # users
    def CreateUser(
        self, request: state_pb2.StateCreateUserRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return users.create_user(
                session=s,
                username=request.username,
                password_hash=request.password_hash,
                role=request.role,
                actor=request.actor,
            ).to_pb()

    def GetUserCredentials(
        self, request: state_pb2.StateGetUserRequest, context: grpc.ServicerContext
    ) -> state_pb2.UserCredentials:
        with self.store.read() as s:
            user = users.get_user(session=s, username=request.username)
            return state_pb2.UserCredentials(user=user.to_pb(), password_hash=user.password_hash)

    def GetUser(
        self, request: state_pb2.StateGetUserRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.read() as s:
            return users.get_user(session=s, username=request.username).to_pb()

    def ListUsers(
        self, request: state_pb2.StateListUsersRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListUsersReply:
        with self.store.read() as s:
            found, next_token = users.list_users(
                session=s, page_size=request.page_size, page_token=request.page_token
            )
        reply = state_pb2.StateListUsersReply(next_page_token=next_token)
        for row in found:
            fill_user(reply.users.add(), row)
        return reply

    def UpdateUser(
        self, request: state_pb2.StateUpdateUserRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return users.update_user(
                session=s,
                username=request.username,
                role=request.role if request.HasField("role") else None,
                password_hash=request.password_hash if request.HasField("password_hash") else None,
                disabled=request.disabled if request.HasField("disabled") else None,
                actor=request.actor,
            ).to_pb()

    def DeleteUser(
        self, request: state_pb2.StateDeleteUserRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return users.delete_user(session=s, username=request.username, actor=request.actor).to_pb()

    # tokens
    def CreateToken(
        self, request: state_pb2.StateCreateTokenRequest, context: grpc.ServicerContext
    ) -> common_pb2.ApiToken:
        with self.store.write() as s:
            return tokens.create_token(
                session=s,
                username=request.username,
                name=request.name,
                role=request.role,
                token_hash=request.token_hash,
                prefix=request.prefix,
                expires_at=ts_us(request.expires_at) if request.HasField("expires_at") else None,
                actor=request.actor,
            ).to_pb()

    def ListTokens(
        self, request: state_pb2.StateListTokensRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListTokensReply:
        with self.store.read() as s:
            found = tokens.list_tokens(session=s, username=request.username)
            return state_pb2.StateListTokensReply(tokens=[t.to_pb() for t in found])

    def RevokeToken(
        self, request: state_pb2.StateRevokeTokenRequest, context: grpc.ServicerContext
    ) -> common_pb2.ApiToken:
        with self.store.write() as s:
            return tokens.revoke_token(
                session=s, token_id=request.id, username=request.username, actor=request.actor
            ).to_pb()

    def ResolveToken(
        self, request: state_pb2.StateResolveTokenRequest, context: grpc.ServicerContext
    ) -> state_pb2.ResolvedToken:
        with self.store.read() as s:
            token = tokens.resolve_token(session=s, token_hash=request.token_hash)
            reply = state_pb2.ResolvedToken(token=token.to_pb(), user=token.user.to_pb())
            stale = tokens.needs_touch(token)
        if stale:
            with self.store.write() as s:
                tokens.touch_token(session=s, token_id=reply.token.id)
        return reply

    # events
    def AppendEvent(
        self, request: state_pb2.StateAppendEventRequest, context: grpc.ServicerContext
    ) -> common_pb2.Event:
        with self.store.write() as s:
            return events.append_raw(
                session=s,
                type=request.type,
                subject=request.subject,
                actor=request.actor,
                payload_json=request.payload_json,
            ).to_pb()

    def ListEvents(
        self, request: state_pb2.StateListEventsRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListEventsReply:
        with self.store.read() as s:
            found = events.list_after(session=s, after_seq=request.after_seq, limit=request.limit)
            return state_pb2.StateListEventsReply(
                events=[e.to_pb() for e in found], last_seq=self.store.notifier.last_seq
            )

    def Watch(
        self, request: state_pb2.StateWatchRequest, context: grpc.ServicerContext
    ) -> Iterator[common_pb2.Event]:
        """Replay from `after_seq`, then follow. Reads in pages, so memory stays flat however far
        back the caller starts; each event goes out exactly once, in seq order."""
        last = request.after_seq
        notifier = self.store.notifier
        while context.is_active() and not notifier.closed:
            with self.store.read() as s:
                batch = [
                    e.to_pb() for e in events.list_after(session=s, after_seq=last, limit=events.MAX_PAGE)
                ]
            for event in batch:
                yield event
                last = event.seq
            if not batch:
                notifier.wait_beyond(last, WATCH_POLL_SECONDS)
