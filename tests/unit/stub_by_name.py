"""A stand-in for a generated gRPC stub in unit fakes: `stub.Method(request, **options)` calls
`handler("Method", request)`, so a fake answers the few methods the code under test uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class StubByName:
    def __init__(self, handler: Callable[[str, Any], Any]) -> None:
        self._handler = handler

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(request: Any, **_options: Any) -> Any:
            return self._handler(method, request)

        return call
