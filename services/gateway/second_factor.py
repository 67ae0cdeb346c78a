"""Two-factor authentication (TOTP) as the gateway sees it: setting it up for the caller, the second
step of a login, and the code a terminal needs. State keeps the secret and checks the codes
(`services/state/totp.py`); the gateway makes the secret, its QR code and the recovery codes, which
it shows once and sends to state only as hashes.

Sessions of a login need the code; API tokens (`appos_…`, for scripts) never do. A wrong or
replayed code counts as a failed login for that user at that address (`ratelimit.LoginLimiter`),
at login and at a terminal alike, so codes cannot be guessed faster than passwords.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from appos.v1 import auth_pb2, common_pb2, state_pb2, state_pb2_grpc
from services.common import totp
from services.common.clients import aio_call, call_metadata, origin
from services.common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from services.common.passwords import verify_password
from services.gateway.audit import LoginRefused
from services.gateway.context import Caller
from services.gateway.ratelimit import LoginLimiter


class TotpRequired(LoginRefused):
    """The password was right and the account has 2FA: the client should ask for a code."""

    reason = "totp_required"

    def __init__(self, account: str, message: str) -> None:
        super().__init__(account)
        self.message = message
        self.args = (message,)


class CodeRefused(LoginRefused):
    """A wrong, expired or replayed two-factor code (or recovery code)."""

    reason = "totp_invalid"

    def __init__(self, account: str, message: str) -> None:
        super().__init__(account)
        self.message = message
        self.args = (message,)


class StepUpRequired(PermissionDenied):
    """A signed-in call that needs a current code too (not a failed sign-in: the session stays)."""

    reason = "totp_required"


class StepUpRefused(PermissionDenied):
    reason = "totp_invalid"


LOGIN_NEEDS_CODE = (
    "this account has two-factor authentication: send totp_code (the 6-digit code from the "
    "authenticator app) or recovery_code with the password"
)


def needs_code(action: str) -> str:
    """Shown in the console's code prompt: plain words (how clients send it is in
    docs/architecture.md)."""
    return (
        "two-factor authentication is on for your account: enter the current 6-digit code from your "
        f"authenticator app to {action}"
    )


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an SVG document (black modules on a transparent background)."""
    import segno  # only when someone sets up two-factor: not in the gateway's idle memory

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, nl=False)
    return out.getvalue().decode()


