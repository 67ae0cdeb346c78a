"""A session's output as a bounded ring of bytes, addressed by absolute offsets.

Offsets count every byte the session ever wrote. The ring keeps the newest `capacity` of them:
offsets `start` to `total`. A reader (an attached connection) keeps its own offset, so live output
and a reattach's replay come from the same buffer, without gaps or repeats.
"""

from __future__ import annotations


class Scrollback:
    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._buf = bytearray(capacity)
        self.total = 0

    @property
    def start(self) -> int:
        """The oldest offset still held."""
        return max(0, self.total - self.capacity)

    def write(self, data: bytes) -> None:
        if len(data) >= self.capacity:  # only the newest `capacity` bytes can be kept
            self.total += len(data) - self.capacity
            data = data[-self.capacity :]
        pos = self.total % self.capacity
        first = min(len(data), self.capacity - pos)
        self._buf[pos : pos + first] = data[:first]
        self._buf[: len(data) - first] = data[first:]
        self.total += len(data)

    def read(self, offset: int, limit: int) -> tuple[bytes, int]:
        """Up to `limit` bytes from `offset` (or from `start`, if that is newer), and the offset
        after them."""
        offset = max(offset, self.start)
        end = min(self.total, offset + limit)
        if end <= offset:
            return b"", offset
        pos, stop = offset % self.capacity, end % self.capacity
        if pos < stop or stop == 0:
            chunk = bytes(self._buf[pos : stop or self.capacity])
        else:
            chunk = bytes(self._buf[pos:]) + bytes(self._buf[:stop])
        return chunk, end
