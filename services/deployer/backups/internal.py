"""The internal services backups need (state's BackupState, proxyctl's ProxyReload, typed stubs),
and the progress events they append to state's event log."""

from __future__ import annotations

import json
import logging
from typing import Any

from appos.v1 import backups_internal_pb2, backups_internal_pb2_grpc, state_pb2
from services.common.clients import call_metadata, sync_call, sync_channel
from services.common.state_client import StateClient
from services.deployer.settings import DeployerSettings

logger = logging.getLogger(__name__)

# Database work may take minutes on a large install.
DATABASE_TIMEOUT = 600.0
INSPECT_TIMEOUT = 120.0


class Internal:
    def __init__(self, settings: DeployerSettings) -> None:
        self.state = backups_internal_pb2_grpc.BackupStateStub(sync_channel(settings.socket_path("state")))
        self._proxy = backups_internal_pb2_grpc.ProxyReloadStub(
            sync_channel(settings.socket_path("proxyctl"))
        )
        self.timeout = settings.rpc_timeout_seconds

    def _database(self, method: Any, path: str, timeout: float) -> backups_internal_pb2.DatabaseInfo:
        info: backups_internal_pb2.DatabaseInfo = sync_call(
            method,
            backups_internal_pb2.DatabasePath(path=path),
            service="state",
            timeout=timeout,
            metadata=call_metadata(),
        )
        return info

    def snapshot_database(self, path: str) -> backups_internal_pb2.DatabaseInfo:
        return self._database(self.state.SnapshotDatabase, path, DATABASE_TIMEOUT)

    def inspect_database(self, path: str = "") -> backups_internal_pb2.DatabaseInfo:
        """A database file's facts (checked); the live database's with no path."""
        return self._database(self.state.InspectDatabase, path, INSPECT_TIMEOUT if path else self.timeout)

    def restore_database(self, path: str) -> backups_internal_pb2.DatabaseInfo:
        return self._database(self.state.RestoreDatabase, path, DATABASE_TIMEOUT)

    def reapply_proxy(self) -> int:
        reply = sync_call(
            self._proxy.Reapply,
            backups_internal_pb2.ReapplyRequest(),
            service="proxyctl",
            timeout=self.timeout,
            metadata=call_metadata(),
        )
        return int(reply.domains)

    def settings(self, prefix: str) -> dict[str, Any]:
        reply = sync_call(
            self.state.GetSettings,
            backups_internal_pb2.GetSettingsRequest(prefix=prefix),
            service="state",
            timeout=self.timeout,
            metadata=call_metadata(),
        )
        return {key: json.loads(value) for key, value in reply.values.items()}

    def put_settings(self, values: dict[str, Any], actor: str) -> None:
        encoded = {key: "" if value is None else json.dumps(value) for key, value in values.items()}
        sync_call(
            self.state.PutSettings,
            backups_internal_pb2.PutSettingsRequest(values=encoded, actor=actor),
            service="state",
            timeout=self.timeout,
            metadata=call_metadata(),
        )


def event(state: StateClient, type: str, subject: str, actor: str, **payload: Any) -> None:
    """Append a progress event; a failure is logged and never fails the job (the record on disk is
    what the job's outcome rests on)."""
    try:
        state.stub.AppendEvent(
            state_pb2.StateAppendEventRequest(
                type=type, subject=subject, actor=actor or "system", payload_json=json.dumps(payload)
            ),
        )
    except Exception as exc:  # noqa: BLE001 - any failure of an event must not end the job
        logger.warning("could not record the event %s of %s: %s", type, subject, exc)
