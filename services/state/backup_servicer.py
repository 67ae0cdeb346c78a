"""The internal BackupState service: database snapshots and restores for backups, and settings."""

from __future__ import annotations

from pathlib import Path

import grpc

from appos.v1 import backups_internal_pb2 as pb
from appos.v1 import backups_internal_pb2_grpc
from services.state import settings_store, snapshots
from services.state.store import Store


def _info(info: snapshots.DatabaseInfo) -> pb.DatabaseInfo:
    return pb.DatabaseInfo(
        revision=info.revision,
        users=info.users,
        tokens=info.tokens,
        apps=info.apps,
        domains=info.domains,
        app_names=info.app_names,
    )


class BackupStateServicer(backups_internal_pb2_grpc.BackupStateServicer):
    def __init__(self, store: Store, backups_dir: Path, *, admin_password_file: Path | None = None) -> None:
        self.store = store
        self.backups_dir = backups_dir
        self.admin_password_file = admin_password_file

    def _path(self, request: pb.DatabasePath) -> Path:
        return snapshots.inside(Path(request.path), self.backups_dir)

    def SnapshotDatabase(self, request: pb.DatabasePath, context: grpc.ServicerContext) -> pb.DatabaseInfo:
        return _info(snapshots.snapshot(store=self.store, dest=self._path(request)))

    def InspectDatabase(self, request: pb.DatabasePath, context: grpc.ServicerContext) -> pb.DatabaseInfo:
        if not request.path:
            return _info(snapshots.inspect_live(store=self.store))
        return _info(snapshots.inspect(self._path(request)))

    def RestoreDatabase(self, request: pb.DatabasePath, context: grpc.ServicerContext) -> pb.DatabaseInfo:
        info = snapshots.restore(store=self.store, source=self._path(request))
        if self.admin_password_file is not None:
            # this install's first password no longer opens anything: the restored users log in
            self.admin_password_file.unlink(missing_ok=True)
        return _info(info)

    def GetSettings(self, request: pb.GetSettingsRequest, context: grpc.ServicerContext) -> pb.SettingsValues:
        with self.store.read() as s:
            return pb.SettingsValues(values=settings_store.get_settings(session=s, prefix=request.prefix))

    def PutSettings(self, request: pb.PutSettingsRequest, context: grpc.ServicerContext) -> pb.SettingsValues:
        with self.store.write() as s:
            values = settings_store.put_settings(session=s, values=dict(request.values), actor=request.actor)
        return pb.SettingsValues(values=values)
