"""`/docs`: Swagger UI served by the gateway itself, from the pinned `swagger-ui-bundle-v2` package.

No CDN and no inline script (the Content-Security-Policy allows neither): the page loads Swagger
UI's CSS and JS from `/docs/<bundle>/…` (the bundle's folder carries its version, so an upgrade
is a new URL and no browser keeps the old files) and starts it from `/docs/init.js`.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

BUNDLE = swagger_ui_path.name  # "swagger-ui-<version>"
ASSETS = f"/docs/{BUNDLE}"
SERVED = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui.css.map",
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "favicon-32x32.png",
    }
)
NO_CACHE = {"Cache-Control": "no-cache"}

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AppOS API</title>
<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
"""

INIT = """// The API document needs a token: the dashboard's login leaves one in localStorage.
const token = localStorage.getItem("appos_token");
window.ui = SwaggerUIBundle({
  dom_id: "#ui",
  url: "/openapi.json",
  validatorUrl: null,
  requestInterceptor: (req) => {
    if (token) req.headers.Authorization = "Bearer " + token;
    return req;
  },
});
"""


class SwaggerFiles(StaticFiles):
    """The bundle's folder, but only the files the page uses (not its demo page or templates)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in SERVED:
            raise HTTPException(404)
        return await super().get_response(path, scope)


async def docs_page(_request: Request) -> Response:
    return HTMLResponse(PAGE, headers=NO_CACHE)


async def docs_init(_request: Request) -> Response:
    return Response(INIT, media_type="text/javascript", headers=NO_CACHE)


def install_docs(app: FastAPI) -> None:
    app.router.add_route("/docs", docs_page, methods=["GET"], include_in_schema=False)
    app.router.add_route("/docs/init.js", docs_init, methods=["GET"], include_in_schema=False)
    app.router.routes.append(
        Mount(ASSETS, app=SwaggerFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    )
