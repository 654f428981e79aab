"""/docs (Swagger UI) and /redoc, served with their scripts and styles from spacecal.

FastAPI's own pages load Swagger UI and ReDoc from a CDN without integrity checks:
whatever that host serves runs on spacecal's origin, and an install without internet
access shows a blank page. The assets come from the pinned `fastapi-offline`
package instead (Swagger UI 5.32.6, ReDoc 2; MIT and Apache-2.0 licensed), under
/docs/assets, so the pages work offline and run only code that was installed.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
_OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def install_docs(app: FastAPI) -> None:
    """The documentation pages of `app` (created with docs_url=None, redoc_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"
    static = files("fastapi_offline") / "static"

    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            oauth2_redirect_url=_OAUTH2_REDIRECT,
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")
    app.add_api_route("/docs", swagger, include_in_schema=False)
    app.add_api_route(_OAUTH2_REDIRECT, oauth2_redirect, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
