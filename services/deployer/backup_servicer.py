"""The public Backups service and the internal BackupImports (an upload the gateway received)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc

from appos.v1 import backups_internal_pb2, backups_internal_pb2_grpc, backups_pb2, backups_pb2_grpc
from services.common.grpc_server import actor
from services.deployer.backups import Backups, validate_id


class BackupsServicer(backups_pb2_grpc.BackupsServicer):
    def __init__(self, backups: Backups) -> None:
        self.backups = backups

    def CreateBackup(
        self, request: backups_pb2.CreateBackupRequest, context: grpc.ServicerContext
    ) -> backups_pb2.Backup:
        return self.backups.creator.start(
            include_volumes=request.include_volumes,
            message=request.message,
            actor=actor(context),
            origin="api",
        ).to_pb()

    def ListBackups(
        self, request: backups_pb2.ListBackupsRequest, context: grpc.ServicerContext
    ) -> backups_pb2.ListBackupsReply:
        return backups_pb2.ListBackupsReply(backups=[r.to_pb() for r in self.backups.store.records()])

    def GetBackup(
        self, request: backups_pb2.GetBackupRequest, context: grpc.ServicerContext
    ) -> backups_pb2.Backup:
        return self.backups.store.get(validate_id(request.id)).to_pb()

    def DeleteBackup(
        self, request: backups_pb2.DeleteBackupRequest, context: grpc.ServicerContext
    ) -> backups_pb2.Backup:
        return self.backups.store.delete(validate_id(request.id)).to_pb()

    def DownloadBackup(
        self, request: backups_pb2.DownloadBackupRequest, context: grpc.ServicerContext
    ) -> Iterator[backups_pb2.BackupChunk]:
        for chunk in self.backups.store.chunks(validate_id(request.id)):
            yield backups_pb2.BackupChunk(data=chunk)

    def RestoreBackup(
        self, request: backups_pb2.RestoreBackupRequest, context: grpc.ServicerContext
    ) -> backups_pb2.RestoreBackupReply:
        backup_id = validate_id(request.backup_id)
        restore = self.backups.restorer.start(backup_id, force=request.force, actor=actor(context))
        return backups_pb2.RestoreBackupReply(
            backup=self.backups.store.get(backup_id).to_pb(), apps=restore.apps, restore=restore.to_pb()
        )

    def GetRestore(
        self, request: backups_pb2.GetRestoreRequest, context: grpc.ServicerContext
    ) -> backups_pb2.Restore:
        return self.backups.restorer.get(request.id).to_pb()

    def GetBackupSettings(
        self, request: backups_pb2.GetBackupSettingsRequest, context: grpc.ServicerContext
    ) -> backups_pb2.BackupSettings:
        return self.backups.schedule.read_settings()

    def UpdateBackupSettings(
        self, request: backups_pb2.BackupSettings, context: grpc.ServicerContext
    ) -> backups_pb2.BackupSettings:
        return self.backups.schedule.write_settings(request, actor(context))


class BackupImportsServicer(backups_internal_pb2_grpc.BackupImportsServicer):
    def __init__(self, backups: Backups) -> None:
        self.backups = backups

    def ImportBackup(
        self, request: backups_internal_pb2.ImportBackupRequest, context: grpc.ServicerContext
    ) -> backups_pb2.Backup:
        return self.backups.store.import_upload(Path(request.path), request.actor or actor(context)).to_pb()
