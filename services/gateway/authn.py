"""Bearer tokens: signed access tokens from a login (JWT, HS256) and API tokens (`appos_…`).

An access token is signed with the gateway's key (`signing_key.py`); rotating the key ends every
session. It names its user; the user's current role and status come from state (cached for a
few seconds, and dropped by every gateway process as soon as one of them changes the user:
`sessions.py`), so a disabled user or a changed password ends every session of that user. A
signed-out session is looked up in Redis on each use. API tokens are looked up by their SHA-256 in
state on every use, so a revoked token stops working at once, whichever gateway process answers.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

import jwt

from appos.v1 import common_pb2, state_pb2, state_pb2_grpc
from services.common.clients import aio_call
from services.common.errors import NotFound, Unauthenticated
from services.common.roles import ROLES
from services.gateway.context import Caller
from services.gateway.sessions import Sessions
from services.gateway.signing_key import SigningKey

API_TOKEN_PREFIX = "appos_"
_ALGORITHM = "HS256"
_USER_CACHE_SECONDS = 5.0


def new_api_token() -> tuple[str, str, str]:
    """(secret, its SHA-256 hex, a short display prefix)."""
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_api_token(secret), secret[: len(API_TOKEN_PREFIX) + 4]


def hash_api_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _user_version(user: common_pb2.User) -> int:
    """Microseconds of the user's last change: a token from before it is no longer valid."""
    return user.updated_at.seconds * 1_000_000 + user.updated_at.nanos // 1000


def _why_ended(user: common_pb2.User | None, role: str) -> str:
    """Why a login's session no longer holds, for the user to read."""
    if user is None:
        return "the session has ended: the account no longer exists"
    if user.disabled:
        return "the session has ended: the account has been disabled"
    if role and user.role != role:
        return f"the session has ended: your role changed from {role} to {user.role}; log in again"
    return "the session has ended: the account changed (a new password, or a restored backup); log in again"


class Authenticator:
    def __init__(
        self,
        *,
        state: state_pb2_grpc.StateStub,
        key: SigningKey,
        ttl_seconds: int,
        rpc_timeout: float,
        sessions: Sessions,
    ) -> None:
        self._state = state
        self.sessions = sessions
        self.key = key
        self.ttl_seconds = ttl_seconds
        self._timeout = rpc_timeout
        # username → (when it was read, the user's generation then, the record)
        self._users: dict[str, tuple[float, int | None, common_pb2.User]] = {}

    def issue(self, user: common_pb2.User) -> str:
        now = int(time.time())
        claims = {
            "sub": user.username,
            "role": user.role,
            "uv": _user_version(user),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.key.current(), algorithm=_ALGORITHM)

    async def forget(self, username: str) -> None:
        """The user was changed: this process and every other read it again."""
        self._users.pop(username, None)
        await self.sessions.user_changed(username)

    async def authenticate(self, authorization: str | None) -> Caller:
        if not authorization:
            raise Unauthenticated("a bearer token is required (Authorization: Bearer …)")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return await self.authenticate_token(token)

    async def authenticate_token(self, token: str) -> Caller:
        if token.startswith(API_TOKEN_PREFIX):
            return await self._api_token(token)
        return await self._access_token(token)

    async def _api_token(self, token: str) -> Caller:
        if len(token) > 128:
            raise Unauthenticated("invalid, expired or revoked token")
        resolved: state_pb2.ResolvedToken = await aio_call(
            self._state.ResolveToken,
            state_pb2.StateResolveTokenRequest(token_hash=hash_api_token(token)),
            service="state",
            timeout=self._timeout,
        )
        # A token never has more rights than its owner has now.
        role = min(resolved.token.role, resolved.user.role, key=ROLES.index)
        return Caller(username=resolved.user.username, role=role, token_id=resolved.token.id)

    async def _access_token(self, token: str) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self.key.current(),
                algorithms=[_ALGORITHM],
                options={"require": ["sub", "exp", "iat", "uv"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the access token has expired; log in again") from exc
        except jwt.InvalidSignatureError as exc:  # forged, or signed before a key rotation
            raise Unauthenticated(
                "invalid access token (the signing key may have changed); log in again"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid access token") from exc

        session = str(claims.get("jti") or "")
        if not session:  # every token this gateway issues has one
            raise Unauthenticated("invalid access token")
        view = await self.sessions.look_up(session, str(claims["sub"]))
        if view.signed_out:
            raise Unauthenticated("the session has ended: signed out; log in again")

        def ended(user: common_pb2.User | None) -> bool:
            return user is None or user.disabled or _user_version(user) > int(claims["uv"])

        username, generation = str(claims["sub"]), view.user_generation
        user = await self.current_user(username, generation=generation)
        if ended(user):  # the cache may be older than the token (a restore replaced the users): ask again
            user = await self.current_user(username, fresh=True, generation=generation)
        if user is None or ended(user):
            raise Unauthenticated(_why_ended(user, str(claims.get("role", ""))))
        return Caller(
            username=user.username, role=user.role, session_id=session, session_expires=float(claims["exp"])
        )

    async def current_user(
        self, username: str, *, fresh: bool = False, generation: int | None = None
    ) -> common_pb2.User | None:
        """The user's record, from the cache while it is younger than a few seconds and (when the
        caller read it: `generation`) no gateway process changed the user since it was read."""
        cached = self._users.get(username)
        now = time.monotonic()
        if (
            not fresh
            and cached is not None
            and now - cached[0] < _USER_CACHE_SECONDS
            and (generation is None or cached[1] == generation)
        ):
            return cached[2]
        try:
            user: common_pb2.User = await aio_call(
                self._state.GetUser,
                state_pb2.StateGetUserRequest(username=username),
                service="state",
                timeout=self._timeout,
            )
        except NotFound:
            self._users.pop(username, None)
            return None
        self._users[username] = (now, generation, user)
        return user
