"""A TCP relay to a PostgreSQL server that a test controls, byte for byte: the moments a
real network makes rare (an answer lost after the server committed, a link that hangs with
both ends open, a cut, a host that cannot be reached) made to happen exactly."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator


class Relay:
    """127.0.0.1:port -> the server, byte for byte, until told otherwise: `mute_at_commit`
    passes everything until the client has sent a COMMIT, then drops the server's answers
    (the server commits, the client never hears of it),
    `freeze` holds everything with both sockets open (a hung host), `cut` closes both sides
    of every link, and `down` refuses new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.loop: asyncio.AbstractEventLoop | None = None
        self._mode = "pass"
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.links: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self._mode = mode
        if mode == "freeze":
            self.flowing.clear()
        else:
            self.flowing.set()

    async def start(self) -> Relay:
        self.loop = asyncio.get_running_loop()
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":  # as a host that is unreachable: nothing gets through
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.links += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                       from_server: bool) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    await self.flowing.wait()
                    if from_server and self.mode == "muted":
                        continue
                    dst.write(data)
                    await dst.drain()
                    if not from_server and self.mode == "mute_at_commit" and b"COMMIT" in data:
                        self.mode = "muted"

        # Cancelled at the test's end: quietly, as a relay that is switched off.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(pipe(reader, up_writer, False),
                                 pipe(up_reader, writer, True))

    def cut(self) -> None:
        for link in self.links:
            link.transport.abort()
        self.links.clear()

    def within(self, change: Callable[[], None]) -> None:
        """Run `change` (a mode change, a cut) on the relay's own loop, from any thread."""
        assert self.loop is not None
        done = threading.Event()

        def run() -> None:
            change()
            done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(5)

    def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


@contextlib.contextmanager
def relay_thread(target_port: int) -> Iterator[Relay]:
    """A relay on a loop of its own thread, for tests whose clients are other processes;
    change it with `relay.within(...)`."""
    ready = threading.Event()
    holder: list[Relay] = []
    stop: list[asyncio.Event] = []

    async def main() -> None:
        relay = await Relay(target_port).start()
        holder.append(relay)
        stop.append(asyncio.Event())
        ready.set()
        await stop[0].wait()
        relay.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    relay = holder[0]
    try:
        yield relay
    finally:
        assert relay.loop is not None
        relay.loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
