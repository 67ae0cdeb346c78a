"""What REST cannot say by annotation for backups: the archive as a file download, and an archive
uploaded as the request body (`POST /api/v1/backups/restore` with `Content-Type:
application/gzip`, or `POST /api/v1/backups/upload` to store it without restoring). Same tokens
and role (admin) as the generated routes. An upload is written to `APPOS_DATA/backups/incoming/`
and handed to the deployer, which checks it completely before it becomes a backup (or deletes it)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc.aio
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from appos.v1 import backups_internal_pb2, backups_internal_pb2_grpc, backups_pb2, backups_pb2_grpc
from services.common.clients import aio_call, first_of, origin
from services.common.errors import FailedPrecondition, InvalidArgument
from services.gateway.audit import AuditCall
from services.gateway.context import CallContext
from services.gateway.http_rules import route_for
from services.gateway.open_streams import AccessEnded, LeasedStreamingResponse, OpenStreams, bearer
from services.gateway.rest import (
    Handler,
    HTTPProblem,
    caller_metadata,
    client_address,
    make_endpoint,
    remote_handler,
    require_role,
)
from services.gateway.settings import GatewaySettings
from services.gateway.translate import to_json

_BACKUPS = backups_pb2.DESCRIPTOR.services_by_name["Backups"]
_IMPORT = backups_internal_pb2.DESCRIPTOR.services_by_name["BackupImports"].methods_by_name["ImportBackup"]
RESTORE = "appos.v1.Backups.RestoreBackup"
DOWNLOAD_PATH = "/api/v1/backups/{id}/download"
UPLOAD_PATH = "/api/v1/backups/upload"
RESTORE_PATH = "/api/v1/backups/restore"
_JSON_TYPES = ("application/json", "")


def with_long_calls(
    handlers: dict[str, Handler], channels: dict[str, grpc.aio.Channel], timeout: float
) -> dict[str, Handler]:
    """A restore runs as long as it takes to unpack and check an archive: its own timeout."""
    if "deployer" in channels:
        handlers[RESTORE] = remote_handler(
            channels["deployer"],
            _BACKUPS.methods_by_name["RestoreBackup"],
            service="deployer",
            timeout=timeout,
        )
    return handlers


async def _receive(request: Request, folder: Path, limit: int) -> Path:
    """The request body into a new file under `folder` (removed again if anything goes wrong)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"upload-{secrets.token_hex(8)}.tar.gz"
    size = 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPProblem(413, "payload_too_large", f"the archive is larger than {limit} bytes")
                out.write(chunk)
        if size == 0:
            raise InvalidArgument("send the archive as the request body (Content-Type: application/gzip)")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def install_backup_routes(app: FastAPI, settings: GatewaySettings) -> None:
    restore_route = route_for(_BACKUPS.methods_by_name["RestoreBackup"])
    assert restore_route is not None
    # 202 like the generated route would answer (app.STATUS_HOOKS): the restore is a queued job
    restore_json = make_endpoint(
        restore_route, max_body_bytes=settings.max_body_bytes, status_hook=lambda _reply: 202
    )
    incoming = settings.data / "backups" / "incoming"
    timeout = settings.backup_timeout_seconds

    async def admin(request: Request) -> CallContext:
        return await require_role(request, request.app.state.runtime.authenticator, "admin")

    async def upload(request: Request, ctx: CallContext) -> backups_pb2.Backup:
        path = await _receive(request, incoming, settings.backup_max_upload_bytes)
        try:
            stub = backups_internal_pb2_grpc.BackupImportsStub(request.app.state.runtime.channels["deployer"])
            reply: backups_pb2.Backup = await aio_call(
                stub.ImportBackup,
                backups_internal_pb2.ImportBackupRequest(
                    path=str(path), actor=ctx.caller.username if ctx.caller else ""
                ),
                service="deployer",
                timeout=timeout,
                metadata=caller_metadata(ctx),
            )
            return reply
        finally:
            path.unlink(missing_ok=True)

    async def audited_admin_call(
        request: Request, method: Any, run: Callable[[Request, CallContext], Awaitable[Response]]
    ) -> Response:
        """An admin call recorded in the audit log like the generated routes (rest.make_endpoint)."""
        runtime = request.app.state.runtime
        audit = AuditCall(
            runtime.audit, method, client=client_address(request), request_id=request.state.request_id
        )
        try:
            ctx = await require_role(request, runtime.authenticator, "admin", audit)
            with origin(audit.origin()):
                response = await run(request, ctx)
        except Exception as exc:
            audit.done(exc)
            raise
        audit.done(None)
        return response

    async def upload_endpoint(request: Request) -> Response:
        async def run(request: Request, ctx: CallContext) -> Response:
            return JSONResponse(to_json(await upload(request, ctx)), status_code=201)

        return await audited_admin_call(request, _IMPORT, run)

    async def restore_endpoint(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in _JSON_TYPES:
            return await restore_json(request)
        return await audited_admin_call(request, _BACKUPS.methods_by_name["RestoreBackup"], restore_upload)

    async def restore_upload(request: Request, ctx: CallContext) -> Response:
        force = request.query_params.get("force", "false").lower()
        if force not in ("true", "false", "1", "0"):
            raise InvalidArgument("force must be true or false")
        stored = await upload(request, ctx)
        message = backups_pb2.RestoreBackupRequest(backup_id=stored.id, force=force in ("true", "1"))
        try:
            reply = await request.app.state.runtime.handlers[RESTORE](message, ctx)
        except FailedPrecondition as exc:  # e.g. a non-empty install: the checked archive stays
            raise FailedPrecondition(
                f"{exc.message}; the uploaded archive is kept as backup {stored.id}"
            ) from exc
        return JSONResponse(to_json(reply), status_code=202)  # the restore is queued

    async def download_endpoint(request: Request) -> Response:
        ctx = await admin(request)
        backup_id = request.path_params["id"]
        stub = backups_pb2_grpc.BackupsStub(request.app.state.runtime.channels["deployer"])
        record: backups_pb2.Backup = await aio_call(
            stub.GetBackup,
            backups_pb2.GetBackupRequest(id=backup_id),
            service="deployer",
            timeout=settings.rpc_timeout_seconds,
            metadata=caller_metadata(ctx),
        )
        # a download is a stream like a log follow: counted, and cut when the admin's access ends
        streams: OpenStreams = request.app.state.runtime.streams
        lease = await streams.take(
            ctx.require_caller(), bearer(request.headers.get("authorization")), min_role="admin"
        )
        call = stub.DownloadBackup(
            backups_pb2.DownloadBackupRequest(id=backup_id), metadata=caller_metadata(ctx), timeout=timeout
        )
        try:
            first, iterator = await first_of(call, service="deployer")
        except BaseException:
            await streams.release(lease)
            raise

        async def body() -> AsyncIterator[bytes]:
            try:
                if first is not None:
                    yield first.data
                async for chunk in lease.guard(iterator):
                    yield chunk.data
            except AccessEnded:
                return  # the client gets fewer bytes than Content-Length said: a failed download
            finally:
                call.cancel()

        headers = {
            "Content-Disposition": f'attachment; filename="{record.id}.tar.gz"',
            "Content-Length": str(record.size_bytes),
        }
        return LeasedStreamingResponse(
            body(), streams=streams, lease=lease, media_type="application/gzip", headers=headers
        )

    routes: list[tuple[str, Callable[[Request], Awaitable[Response]], str]] = [
        (RESTORE_PATH, restore_endpoint, "POST"),
        (UPLOAD_PATH, upload_endpoint, "POST"),
        (DOWNLOAD_PATH, download_endpoint, "GET"),
    ]
    # First in line: the generated routes would take these paths (restore as JSON only, and
    # /api/v1/backups/{id} for the others).
    for path, endpoint, verb in reversed(routes):
        app.router.routes.insert(0, StarletteRoute(path, endpoint, methods=[verb], include_in_schema=False))


def backup_operations() -> dict[str, dict[str, Any]]:
    """OpenAPI entries for the hand-written backup routes."""
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    archive_body = {
        "required": True,
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
    }
    return {
        DOWNLOAD_PATH: {
            "get": {
                "operationId": "Backups_Download",
                "summary": "The backup's archive (tar.gz)",
                "tags": ["Backups"],
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "application/gzip"}, "default": error},
                "description": "Needs the admin role.",
            }
        },
        UPLOAD_PATH: {
            "post": {
                "operationId": "Backups_Upload",
                "summary": "Store an archive made by AppOS (checked completely; a bad one is refused)",
                "tags": ["Backups"],
                "requestBody": archive_body,
                "responses": {"201": {"description": "the stored backup"}, "default": error},
                "description": "Needs the admin role.",
            }
        },
    }
