"""The internal ProxyReload service: load the whole Caddy config from state again (after a restore)."""

from __future__ import annotations

import grpc

from appos.v1 import backups_internal_pb2, backups_internal_pb2_grpc
from services.proxyctl.servicer import Proxy


class ProxyReloadServicer(backups_internal_pb2_grpc.ProxyReloadServicer):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    def Reapply(
        self, request: backups_internal_pb2.ReapplyRequest, context: grpc.ServicerContext
    ) -> backups_internal_pb2.ReapplyReply:
        with self.proxy.lock:
            domains = self.proxy.domains()
            self.proxy.apply(domains)
        return backups_internal_pb2.ReapplyReply(domains=len(domains))
