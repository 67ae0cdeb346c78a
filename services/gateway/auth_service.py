"""The public Auth service, served by the gateway itself: logins, identity, API tokens, users.

Passwords are checked and hashed here (argon2id, in a worker thread); state stores only hashes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc.aio

from appos.v1 import auth_pb2, common_pb2, state_pb2, state_pb2_grpc
from services.common.clients import aio_call, call_metadata, origin
from services.common.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from services.common.passwords import hash_password, validate_password, verify_password
from services.common.roles import role_allows, validate_role
from services.common.timestamps import MICROS, now_us, set_ts
from services.gateway.audit import UNKNOWN_USER, LoginRefused
from services.gateway.authn import Authenticator, new_api_token
from services.gateway.context import CallContext
from services.gateway.ratelimit import LoginLimiter
from services.gateway.second_factor import SecondFactor
from services.gateway.state_replies import reply_as

MAX_TOKEN_DAYS = 3650


class AuthService:
    def __init__(
        self,
        *,
        state: state_pb2_grpc.StateStub,
        state_channel: grpc.aio.Channel,
        authenticator: Authenticator,
        limiter: LoginLimiter,
        second_factor: SecondFactor,
        rpc_timeout: float,
    ) -> None:
        self._state = state
        self._list_users = reply_as(state_channel, "ListUsers", auth_pb2.ListUsersReply)
        self._authn = authenticator
        self._limiter = limiter
        self._second_factor = second_factor
        self._timeout = rpc_timeout

    async def _call(self, method: Any, request: Any) -> Any:
        return await aio_call(
            method, request, service="state", timeout=self._timeout, metadata=call_metadata()
        )

    async def _event(self, type_: str, subject: str, actor: str, payload: dict[str, str]) -> None:
        request = state_pb2.StateAppendEventRequest(
            type=type_, subject=subject, actor=actor, payload_json=json.dumps(payload)
        )
        await self._call(self._state.AppendEvent, request)

    async def _credentials(self, username: str) -> state_pb2.UserCredentials | None:
        try:
            creds: state_pb2.UserCredentials = await self._call(
                self._state.GetUserCredentials, state_pb2.StateGetUserRequest(username=username)
            )
        except NotFound:
            return None
        return creds

    async def Login(self, request: auth_pb2.LoginRequest, ctx: CallContext) -> auth_pb2.LoginReply:
        username, address = request.username.strip().lower()[:64], ctx.client_address
        await self._limiter.check(username=username, address=address)
        creds = await self._credentials(username) if username else None
        ok = await asyncio.to_thread(
            verify_password, creds.password_hash if creds else None, request.password
        )
        if not ok or creds is None or creds.user.disabled:
            await self._limiter.failed(username=username, address=address)
            # what was typed is never recorded (people type passwords there): the account, if any
            subject = creds.user.username if creds is not None else UNKNOWN_USER
            with origin(()):  # not a change: the gateway records the failed login in the audit log
                await self._event("login_failed", subject, subject, {"address": address})
            raise LoginRefused(subject)
        await self._second_factor.for_login(creds.user, request, address=address)
        await self._limiter.succeeded(username=username, address=address)
        await self._event("login_succeeded", username, username, {"address": ctx.client_address})
        return auth_pb2.LoginReply(
            access_token=self._authn.issue(creds.user),
            token_type="bearer",
            expires_in=self._authn.ttl_seconds,
            user=creds.user,
        )

    async def Me(self, request: auth_pb2.MeRequest, ctx: CallContext) -> common_pb2.User:
        caller = ctx.require_caller()
        user = await self._authn.current_user(caller.username)
        if user is None:
            raise Unauthenticated("the account no longer exists")
        return user

    async def Logout(self, request: auth_pb2.LogoutRequest, ctx: CallContext) -> auth_pb2.LogoutReply:
        caller = ctx.require_caller()
        if not caller.session_id:
            raise InvalidArgument(
                "this call carries an API token, which does not sign out: revoke it "
                "(DELETE /api/v1/tokens/{id}) to end it"
            )
        await self._authn.sessions.sign_out(caller.session_id, caller.session_expires)
        await self._event("logout", caller.username, caller.username, {"address": ctx.client_address})
        return auth_pb2.LogoutReply(username=caller.username)

    async def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, ctx: CallContext
    ) -> common_pb2.User:
        caller = ctx.require_caller()
        validate_password(request.new_password)
        creds = await self._credentials(caller.username)
        ok = await asyncio.to_thread(
            verify_password, creds.password_hash if creds else None, request.current_password
        )
        if not ok:
            raise PermissionDenied("the current password is wrong")
        new_hash = await asyncio.to_thread(hash_password, request.new_password)
        user: common_pb2.User = await self._call(
            self._state.UpdateUser,
            state_pb2.StateUpdateUserRequest(
                username=caller.username, password_hash=new_hash, actor=caller.username
            ),
        )
        await self._authn.forget(caller.username)
        return user

    async def CreateToken(
        self, request: auth_pb2.CreateTokenRequest, ctx: CallContext
    ) -> auth_pb2.CreateTokenReply:
        caller = ctx.require_caller()
        role = validate_role(request.role) if request.role else caller.role
        if not role_allows(caller.role, role):
            raise PermissionDenied(f"a {caller.role} cannot create a token with role {role}")
        if not 0 <= request.expires_in_days <= MAX_TOKEN_DAYS:
            raise InvalidArgument(f"expires_in_days must be between 0 (never) and {MAX_TOKEN_DAYS}")
        await self._second_factor.for_new_token(caller, request.totp_code, address=ctx.client_address)
        secret, token_hash, prefix = new_api_token()
        create = state_pb2.StateCreateTokenRequest(
            username=caller.username,
            name=request.name,
            role=role,
            token_hash=token_hash,
            prefix=prefix,
            actor=caller.username,
        )
        if request.expires_in_days:
            set_ts(create.expires_at, now_us() + request.expires_in_days * 86400 * MICROS)
        token: common_pb2.ApiToken = await self._call(self._state.CreateToken, create)
        return auth_pb2.CreateTokenReply(id=token.id, secret=secret, token=token)

    async def ListTokens(
        self, request: auth_pb2.ListTokensRequest, ctx: CallContext
    ) -> auth_pb2.ListTokensReply:
        caller = ctx.require_caller()
        if request.all_users and caller.role != "admin":
            raise PermissionDenied("only admins may list every user's tokens")
        reply: state_pb2.StateListTokensReply = await self._call(
            self._state.ListTokens,
            state_pb2.StateListTokensRequest(username="" if request.all_users else caller.username),
        )
        return auth_pb2.ListTokensReply(tokens=reply.tokens)

    async def RevokeToken(
        self, request: auth_pb2.RevokeTokenRequest, ctx: CallContext
    ) -> common_pb2.ApiToken:
        caller = ctx.require_caller()
        owner = "" if caller.role == "admin" else caller.username
        token: common_pb2.ApiToken = await self._call(
            self._state.RevokeToken,
            state_pb2.StateRevokeTokenRequest(id=request.id, username=owner, actor=caller.username),
        )
        return token

    async def ListUsers(
        self, request: auth_pb2.ListUsersRequest, ctx: CallContext
    ) -> auth_pb2.ListUsersReply:
        # state's reply read as the public one (state_replies.py): no copy of a thousand users
        reply: auth_pb2.ListUsersReply = await self._call(
            self._list_users,
            state_pb2.StateListUsersRequest(page_size=request.page_size, page_token=request.page_token),
        )
        return reply

    async def GetUser(self, request: auth_pb2.GetUserRequest, ctx: CallContext) -> common_pb2.User:
        user: common_pb2.User = await self._call(
            self._state.GetUser, state_pb2.StateGetUserRequest(username=request.username)
        )
        return user

    async def CreateUser(self, request: auth_pb2.CreateUserRequest, ctx: CallContext) -> common_pb2.User:
        caller = ctx.require_caller()
        validate_role(request.role)
        validate_password(request.password)
        password_hash = await asyncio.to_thread(hash_password, request.password)
        user: common_pb2.User = await self._call(
            self._state.CreateUser,
            state_pb2.StateCreateUserRequest(
                username=request.username,
                password_hash=password_hash,
                role=request.role,
                actor=caller.username,
            ),
        )
        return user

    async def UpdateUser(self, request: auth_pb2.UpdateUserRequest, ctx: CallContext) -> common_pb2.User:
        caller = ctx.require_caller()
        update = state_pb2.StateUpdateUserRequest(username=request.username, actor=caller.username)
        if request.HasField("role"):
            update.role = validate_role(request.role)
        if request.HasField("disabled"):
            update.disabled = request.disabled
        if request.HasField("password"):
            validate_password(request.password)
            update.password_hash = await asyncio.to_thread(hash_password, request.password)
        user: common_pb2.User = await self._call(self._state.UpdateUser, update)
        await self._authn.forget(request.username)
        return user

    async def DeleteUser(
        self, request: auth_pb2.DeleteUserRequest, ctx: CallContext
    ) -> auth_pb2.DeleteUserReply:
        caller = ctx.require_caller()
        await self._call(
            self._state.DeleteUser,
            state_pb2.StateDeleteUserRequest(username=request.username, actor=caller.username),
        )
        await self._authn.forget(request.username)
        return auth_pb2.DeleteUserReply()

    # two-factor authentication (second_factor.py)
    async def BeginTotpSetup(
        self, request: auth_pb2.BeginTotpSetupRequest, ctx: CallContext
    ) -> auth_pb2.BeginTotpSetupReply:
        return await self._second_factor.begin(ctx.require_caller())

    async def ConfirmTotpSetup(
        self, request: auth_pb2.ConfirmTotpSetupRequest, ctx: CallContext
    ) -> auth_pb2.ConfirmTotpSetupReply:
        caller = ctx.require_caller()
        reply = await self._second_factor.confirm(caller, request.code)
        await self._authn.forget(caller.username)
        return reply

    async def DisableTotp(self, request: auth_pb2.DisableTotpRequest, ctx: CallContext) -> common_pb2.User:
        caller = ctx.require_caller()
        user = await self._second_factor.disable(caller, request)
        await self._authn.forget(caller.username)
        return user

    async def ResetTotp(self, request: auth_pb2.ResetTotpRequest, ctx: CallContext) -> common_pb2.User:
        caller = ctx.require_caller()
        user = await self._second_factor.reset(request.username, actor=caller.username)
        await self._authn.forget(request.username)
        return user
