from __future__ import annotations

from pathlib import Path

from services.common.settings import CommonSettings

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


class ProxySettings(CommonSettings):
    # The ACME directory; empty means Let's Encrypt (production, or staging with acme_staging).
    acme_ca: str = ""
    acme_staging: bool = False
    # A PEM file to trust for the CA's own API (a test CA such as Pebble).
    acme_ca_root: Path | None = None
    acme_email: str = ""
    proxy_http_port: int = 80
    proxy_https_port: int = 443
    # host:port of a DNS server for the "does the name resolve" check; empty: the system resolver.
    proxy_dns_server: str = ""
    cert_check_seconds: int = 300
    # After each config load, how long domains still without a certificate are looked at every second.
    cert_follow_seconds: float = 600.0
    expiry_warning_days: int = 30
    docker_host: str = "unix:///var/run/docker.sock"
    # Where the console (gateway) listens, for a domain given to the console itself.
    host: str = "127.0.0.1"
    port: int = 8080
    rpc_timeout_seconds: float = 10.0
    # Caddy's admin API socket. Empty: the Caddy that supervisord runs (APPOS_RUN_DIR/caddy-admin.sock).
    # Set it when Caddy runs elsewhere (deploy/docker-compose.yml: its own container sharing this
    # socket's folder); then the launcher does not start the bundled Caddy.
    caddy_admin: Path | None = None

    @property
    def ca_directory(self) -> str:
        return self.acme_ca or (LETS_ENCRYPT_STAGING if self.acme_staging else LETS_ENCRYPT)

    @property
    def caddy_admin_socket(self) -> Path:
        return self.caddy_admin or self.socket_path("caddy-admin")

    @property
    def caddy_storage(self) -> Path:
        return self.data / "caddy"

    @property
    def caddy_log(self) -> Path:
        return self.data / "log" / "caddy.log"
