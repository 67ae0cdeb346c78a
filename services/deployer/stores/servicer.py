"""The Stores gRPC service (proto/appos/v1/stores.proto): replies from the stores' records."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from appos.v1 import apps_pb2, stores_pb2, stores_pb2_grpc
from services.common.timestamps import set_ts
from services.deployer.catalog import Catalog
from services.deployer.stores import sources
from services.deployer.stores.importer import Record
from services.deployer.stores.manager import Stores


class StoresServicer(stores_pb2_grpc.StoresServicer):
    def __init__(
        self,
        stores: Stores,
        catalog: Catalog,
        suggest_ports: Callable[[apps_pb2.Template], None] | None = None,
    ) -> None:
        self.stores = stores
        self.catalog = catalog
        self.suggest_ports = suggest_ports

    def _detail(self, record: Record) -> stores_pb2.StoreDetail:
        reply = stores_pb2.StoreDetail(
            name=record.name, url=sources.shown(record.url), format=record.format, source=record.source,
            templates=len(record.templates), error=record.error,
            skipped=[stores_pb2.SkippedEntry(entry=s["entry"], reason=s["reason"]) for s in record.skipped],
            refreshing=self.stores.refreshing(record.name),
            template_names=[f"{record.name}/{entry}" for entry in sorted(record.templates)],
        )  # fmt: skip
        set_ts(reply.refreshed_at, record.refreshed_at or None)
        return reply

    def AddStore(
        self, request: stores_pb2.AddStoreRequest, context: grpc.ServicerContext
    ) -> stores_pb2.StoreDetail:
        return self._detail(self.stores.add(name=request.name, url=request.url, format=request.format))

    def ListStores(
        self, request: stores_pb2.ListStoresRequest, context: grpc.ServicerContext
    ) -> stores_pb2.ListStoresReply:
        reply = stores_pb2.ListStoresReply()
        for name in self.stores.names():
            record = self.stores.record(name)
            summary = reply.stores.add(
                name=record.name, url=sources.shown(record.url), format=record.format, source=record.source,
                templates=len(record.templates), skipped=len(record.skipped), error=record.error,
                refreshing=self.stores.refreshing(name),
            )  # fmt: skip
            set_ts(summary.refreshed_at, record.refreshed_at or None)
        return reply

    def GetStore(
        self, request: stores_pb2.GetStoreRequest, context: grpc.ServicerContext
    ) -> stores_pb2.StoreDetail:
        return self._detail(self.stores.record(request.name))

    def RefreshStore(
        self, request: stores_pb2.RefreshStoreRequest, context: grpc.ServicerContext
    ) -> stores_pb2.StoreDetail:
        self.stores.start_refresh(request.name)
        return self._detail(self.stores.record(request.name))

    def RemoveStore(
        self, request: stores_pb2.RemoveStoreRequest, context: grpc.ServicerContext
    ) -> stores_pb2.RemoveStoreReply:
        self.stores.remove(request.name)
        return stores_pb2.RemoveStoreReply()

    def GetStoreTemplate(
        self, request: stores_pb2.GetStoreTemplateRequest, context: grpc.ServicerContext
    ) -> apps_pb2.Template:
        template = self.catalog.get(f"{request.store}/{request.template}").to_pb(with_compose=True)
        if self.suggest_ports is not None:
            self.suggest_ports(template)
        return template
