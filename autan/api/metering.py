"""Rate-limit headers on every response, and one usage record per request, at the ASGI level.

Pure ASGI rather than a ``BaseHTTPMiddleware``: it adds nothing but a dictionary lookup to a
request, and it sees a stream's headers go out before its first chunk. The ``Meter`` is the
one ``deps.authenticate`` left in the request's state; requests without one pass untouched.

The usage record is committed to the database before the end of the answer is sent: the
last body message, or a stream's ``data: [DONE]``. A client that has the whole answer is
billed even if the process is killed the next instant; one that went away before is recorded
too, buffered.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autan.accounts.accounts import Accounts
from autan.accounts.meter import Meter
from autan.platform import Platform

_DONE = b"data: [DONE]\n\n"


def _ends_answer(message: Message) -> bool:
    return not message.get("more_body", False) or message.get("body", b"").endswith(_DONE)


def _accounts(scope: Scope) -> Accounts:
    platform: Platform = scope["app"].state.platform
    assert platform.accounts is not None, "a meter exists only with accounts on"
    return platform.accounts


class MeteringMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        recorded = False

        def meter_of() -> Meter | None:
            meter: Meter | None = scope.get("state", {}).get("meter")
            return meter

        async def send_metered(message: Message) -> None:
            nonlocal status, recorded
            meter = meter_of()
            if message["type"] == "http.response.start":
                status = message["status"]
                if meter is not None and meter.headers:
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.encode(), v.encode()) for k, v in meter.headers.items()),
                    ]
            elif (
                message["type"] == "http.response.body"
                and meter is not None
                and not recorded
                and _ends_answer(message)
            ):
                recorded = True
                await asyncio.wrap_future(_accounts(scope).commit(meter, status))
            await send(message)

        try:
            await self.app(scope, receive, send_metered)
        finally:
            meter = meter_of()
            if meter is not None and not recorded:
                _accounts(scope).record(meter, status)
