"""Backup settings and the schedule: retention, "daily@HH:MM" / "every:N" / a cron line (UTC), whether
scheduled backups include volumes, each app's volume opt-in; and the tick that starts a due backup.
All stored in state's `settings` table (`backup.*`)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from appos.v1 import backups_pb2
from services.common.errors import Conflict, InvalidArgument
from services.common.timestamps import now_us, set_ts
from services.deployer.backups.create import Creator
from services.deployer.backups.internal import Internal
from services.deployer.backups.store import DEFAULT_RETENTION, SETTING_RETENTION, Store

SETTING_SCHEDULE = "backup.schedule"
SETTING_INCLUDE_VOLUMES = "backup.include_volumes"
SETTING_LAST_SCHEDULED = "backup.last_scheduled"
_SCHEDULE = re.compile(r"^(?:daily@(?P<hh>[01]\d|2[0-3]):(?P<mm>[0-5]\d)|every:(?P<hours>\d{1,3}))$")
# A cron line may not run backups more often than this (as "every:N" cannot).
CRON_MIN_GAP = timedelta(hours=1)
_CRON_CHECKED_RUNS = 48


def is_cron(schedule: str) -> bool:
    """A five-field cron line ("0 3 * * *", in UTC), as opposed to "daily@…" or "every:…"."""
    return len(schedule.split()) == 5


def validate_schedule(schedule: str) -> str:
    if is_cron(schedule):
        from croniter import croniter  # here, not at start: ~2.7 MiB an idle deployer keeps

        schedule = " ".join(schedule.split())
        if not croniter.is_valid(schedule):
            raise InvalidArgument(f"{schedule!r} is not a valid cron line (minute hour day month weekday)")
        runs = croniter(schedule, datetime(2026, 1, 1, tzinfo=UTC))
        times = [runs.get_next(datetime) for _ in range(_CRON_CHECKED_RUNS)]
        if any(b - a < CRON_MIN_GAP for a, b in itertools.pairwise(times)):
            raise InvalidArgument(
                f"{schedule!r} runs more often than once an hour; backups need at least an hour"
            )
        return schedule
    match = _SCHEDULE.fullmatch(schedule)
    if schedule and (match is None or (match["hours"] is not None and not 1 <= int(match["hours"]) <= 168)):
        raise InvalidArgument(
            'schedule must be "", "daily@HH:MM" (UTC), "every:N" (hours, 1-168) '
            'or a cron line such as "0 3 * * *" (UTC)'
        )
    return schedule


def next_run(schedule: str, *, last: datetime | None, now: datetime) -> datetime | None:
    """When the next scheduled backup is due (None without a schedule), counted from the previous
    scheduled run, or from `now` when there was none."""
    if is_cron(schedule):
        from croniter import croniter

        try:
            due: datetime = croniter(schedule, last or now).get_next(datetime)
        except (ValueError, KeyError):  # a line stored before it was checked: no run
            return None
        return due
    match = _SCHEDULE.fullmatch(schedule)
    if not schedule or match is None:
        return None
    base = last or now
    if match["hours"] is not None:
        return base + timedelta(hours=int(match["hours"]))
    due = base.replace(hour=int(match["hh"]), minute=int(match["mm"]), second=0, microsecond=0)
    return due if due > base else due + timedelta(days=1)


def _from_us(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1_000_000, UTC)


class Schedule:
    def __init__(self, *, internal: Internal, store: Store, creator: Creator) -> None:
        self.internal = internal
        self.store = store
        self.creator = creator

    def read_settings(self) -> backups_pb2.BackupSettings:
        values = self.internal.settings("backup.")
        schedule = str(values.get(SETTING_SCHEDULE, ""))
        reply = backups_pb2.BackupSettings(
            retention=int(values.get(SETTING_RETENTION, DEFAULT_RETENTION)),
            schedule=schedule,
            include_volumes=bool(values.get(SETTING_INCLUDE_VOLUMES, True)),
        )
        last = values.get(SETTING_LAST_SCHEDULED)
        due = next_run(schedule, last=_from_us(last), now=datetime.now(UTC))
        if due is not None:
            set_ts(reply.next_run, int(due.timestamp() * 1_000_000))
        return reply

    def write_settings(self, request: backups_pb2.BackupSettings, actor: str) -> backups_pb2.BackupSettings:
        values: dict[str, Any] = {}
        if request.HasField("retention"):
            if not 0 <= request.retention <= 1000:
                raise InvalidArgument("retention must be between 0 (keep all) and 1000")
            values[SETTING_RETENTION] = request.retention
        if request.HasField("schedule"):
            values[SETTING_SCHEDULE] = validate_schedule(request.schedule.strip())
            values[SETTING_LAST_SCHEDULED] = None  # a new schedule starts from now
        if request.HasField("include_volumes"):
            values[SETTING_INCLUDE_VOLUMES] = request.include_volumes
        if values:
            self.internal.put_settings(values, actor)
        if request.HasField("retention"):
            self.store.apply_retention()
        return self.read_settings()

    def tick(self) -> str | None:
        """Start the scheduled backup when it is due (the deployer calls this every few seconds)."""
        values = self.internal.settings("backup.")
        schedule = str(values.get(SETTING_SCHEDULE, ""))
        if not schedule:
            return None
        last = _from_us(values.get(SETTING_LAST_SCHEDULED))
        if last is None:  # a new schedule counts from now
            self.internal.put_settings({SETTING_LAST_SCHEDULED: now_us()}, "scheduler")
            return None
        due = next_run(schedule, last=last, now=datetime.now(UTC))
        if due is None or due > datetime.now(UTC):
            return None
        try:
            record = self.creator.start(
                include_volumes=bool(values.get(SETTING_INCLUDE_VOLUMES, True)),
                message="scheduled",
                actor="scheduler",
                origin="schedule",
            )
        except Conflict:
            return None  # something runs: try on the next tick
        self.internal.put_settings({SETTING_LAST_SCHEDULED: now_us()}, "scheduler")
        return record.id
