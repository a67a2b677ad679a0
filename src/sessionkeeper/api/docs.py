"""The interactive API documentation at ``/docs``, from assets shipped in the package.

Swagger UI (the npm package ``swagger-ui-dist``, version and file digests in
``static/swagger-ui/VENDORED.json``) is served from ``/docs/assets``, so the page works on a
machine without internet access; no CDN is contacted. Behind a reverse proxy with a path
prefix, every URL of the page carries the prefix (``root_path``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from sessionkeeper.api import routing
from sessionkeeper.api.routing import api_router

ASSETS = Path(__file__).parent / "static" / "swagger-ui"
ASSETS_PATH = "/docs/assets"

router = api_router(include_in_schema=False)


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    prefix = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=prefix + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} API",
        swagger_js_url=f"{prefix}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{prefix}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{prefix}{ASSETS_PATH}/favicon-32x32.png",
        # No spec validator badge: it would send the document to an outside service.
        swagger_ui_parameters={"validatorUrl": None},
    )


def install(app: FastAPI) -> None:
    routing.include(app, router)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")