class SecondFactor:
    def __init__(self, *, state: state_pb2_grpc.StateStub, limiter: LoginLimiter, rpc_timeout: float) -> None:
        self._state = state
        self._limiter = limiter
        self._timeout = rpc_timeout

    async def _call(self, method: Any, request: Any) -> Any:
        return await aio_call(
            method, request, service="state", timeout=self._timeout, metadata=call_metadata()
        )

    async def _verify(
        self, username: str, *, totp_code: str = "", recovery_code: str = ""
    ) -> state_pb2.StateVerifySecondFactorReply:
        request = state_pb2.StateVerifySecondFactorRequest(
            username=username,
            totp_code=totp_code[:32],
            recovery_code_hash=totp.hash_recovery_code(recovery_code) if recovery_code else "",
        )
        reply: state_pb2.StateVerifySecondFactorReply = await self._call(
            self._state.VerifySecondFactor, request
        )
        return reply

    async def _refused(self, username: str, address: str, exc: Unauthenticated, where: str) -> CodeRefused:
        """Count a wrong code as a failed login and record it (never the code)."""
        await self._limiter.failed(username=username, address=address)
        event = state_pb2.StateAppendEventRequest(
            type="login_failed",
            subject=username,
            actor=username,
            payload_json=json.dumps({"address": address, "reason": f"two-factor code ({where})"}),
        )
        with origin(()):  # not a change: the gateway records the refused call in the audit log
            await self._call(self._state.AppendEvent, event)
        return CodeRefused(username, exc.message)

    async def for_login(self, user: common_pb2.User, request: auth_pb2.LoginRequest, *, address: str) -> None:
        """After a right password: nothing for an account without 2FA; else a code must pass."""
        if not user.totp_enabled:
            return
        if not request.totp_code and not request.recovery_code:
            raise TotpRequired(user.username, LOGIN_NEEDS_CODE)  # not a failure: the password was right
        try:
            await self._verify(
                user.username, totp_code=request.totp_code, recovery_code=request.recovery_code
            )
        except Unauthenticated as exc:
            raise await self._refused(user.username, address, exc, "login") from exc

    async def for_terminal(self, caller: Caller, code: str, *, address: str) -> None:
        """A login's session opening a terminal needs a fresh code when its user has 2FA."""
        await self._step_up(caller, code, address=address, where="terminal", action="open a terminal")

    async def for_new_token(self, caller: Caller, code: str, *, address: str) -> None:
        """A login's session creating an API token needs a fresh code when its user has 2FA: a token
        is never asked for one, so a stolen session alone would otherwise mint its way around it."""
        try:
            await self._step_up(
                caller, code, address=address, where="new API token", action="create an API token"
            )
        except TotpRequired as exc:
            raise StepUpRequired(exc.message) from exc
        except CodeRefused as exc:
            raise StepUpRefused(exc.message) from exc

    async def _step_up(self, caller: Caller, code: str, *, address: str, where: str, action: str) -> None:
        if caller.token_id:
            return  # an API token: for scripts, never asked for a code
        await self._limiter.check(username=caller.username, address=address)
        try:
            reply = await self._verify(caller.username, totp_code=code)
        except Unauthenticated as exc:
            raise await self._refused(caller.username, address, exc, where) from exc
        if reply.enabled and not reply.factor:
            raise TotpRequired(caller.username, needs_code(action))

    async def begin(self, caller: Caller) -> auth_pb2.BeginTotpSetupReply:
        secret = totp.new_secret()
        await self._call(
            self._state.BeginTotp, state_pb2.StateBeginTotpRequest(username=caller.username, secret=secret)
        )
        uri = totp.provisioning_uri(secret, caller.username)
        return auth_pb2.BeginTotpSetupReply(
            secret=secret, otpauth_uri=uri, qr_svg=await asyncio.to_thread(qr_svg, uri)
        )

    async def confirm(self, caller: Caller, code: str) -> auth_pb2.ConfirmTotpSetupReply:
        if not code.strip():
            raise InvalidArgument("code is required: the 6-digit code the authenticator app shows")
        codes = totp.new_recovery_codes()
        request = state_pb2.StateConfirmTotpRequest(
            username=caller.username,
            code=code[:32],
            recovery_code_hashes=[totp.hash_recovery_code(c) for c in codes],
            actor=caller.username,
        )
        user: common_pb2.User = await self._call(self._state.ConfirmTotp, request)
        return auth_pb2.ConfirmTotpSetupReply(recovery_codes=codes, user=user)

    async def disable(self, caller: Caller, request: auth_pb2.DisableTotpRequest) -> common_pb2.User:
        """Needs the caller's password or a current code: a session left open is not enough."""
        if request.code:
            try:
                await self._verify(caller.username, totp_code=request.code)
            except Unauthenticated as exc:
                raise PermissionDenied(exc.message) from exc
        elif request.password:
            creds: state_pb2.UserCredentials = await self._call(
                self._state.GetUserCredentials, state_pb2.StateGetUserRequest(username=caller.username)
            )
            if not await asyncio.to_thread(verify_password, creds.password_hash, request.password):
                raise PermissionDenied("the password is wrong")
        else:
            raise InvalidArgument("send the account's password or a current two-factor code")
        return await self._disable(caller.username, actor=caller.username, reason="disabled")

    async def reset(self, username: str, *, actor: str) -> common_pb2.User:
        return await self._disable(username, actor=actor, reason="reset")

    async def _disable(self, username: str, *, actor: str, reason: str) -> common_pb2.User:
        request = state_pb2.StateDisableTotpRequest(username=username, actor=actor, reason=reason)
        user: common_pb2.User = await self._call(self._state.DisableTotp, request)
        return user
