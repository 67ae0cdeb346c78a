"""One notification to one target, as the worker runs it: at most once per (event, target), a
bounded number of attempts with exponential backoff, and the outcome recorded in state."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from redis import Redis

from appos.v1 import notifications_pb2, state_pb2
from services.common.errors import DeadlineExceeded, NotFound, Unavailable
from services.common.state_client import StateClient
from services.common.timestamps import now_us, set_ts
from services.notify.events import Notification
from services.notify.send import Result, deliver

logger = logging.getLogger(__name__)

CLAIM_TTL_SECONDS = 7 * 24 * 3600


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1, 2, …): base, 2·base, 4·base, … up to cap."""
    return float(min(base * 2 ** (attempt - 1), cap))


def delivery_id(note: Notification, target: str) -> str:
    """Stable across retries and re-dispatches, so a receiver can drop a repeat it already has."""
    return f"{note.seq}-{target}"


def claim_key(seq: int, target: str) -> str:
    return f"appos:notify:claim:{seq}:{target}"


def delivery_pb(
    *, target: str, note: Notification, result: Result, attempts: int, status: str
) -> notifications_pb2.NotificationDelivery:
    pb = notifications_pb2.NotificationDelivery(
        status=status, error=result.error, attempts=attempts, http_status=result.http_status,
        event=note.event, seq=note.seq, target=target,
    )  # fmt: skip
    set_ts(pb.at, now_us())
    return pb


class Deliverer:
    def __init__(
        self,
        *,
        state: StateClient,
        redis: Redis,
        max_attempts: int,
        retry_base_seconds: float,
        retry_max_seconds: float,
        timeout_seconds: float,
        send: Callable[..., Result] = deliver,
    ) -> None:
        self.state = state
        self.send = send
        self.redis = redis
        self.max_attempts = max(1, max_attempts)
        self.retry_base = retry_base_seconds
        self.retry_max = retry_max_seconds
        self.timeout = timeout_seconds

    def _claimed(self, seq: int, target: str, claim: str) -> bool:
        """True for the first message of this (event, target) and its retries; a second dispatch of
        the same event (the deployer restarted before saving its cursor) finds another claim."""
        key = claim_key(seq, target)
        if self.redis.set(key, claim, nx=True, ex=CLAIM_TTL_SECONDS):
            return True
        held = self.redis.get(key)
        return (held.decode() if isinstance(held, bytes) else held) == claim

    def run(self, *, target: str, notification: dict[str, Any], claim: str, attempt: int) -> float | None:
        """One attempt; the seconds to wait before the next one, or None when done."""
        note = Notification.from_dict(notification)
        if not self._claimed(note.seq, target, claim):
            logger.info("notification of event %d to %s was already sent; dropped", note.seq, target)
            return None
        try:
            record: state_pb2.StateNotificationTarget = self.state.stub.GetNotificationTarget(
                state_pb2.StateGetNotificationTargetRequest(name=target)
            )
        except NotFound:
            logger.info("notification target %s was removed; event %d not sent", target, note.seq)
            return None
        except (Unavailable, DeadlineExceeded) as exc:
            if attempt >= self.max_attempts:
                logger.error("notification of event %d to %s lost: %s", note.seq, target, exc.message)
                return None
            return backoff(attempt, base=self.retry_base, cap=self.retry_max)
        if not record.enabled:
            return None
        result = self.send(
            record.kind, json.loads(record.config_json or "{}"), note,
            delivery_id=delivery_id(note, target), timeout=self.timeout,
        )  # fmt: skip
        final = result.ok or not result.retryable or attempt >= self.max_attempts
        status = "delivered" if result.ok else ("failed" if final else "retrying")
        delivery = delivery_pb(target=target, note=note, result=result, attempts=attempt, status=status)
        self.record(delivery, final_failure=status == "failed")
        if result.ok:
            logger.info("%s notification (event %d) delivered to %s", note.event, note.seq, target)
            return None
        logger.warning(
            "%s notification (event %d) to %s, attempt %d/%d: %s",
            note.event, note.seq, target, attempt, self.max_attempts, result.error,
        )  # fmt: skip
        return None if final else backoff(attempt, base=self.retry_base, cap=self.retry_max)

    def record(self, delivery: notifications_pb2.NotificationDelivery, *, final_failure: bool) -> None:
        record_delivery(self.state, delivery, final_failure=final_failure)


def record_delivery(
    state: StateClient, delivery: notifications_pb2.NotificationDelivery, *, final_failure: bool
) -> None:
    """Keep it as the target's last delivery; `final_failure` also appends `notification_failed`."""
    try:
        state.stub.RecordNotificationDelivery(
            state_pb2.StateRecordNotificationDeliveryRequest(delivery=delivery, final_failure=final_failure),
        )
    except NotFound:
        pass  # the target was removed meanwhile
