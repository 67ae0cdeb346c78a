"""Follows the event log (State.Watch) and queues one delivery task per (event, target).

Where it got to is kept in state's settings (`notifications.cursor`), written after the tasks of an
event are queued, so a restart resumes there: nothing is missed. If the deployer dies between
queuing and saving, the same event is queued again after the restart; the worker's claim key
(`delivery.Deliverer`) drops that second copy, so nothing is sent twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from appos.v1 import common_pb2, state_pb2, state_pb2_grpc
from services.common.clients import call_metadata, sync_channel
from services.common.errors import AppOSError, NotFound
from services.common.state_client import StateClient
from services.notify.events import from_event

logger = logging.getLogger(__name__)

CURSOR_KEY = "notifications.cursor"
# The cursor is also saved after events that notify nobody, at most this often.
SAVE_EVERY_SECONDS = 10.0

Enqueue = Callable[[str, dict[str, Any], str], None]


class Dispatcher:
    def __init__(self, *, state: StateClient, state_socket: Path, enqueue: Enqueue) -> None:
        self.state = state
        self.state_socket = state_socket
        self.enqueue = enqueue
        self._stop = threading.Event()
        self._call: Any = None
        self.last = 0  # the last event fully handled
        self._loaded = False
        self._saved = 0
        self._saved_at = 0.0

    def start(self) -> None:
        threading.Thread(target=self._run, name="notify-dispatcher", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()

    def load_cursor(self) -> int:
        """The saved cursor; 0 on the very first start. Targets exist only after that start (their
        table is new), so replaying the older history notifies nobody, and nothing that happens
        while the deployer first comes up is missed."""
        try:
            setting: state_pb2.StateSetting = self.state.stub.GetSetting(
                state_pb2.StateGetSettingRequest(key=CURSOR_KEY)
            )
        except NotFound:
            return 0
        return int(json.loads(setting.value_json)["seq"])

    def save_cursor(self, seq: int) -> None:
        self.state.stub.PutSetting(
            state_pb2.StatePutSettingRequest(key=CURSOR_KEY, value_json=json.dumps({"seq": seq})),
        )
        self._saved, self._saved_at = seq, time.monotonic()

    def handle(self, event: common_pb2.Event) -> None:
        """Queue the event's notifications (if any), then move the cursor past it."""
        note = from_event(event)
        if note is None:
            self.last = event.seq
            if self.last > self._saved and time.monotonic() - self._saved_at > SAVE_EVERY_SECONDS:
                self.save_cursor(self.last)
            return
        reply: state_pb2.StateListNotificationTargetsReply = self.state.stub.ListNotificationTargets(
            state_pb2.StateListNotificationTargetsRequest()
        )
        for target in reply.targets:
            if target.enabled and note.event in target.events:
                self.enqueue(target.name, note.to_dict(), uuid.uuid4().hex)
                logger.info("queued %s notification (event %d) for %s", note.event, event.seq, target.name)
        self.last = event.seq
        self.save_cursor(event.seq)

    def _run(self) -> None:
        backoff = 1.0
        channel = sync_channel(self.state_socket)
        stub = state_pb2_grpc.StateStub(channel)
        try:
            while not self._stop.is_set():
                try:
                    if not self._loaded:
                        self.last = self._saved = self.load_cursor()
                        self._loaded = True
                    self._call = stub.Watch(
                        state_pb2.StateWatchRequest(after_seq=self.last), metadata=call_metadata()
                    )
                    for event in self._call:
                        self.handle(event)
                        backoff = 1.0
                except grpc.RpcError as exc:
                    if self._stop.is_set():
                        break
                    logger.warning("event stream ended (%s); resuming after %d", exc.code(), self.last)
                except AppOSError as exc:
                    if self._stop.is_set():
                        break
                    logger.warning("notifications wait: %s (resuming after %d)", exc.message, self.last)
                except Exception:  # noqa: BLE001 - state or the queue is down: resume from the cursor
                    if self._stop.is_set():
                        break
                    logger.warning(
                        "notification dispatch failed; resuming after %d", self.last, exc_info=True
                    )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        finally:
            if self.last > self._saved:
                try:
                    self.save_cursor(self.last)
                except Exception:  # noqa: BLE001 - best effort at shutdown; the claim keys cover a replay
                    logger.warning("could not save the notification cursor at %d", self.last)
            channel.close()
