"""Settings every AppOS process shares. Each process subclasses `CommonSettings` with its own fields."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Linux limits a Unix socket path to 107 bytes.
_MAX_SOCKET_PATH = 107


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPOS_", extra="ignore")

    data: Path = Path("./data")
    run_dir: Path | None = None
    log_level: str = "INFO"

    @field_validator("data")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def sockets(self) -> Path:
        return (self.run_dir or self.data / "run").resolve()

    def socket_path(self, service: str) -> Path:
        path = self.sockets / f"{service}.sock"
        if len(str(path)) > _MAX_SOCKET_PATH:
            raise ValueError(
                f"socket path {path} is longer than {_MAX_SOCKET_PATH} bytes: "
                "set APPOS_RUN_DIR to a shorter folder"
            )
        return path

    @property
    def redis_url(self) -> str:
        return f"unix://{self.socket_path('redis')}"

    @property
    def secrets_dir(self) -> Path:
        return self.data / "secrets"
