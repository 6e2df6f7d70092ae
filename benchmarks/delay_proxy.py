"""A TCP proxy that holds every request for a fixed time: a slow Redis, without slowing the
Redis that others share.

Each chunk a client sends reaches the server ``delay_ms`` later (in order); replies pass at
once. Runs its own event loop on a daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import urlsplit, urlunsplit


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    try:
        while data := await reader.read(65536):
            if delay_s:
                await asyncio.sleep(delay_s)
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class DelayProxy:
    def __init__(self, target_url: str, delay_ms: float) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._parts = parts
        self._delay_s = delay_ms / 1000
        self._started = threading.Event()
        self._port = 0
        threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True).start()
        assert self._started.wait(10), "the delay proxy did not start"

    @property
    def url(self) -> str:
        """``target_url`` with the proxy's address in place of the server's."""
        auth = self._parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self._port}" if auth else f"127.0.0.1:{self._port}"
        return urlunsplit(self._parts._replace(netloc=netloc))

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self._port = server.sockets[0].getsockname()[1]
        self._started.set()
        async with server:
            await server.serve_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        await asyncio.gather(_pipe(reader, up_writer, self._delay_s), _pipe(up_reader, writer, 0.0))
