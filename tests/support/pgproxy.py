"""`CommitCutter`: a TCP proxy between a runner and PostgreSQL that cuts one
connection at its next COMMIT, for real: before the COMMIT reaches the server
(it never lands), or after the server answered it (it landed, and the runner
never hears so). Everything else it passes on untouched, byte for byte.

    cutter = await CommitCutter.start(host, port)   # the server's address
    url = ...the database's URL with cutter.port...
    cut = cutter.arm("after")                       # the next COMMIT
    await cut.wait()

It runs in the test's event loop; the runner is another process.
"""

from __future__ import annotations

import asyncio
from typing import Literal

Mode = Literal["before", "after"]
CHUNK = 65536


class CommitCutter:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.upstream = port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._mode: Mode | None = None
        self._skip = 0
        self._cut = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, host: str, port: int) -> CommitCutter:
        cutter = cls(host, port)
        cutter._server = await asyncio.start_server(cutter._serve, "127.0.0.1", 0)
        cutter.port = cutter._server.sockets[0].getsockname()[1]
        return cutter

    def arm(self, mode: Mode, skip: int = 0) -> asyncio.Event:
        """Cut the connection that sends the next COMMIT but `skip`; the event
        is set once it was cut."""
        self._mode, self._skip = mode, skip
        self._cut = asyncio.Event()
        return self._cut

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream)
        except OSError:
            writer.close()
            return
        deaf = False  # the COMMIT went on: drop what the server says, cut once it committed
        cutting = False

        async def client_to_server() -> None:
            nonlocal deaf, cutting
            while data := await reader.read(CHUNK):
                if self._mode is not None and b"COMMIT" in data and self._skip:
                    self._skip -= 1
                elif self._mode is not None and b"COMMIT" in data:
                    mode, self._mode = self._mode, None
                    cutting = True
                    if mode == "before":
                        return  # never sent: the server rolls the transaction back
                    deaf = True
                up_writer.write(data)  # what follows (a pipeline's Sync) too
                await up_writer.drain()

        async def server_to_client() -> None:
            heard = b""
            while data := await up_reader.read(CHUNK):
                if deaf:
                    # CommandComplete "COMMIT": the server committed.
                    heard = heard[-16:] + data
                    if b"COMMIT\x00" in heard:
                        return
                    continue
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
        for pump in pumps:
            self._tasks.add(pump)
            pump.add_done_callback(self._tasks.discard)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for w in (writer, up_writer):
                w.close()  # a reset, not a goodbye: nothing to wait for
            if cutting:
                self._cut.set()
