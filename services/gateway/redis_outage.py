"""What a gateway process does while Redis does not answer a look-up it makes on every request
(signed-out sessions, open stream counts): it falls back on what it knows itself, stops asking for a
moment (each failed call costs redis-py's retries, seconds in all: every request would wait that
long), and says so in its log once a minute rather than on every request."""

from __future__ import annotations

import logging
import time

SKIP_SECONDS = 2.0
WARN_EVERY_SECONDS = 60.0


class RedisOutage:
    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._skip_until = float("-inf")
        self._warned = float("-inf")

    @property
    def skipping(self) -> bool:
        """Redis failed a moment ago: use the fallback without asking it."""
        return time.monotonic() < self._skip_until

    def failed(self, message: str) -> None:
        """Call from the `except RedisError` block (the log line carries the error)."""
        now = time.monotonic()
        self._skip_until = now + SKIP_SECONDS
        if now - self._warned >= WARN_EVERY_SECONDS:
            self._warned = now
            self._logger.warning(message, exc_info=True)
