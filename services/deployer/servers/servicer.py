"""The Servers gRPC service (proto/appos/v1/servers.proto)."""

from __future__ import annotations

import grpc

from appos.v1 import servers_pb2, servers_pb2_grpc
from services.common.grpc_server import actor
from services.deployer.servers.manager import Servers


class ServersServicer(servers_pb2_grpc.ServersServicer):
    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    def AddServer(
        self, request: servers_pb2.AddServerRequest, context: grpc.ServicerContext
    ) -> servers_pb2.Server:
        return self.servers.add(
            name=request.name,
            address=request.address,
            docker_socket=request.docker_socket,
            actor=actor(context),
            tls_pems=(request.ca_pem, request.cert_pem, request.key_pem),
        )

    def ListServers(
        self, request: servers_pb2.ListServersRequest, context: grpc.ServicerContext
    ) -> servers_pb2.ListServersReply:
        return servers_pb2.ListServersReply(servers=self.servers.all())

    def GetServerKey(
        self, request: servers_pb2.GetServerKeyRequest, context: grpc.ServicerContext
    ) -> servers_pb2.ServerKey:
        return self.servers.public_key()

    def GetServer(
        self, request: servers_pb2.GetServerRequest, context: grpc.ServicerContext
    ) -> servers_pb2.Server:
        return self.servers.get(request.name)

    def RepinServer(
        self, request: servers_pb2.RepinServerRequest, context: grpc.ServicerContext
    ) -> servers_pb2.Server:
        return self.servers.repin(request.name, actor(context))

    def DeleteServer(
        self, request: servers_pb2.DeleteServerRequest, context: grpc.ServicerContext
    ) -> servers_pb2.DeleteServerReply:
        self.servers.delete(request.name, actor(context))
        return servers_pb2.DeleteServerReply()
