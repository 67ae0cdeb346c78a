from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.common.settings import CommonSettings


class StateSettings(CommonSettings):
    # First start only: the first admin's password. Otherwise one is generated into APPOS_DATA.
    admin_password: SecretStr | None = None
    state_workers: int = 32

    @property
    def db_path(self):  # type: ignore[no-untyped-def]
        return self.data / "appos.db"

    @property
    def admin_password_file(self):  # type: ignore[no-untyped-def]
        return self.data / "admin-password"

    @property
    def version_hash_key_file(self) -> Path:
        return self.secrets_dir / "version-hash.key"
