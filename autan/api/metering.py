"""Rate-limit headers on every response, and one usage record per request, at the ASGI level.

Pure ASGI rather than a ``BaseHTTPMiddleware``: it adds nothing but a dictionary lookup to a
request, and it sees a stream's headers go out before its first chunk. The ``Meter`` is the
one ``deps.authenticate`` left in the request's state; requests without one pass untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autan.accounts.meter import Meter
from autan.platform import Platform


class MeteringMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                meter: Meter | None = scope.get("state", {}).get("meter")
                if meter is not None and meter.headers:
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.encode(), v.encode()) for k, v in meter.headers.items()),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            meter = scope.get("state", {}).get("meter")
            if meter is not None:
                platform: Platform = scope["app"].state.platform
                assert platform.accounts is not None, "a meter exists only with accounts on"
                platform.accounts.record(meter, status)
