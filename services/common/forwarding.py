"""How the gateway knows a request came through AppOS's own Caddy, and from which client.

Behind Caddy every client arrives from Caddy's address (127.0.0.1), so the gateway needs the
client's address from `X-Forwarded-For`; but anyone who connects to the gateway's port directly can
send that header too. So proxyctl has Caddy add `PROXY_HEADER` with a secret only AppOS knows
(`APPOS_DATA/secrets/proxy.key`, 0600, generated on first start) to every request it passes to the
console, and the gateway believes `X-Forwarded-For` only on a request that carries it. A client that
connects to the gateway directly does not know the secret; one that goes through Caddy cannot choose
it (Caddy sets the header, replacing any the client sent) nor its own address (Caddy sets
`X-Forwarded-For` to the address it was connected from).
"""

from __future__ import annotations

from typing import Any

from services.common.secretfiles import load_or_create_secret
from services.common.settings import CommonSettings

PROXY_HEADER = "X-AppOS-Proxy"


def proxy_secret(settings: CommonSettings) -> str:
    """The secret Caddy proves itself with; generated on first use."""
    return load_or_create_secret(settings.secrets_dir / "proxy.key")


def caddy_proxy_headers(settings: CommonSettings) -> dict[str, Any]:
    """The `headers` of a Caddy `reverse_proxy` handler that passes requests to the console."""
    return {"request": {"set": {PROXY_HEADER: [proxy_secret(settings)]}}}
