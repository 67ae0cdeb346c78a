"""The public Proxy service. Every change: validate → build the whole Caddy config → one /load →
record in state. Caddy refusing the config changes nothing, in Caddy or in state."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import grpc

from appos.v1 import proxy_pb2, proxy_pb2_grpc, state_pb2
from services.common import engines
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.grpc_server import actor, caller_role
from services.common.names import validate_app_name
from services.common.state_client import StateClient
from services.proxyctl import certs, domains, remote, upstream
from services.proxyctl.caddy import CaddyAdmin, build_config
from services.proxyctl.engine import Engine
from services.proxyctl.issuance import IssuanceFollower
from services.proxyctl.settings import ProxySettings

logger = logging.getLogger(__name__)


class Proxy:
    """The domain logic shared by the servicer and the background watchers."""

    def __init__(
        self,
        *,
        settings: ProxySettings,
        state: StateClient,
        caddy: CaddyAdmin,
        engine: Engine,
    ) -> None:
        self.settings = settings
        self.state = state
        self.caddy = caddy
        self.engine = engine
        self.lock = threading.Lock()  # one config change at a time
        self.issuance = IssuanceFollower(proxy=self, window=settings.cert_follow_seconds)
        # told, at each config load, the remote servers whose apps have domains (the container
        # watcher follows their engines' events too)
        self.on_servers: Callable[[set[str]], None] | None = None

    def domains(self) -> list[proxy_pb2.Domain]:
        # rows recorded before console domains were HTTPS-only, or app domains dialed the container:
        # state's migration 0007 brought them to today's form
        reply: proxy_pb2.ListDomainsReply = self.state.stub.ListDomains(proxy_pb2.ListDomainsRequest())
        return list(reply.domains)

    def apply(self, domains: list[proxy_pb2.Domain], *, stopped: str = "", force: bool = False) -> None:
        """Build the whole config with the addresses the apps' containers have now (`stopped`: a
        container that just died), and load it."""
        placed = self.remote() if any(not d.console for d in domains) else remote.Remote()
        dials = upstream.dials(self.engine, domains, stopped=stopped, remote=placed)
        mark = certs.log_mark(self.settings.caddy_log)  # Caddy's word on certificates comes after this
        config = build_config(domains, self.settings, self.settings.caddy_admin_socket, dials=dials)
        self.caddy.load(config, force=force)
        if any(d.https for d in domains):
            self.issuance.follow(mark)
        if self.on_servers is not None:
            self.on_servers({placed.server_of[d.app] for d in domains if d.app in placed.server_of})

    def remote(self) -> remote.Remote:
        """Which apps run on remote servers, and where those are (state, now)."""
        return remote.read(self.state, sockets=self.settings.sockets)

    def reapply(self, *, force: bool = False) -> None:
        with self.lock:
            self.apply(self.domains(), force=force)

    def reapply_for(self, app: str, *, stopped: str = "") -> None:
        """An app's container started, or `stopped` (its id) died: re-apply if the app has a domain."""
        with self.lock:
            domains = self.domains()
            if any(d.app == app and not d.console for d in domains):
                self.apply(domains, stopped=stopped)

    def check(self, domain: proxy_pb2.Domain) -> proxy_pb2.Certificate:
        stored = certs.find_certificate(
            self.settings.caddy_storage, domain.domain, self.settings.ca_directory
        )
        error = "" if stored else certs.last_error(self.settings.caddy_log, domain.domain)
        cert = certs.status(
            domain, stored, error, now=certs.utcnow(), warning_days=self.settings.expiry_warning_days
        )
        updated: proxy_pb2.Domain = self.state.stub.UpdateCertificate(
            state_pb2.StateUpdateCertificateRequest(certificate=cert)
        )
        if cert.status == "expiring":
            logger.warning("certificate of %s expires in %d days", domain.domain, cert.days_left)
        return updated.certificate

    def check_all(self) -> None:
        for domain in self.domains():
            try:
                self.check(domain)
            except NotFound:
                continue  # removed meanwhile


