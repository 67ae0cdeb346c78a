"""The state process: migrate, make sure an admin exists, serve State on a Unix socket."""

from __future__ import annotations

import logging
import os

from appos.v1 import backups_internal_pb2, backups_internal_pb2_grpc, state_pb2, state_pb2_grpc
from services.common.grpc_server import build_server, serve_until_signalled
from services.common.logs import configure_logging
from services.common.secretfiles import load_or_create_secret
from services.state.backup_servicer import BackupStateServicer
from services.state.bootstrap import ensure_first_admin
from services.state.db import make_engine, migrate_file
from services.state.servicer import StateServicer
from services.state.settings import StateSettings
from services.state.store import Store

logger = logging.getLogger(__name__)


def main() -> None:
    os.umask(0o077)
    settings = StateSettings()
    configure_logging("state", settings.log_level)
    settings.data.mkdir(parents=True, exist_ok=True, mode=0o700)
    migrate_file(settings.db_path)
    engine = make_engine(settings.db_path)
    store = Store(engine)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    ensure_first_admin(store=store, password=password, password_file=settings.admin_password_file)
    socket_path = settings.socket_path("state")
    server, _health = build_server(
        socket_path=socket_path,
        services=[
            (
                state_pb2_grpc.add_StateServicer_to_server,
                StateServicer(store, hash_key=load_or_create_secret(settings.version_hash_key_file).encode()),
                state_pb2.DESCRIPTOR.services_by_name["State"].full_name,
            ),
            (
                backups_internal_pb2_grpc.add_BackupStateServicer_to_server,
                BackupStateServicer(
                    store, settings.data / "backups", admin_password_file=settings.admin_password_file
                ),
                backups_internal_pb2.DESCRIPTOR.services_by_name["BackupState"].full_name,
            ),
        ],
        max_workers=settings.state_workers,
    )
    serve_until_signalled(server, socket_path=socket_path, on_stop=store.notifier.close)
    engine.dispose()


if __name__ == "__main__":
    main()
