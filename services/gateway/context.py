"""Who is calling, and from where: handed to every method the gateway serves or forwards."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    username: str
    role: str
    # Set when the caller authenticated with an API token rather than a login.
    token_id: str = ""
    # Set for a login's access token: its id (`jti`) and expiry (epoch seconds), for signing out.
    session_id: str = ""
    session_expires: float = 0.0


@dataclass(frozen=True)
class CallContext:
    caller: Caller | None
    client_address: str
    request_id: str

    def require_caller(self) -> Caller:
        from services.common.errors import Unauthenticated

        if self.caller is None:
            raise Unauthenticated("a bearer token is required")
        return self.caller
