"""The gateway process: FastAPI on uvicorn, on APPOS_HOST:APPOS_PORT."""

from __future__ import annotations

import os

import uvicorn

from services.common.logs import configure_logging
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


def main() -> None:
    os.umask(0o077)
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our handlers, with redaction
        access_log=False,
        server_header=False,
        # uvicorn would believe X-Forwarded-For from any client on 127.0.0.1; forwarded.py decides
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        # terminal output is mostly incompressible bursts: deflating it cost a third of the throughput
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
