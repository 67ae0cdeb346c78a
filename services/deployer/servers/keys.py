"""AppOS's own SSH key: made once (ed25519) in $APPOS_DATA/secrets/ssh/, its private half readable
by AppOS only and never sent anywhere; the public half is what an admin authorizes on a server."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.deployer.servers.ssh import fingerprint


def ensure_key(secrets_dir: Path) -> Path:
    folder = secrets_dir / "ssh"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = folder / "appos_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "appos", "-f", str(key)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        key.chmod(0o600)
    return key


def public_key(key: Path) -> tuple[str, str]:
    """(the authorized_keys line, its fingerprint)."""
    line = key.with_name(key.name + ".pub").read_text().strip()
    return line, fingerprint(line)
