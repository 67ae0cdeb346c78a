"""When the scheduled update check is due: the backup schedule's own forms and arithmetic
(`backups/schedule.py`: "daily@HH:MM", "every:N" hours or a cron line, UTC), from the setting
APPOS_UPDATE_CHECK_SCHEDULE (default "every:24": daily; "" turns it off). The last scheduled run is
kept in state's settings (`updates.last_scheduled`, bookkeeping: no event), so a restart neither
repeats nor skips a check. A new schedule counts from its first tick."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from appos.v1 import state_pb2
from services.common.errors import NotFound
from services.common.state_client import StateClient
from services.common.timestamps import now_us
from services.deployer.backups.schedule import next_run

SETTING_LAST_SCHEDULED = "updates.last_scheduled"


class UpdateSchedule:
    def __init__(self, *, schedule: str, state: StateClient, enqueue: Callable[[str, str], object]) -> None:
        self.schedule = schedule
        self.state = state
        self.enqueue = enqueue  # (actor, origin): queues a check, or joins the one queued or running

    def _last(self) -> int | None:
        try:
            setting: state_pb2.StateSetting = self.state.stub.GetSetting(
                state_pb2.StateGetSettingRequest(key=SETTING_LAST_SCHEDULED)
            )
        except NotFound:
            return None
        value = json.loads(setting.value_json)
        return int(value) if isinstance(value, int) else None

    def _mark(self) -> None:
        self.state.stub.PutSetting(
            state_pb2.StatePutSettingRequest(key=SETTING_LAST_SCHEDULED, value_json=json.dumps(now_us()))
        )

    def tick(self) -> bool:
        """Queue the scheduled check when it is due (the deployer calls this every few seconds)."""
        if not self.schedule:
            return False
        last = self._last()
        if last is None:
            self._mark()
            return False
        now = datetime.now(UTC)
        due = next_run(self.schedule, last=datetime.fromtimestamp(last / 1_000_000, UTC), now=now)
        if due is None or due > now:
            return False
        self.enqueue("scheduler", "schedule")
        self._mark()
        return True
