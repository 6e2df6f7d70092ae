"""The one HTTP client every deployment is called through (aiohttp).

One session, one connection pool, kept connections per host. httpx was tried first: its pool
checks every kept connection with a system call on each request, which cost the gateway more
than its own work once a few dozen connections were open (a profile at 16 in flight put 12% of
the gateway's time there).
"""

from __future__ import annotations

import aiohttp


class UpstreamHttp:
    """Made on first use, inside the event loop (aiohttp sessions belong to their loop)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
