"""The notification dispatcher's own settings (`APPOS_NOTIFY_…`). The dispatcher and the delivery
task run inside the deployer process, but they read these rather than the deployer's settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPOS_NOTIFY_", extra="ignore")

    # Attempts per (event, target), the first retry's wait (doubling each time, up to the cap), one
    # attempt's timeout (a delivery's and a test send's), and how long an app service's trouble is
    # said only once.
    max_attempts: int = Field(default=5, ge=1)
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    timeout_seconds: float = Field(default=5.0, gt=0)
    quiet_seconds: int = Field(default=600, ge=0)
