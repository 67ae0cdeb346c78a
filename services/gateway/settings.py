from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import CommonSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


class GatewaySettings(CommonSettings):
    host: str = "127.0.0.1"
    port: int = 8080
    # Gateway processes serving APPOS_PORT and APPOS_GRPC_PORT together (supervisord runs them; the
    # kernel spreads the connections over them: SO_REUSEPORT). They share state and Redis. At most 8:
    # each holds one of state's 16 stream threads (its event watch) while it has event clients.
    gateway_processes: int = Field(default=1, ge=1, le=8)
    # This process's number, 1…gateway_processes (supervisord sets it). Each process also serves
    # APPOS_RUN_DIR/gateway-<n>.sock, which reaches that process alone.
    gateway_process: int = Field(default=1, ge=1)
    # Lifetime of a login's access token.
    token_ttl_seconds: int = 12 * 3600
    # Largest request body accepted, in bytes.
    max_body_bytes: int = 1024 * 1024
    # Failed logins allowed in `login_window_seconds`: per user from one client address, and per
    # address for all users together (0: four times login_max_failures).
    login_max_failures: int = 5
    login_max_address_failures: int = 0
    login_window_seconds: int = 60
    # Internal services the health check asks, by socket name.
    services: list[str] = ["state", "deployer", "proxyctl", "terminal"]
    docker_host: str = "unix:///var/run/docker.sock"
    dashboard_dir: Path = REPO_ROOT / "dashboard" / "dist"
    # Timeout of one call to an internal service.
    rpc_timeout_seconds: float = 10.0
    # A backup restore (unpack, check, replace, redeploy) and an archive upload may take this long.
    backup_timeout_seconds: float = 3600.0
    # Adding an app store fetches, converts and checks every entry before it answers (a store of
    # 1,000 entries takes about a minute here): above the deployer's APPOS_STORE_IMPORT_TIMEOUT_SECONDS.
    store_add_timeout_seconds: float = 660.0
    # Largest backup archive accepted as an upload.
    backup_max_upload_bytes: int = 64 * 1024**3
    # The public gRPC port (same host as REST); 0 turns it off. TLS when both files are given.
    grpc_port: int = 8081
    grpc_tls_cert: Path | None = None
    grpc_tls_key: Path | None = None
    # Origins allowed to open WebSockets besides the console's own (e.g. "https://admin.example.com").
    allowed_origins: list[str] = []
    # GET /metrics needs a token of any role; true: clients on loopback need none.
    metrics_public_local: bool = False
    # How long scrape-time figures (state, Redis, process memory) are reused.
    metrics_cache_seconds: float = 5.0
    # Long streams one user may hold open at once (log follows, event streams, terminals, downloads).
    streams_per_user: int = Field(default=50, ge=1)
    # How often the credential behind each open stream is checked again (a revoked token, a changed
    # or disabled user, a sign-out, a new signing key end its streams).
    stream_recheck_seconds: float = Field(default=1.0, gt=0, le=30)

    @property
    def address_failure_limit(self) -> int:
        return self.login_max_address_failures or 4 * self.login_max_failures

    @property
    def process_socket(self) -> Path:
        return self.socket_path(f"gateway-{self.gateway_process}")

    @property
    def jwt_secret_file(self) -> Path:
        return self.secrets_dir / "jwt.key"
