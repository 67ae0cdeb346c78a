"""The proxyctl process: the Proxy service, Caddy kept on the config from state (re-applied when
Caddy restarts, and when an app's containers start or stop), and the periodic certificate check."""

from __future__ import annotations

import logging
import os
import threading

from grpc_health.v1 import health_pb2

from appos.v1 import backups_internal_pb2, backups_internal_pb2_grpc, proxy_pb2, proxy_pb2_grpc
from services.common.errors import Unavailable
from services.common.grpc_server import build_server, serve_until_signalled
from services.common.logs import configure_logging
from services.common.periodic import every
from services.common.state_client import StateClient
from services.proxyctl.caddy import CaddyAdmin
from services.proxyctl.engine import Engine
from services.proxyctl.reload_servicer import ProxyReloadServicer
from services.proxyctl.servicer import Proxy, ProxyServicer
from services.proxyctl.settings import ProxySettings
from services.proxyctl.watcher import ContainerWatcher

logger = logging.getLogger(__name__)
CADDY_HEALTH = "appos.caddy"


def main() -> None:
    os.umask(0o077)
    settings = ProxySettings()
    configure_logging("proxyctl", settings.log_level)
    settings.caddy_storage.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = StateClient(settings.socket_path("state"), timeout=settings.rpc_timeout_seconds)
    proxy = Proxy(
        settings=settings,
        state=state,
        caddy=CaddyAdmin(settings.caddy_admin_socket),
        engine=Engine(settings.docker_host),
    )
    socket_path = settings.socket_path("proxyctl")
    server, health = build_server(
        socket_path=socket_path,
        services=[
            (
                proxy_pb2_grpc.add_ProxyServicer_to_server,
                ProxyServicer(proxy),
                proxy_pb2.DESCRIPTOR.services_by_name["Proxy"].full_name,
            ),
            (
                backups_internal_pb2_grpc.add_ProxyReloadServicer_to_server,
                ProxyReloadServicer(proxy),
                backups_internal_pb2.DESCRIPTOR.services_by_name["ProxyReload"].full_name,
            ),
        ],
    )
    health.set(CADDY_HEALTH, health_pb2.HealthCheckResponse.NOT_SERVING)

    def keep_caddy() -> None:
        """Caddy restarted (or just started) → it runs its bootstrap config: load ours from state."""
        try:
            up, ours = True, proxy.caddy.has_appos_config()
        except Unavailable:
            up, ours = False, False
        if up and not ours:
            logger.info("Caddy has no AppOS config (it restarted): applying it from state")
            proxy.reapply()
        serving = health_pb2.HealthCheckResponse.SERVING if up else health_pb2.HealthCheckResponse.NOT_SERVING
        health.set(CADDY_HEALTH, serving)

    stop = threading.Event()
    every(1.0, stop, keep_caddy, "caddy-keeper")
    every(settings.cert_check_seconds, stop, proxy.check_all, "cert-check")
    # container addresses change when Compose recreates them: re-apply when an app's containers start or stop
    # (on the remote servers whose apps have domains too: each config load says which)
    watcher = ContainerWatcher(proxy=proxy, stop=stop)
    proxy.on_servers = watcher.watch_servers
    watcher.start()
    serve_until_signalled(server, socket_path=socket_path, on_stop=stop.set)
    state.close()


if __name__ == "__main__":
    main()
