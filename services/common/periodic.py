"""Background jobs that run every few seconds in a service process and survive a bad round."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


def every(seconds: float, stop: threading.Event, job: Callable[[], object], name: str) -> None:
    def loop() -> None:
        while not stop.is_set():
            try:
                job()
            except Exception:  # noqa: BLE001 - a periodic job must survive a bad round
                logger.warning("%s failed", name, exc_info=True)
            stop.wait(seconds)

    threading.Thread(target=loop, name=name, daemon=True).start()