class ProxyServicer(proxy_pb2_grpc.ProxyServicer):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    def AddDomain(
        self, request: proxy_pb2.AddDomainRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.Domain:
        settings = self.proxy.settings
        if request.console:
            domains.check_console_request(request, role=caller_role(context))
        name = domains.validate_domain(request.domain)
        https = request.https if request.HasField("https") else True
        force = request.force_https if request.HasField("force_https") else True
        spec = proxy_pb2.Domain(
            domain=name, https=https, force_https=force and https, console=request.console
        )
        if request.console:
            spec.upstream = upstream.console_upstream(settings.host, settings.port)
        else:
            validate_app_name(request.app)
            if not request.service:
                raise InvalidArgument("service is required: the compose service that serves the site")
            if not 1 <= request.port <= 65535:
                raise InvalidArgument("port must be the container port the service listens on (1-65535)")
            record = self.proxy.state.stub.GetApp(state_pb2.StateGetAppRequest(name=request.app))  # NotFound
            self._check_port(record.app.server, app=request.app, service=request.service, port=request.port)
            spec.app, spec.service, spec.port = request.app, request.service, request.port
            spec.upstream = upstream.describe(app=request.app, service=request.service, port=request.port)
        with self.proxy.lock:
            current = self.proxy.domains()
            if any(d.domain == name for d in current):
                raise AlreadyExists(f"domain {name} is already configured")
            if https:
                addresses = domains.resolve(name, settings.proxy_dns_server)
                domains.check_reachable(name, addresses, settings.proxy_http_port)
            self.proxy.apply([*current, spec])  # Caddy's refusal raises here: nothing stored
            try:
                stored: proxy_pb2.Domain = self.proxy.state.stub.PutDomain(
                    state_pb2.StatePutDomainRequest(domain=spec, actor=actor(context))
                )
            except Exception:
                self.proxy.apply(current)  # state said no: back to what is recorded
                raise
        return stored

    def _check_port(self, server: str, *, app: str, service: str, port: int) -> None:
        if not engines.is_remote(server):
            upstream.check_service_port(self.proxy.engine, app=app, service=service, port=port)
            return
        placed = self.proxy.remote()
        upstream.check_published_port(
            placed.engine_of(server), app=app, service=service, port=port,
            server=server, host=placed.hosts.get(server, ""),
        )  # fmt: skip

    def ListDomains(
        self, request: proxy_pb2.ListDomainsRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.ListDomainsReply:
        return proxy_pb2.ListDomainsReply(domains=self.proxy.domains())

    def RemoveDomain(
        self, request: proxy_pb2.RemoveDomainRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.Domain:
        name = domains.validate_domain(request.domain)
        with self.proxy.lock:
            current = self.proxy.domains()
            found = next((d for d in current if d.domain == name), None)
            if found is None:
                raise NotFound(f"domain {name!r} is not configured")
            if found.console:
                domains.check_console_role(caller_role(context))
            self.proxy.apply([d for d in current if d.domain != name])
            removed: proxy_pb2.Domain = self.proxy.state.stub.DeleteDomain(
                state_pb2.StateDeleteDomainRequest(domain=name, actor=actor(context))
            )
        return removed

    def RenewCertificate(
        self, request: proxy_pb2.RenewCertificateRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.Certificate:
        name = domains.validate_domain(request.domain)
        domain = next((d for d in self.proxy.domains() if d.domain == name), None)
        if domain is None:
            raise NotFound(f"domain {name!r} is not configured")
        if not domain.https:
            raise InvalidArgument(f"{name} is served without HTTPS; it has no certificate")
        addresses = domains.resolve(name, self.proxy.settings.proxy_dns_server)
        domains.check_reachable(name, addresses, self.proxy.settings.proxy_http_port)
        self.proxy.reapply(force=True)  # Caddy ignores an unchanged config otherwise
        return self.proxy.check(domain)

    def ListCertificates(
        self, request: proxy_pb2.ListCertificatesRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.ListCertificatesReply:
        return proxy_pb2.ListCertificatesReply(certificates=[d.certificate for d in self.proxy.domains()])
