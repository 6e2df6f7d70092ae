"""``ConsoleFiles``: the console's static files, served with headers that keep it a pure client
of the API: no inline script, nothing loaded from elsewhere, no framing."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

# Scripts and styles only from the console's own files (no inline script, no eval); requests only
# to this server; no plugins, no framing, no form posting elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # The files change with autan's version; a stale cached copy would call a newer API wrongly.
    "Cache-Control": "no-cache",
}


class ConsoleFiles(StaticFiles):
    """The files under ``autan/console/static``; ``index.html`` at ``/console/``."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR, html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as e:  # not found, method not allowed: plain text, same headers
            response = PlainTextResponse(e.detail, status_code=e.status_code, headers=e.headers)
        response.headers.update(SECURITY_HEADERS)
        return response
