"""asyncio for wit-websocket guests: an event loop over ``wasi:io/poll`` and
the monotonic clock, and a WebSocket client as Python's ``websockets`` has it.

componentize-py's own poll loop imports ``wasi:http`` (absent from the world
``app``) and has no timers; this loop is asyncio's own ``BaseEventLoop`` (so
``call_later``, ``asyncio.sleep``, ``wait_for``, ``gather``, tasks and
cancellation behave as on any platform) whose one blocking step is a
``wasi:io/poll.poll`` over the pollables its futures wait on, plus a clock
pollable for the next timer::

    from wit_websocket_asyncio import connect, run

    async def echo(url: str) -> None:
        async with connect(url) as ws:
            await ws.send("hello")
            async for message in ws:
                print(message)
                await ws.close()

    def start(args: list[str]) -> None:
        run(echo(args[1]))

Each connection has a device of its own and takes its events only when it is
read: a reader that stops reading makes the host stop reading the socket. A
writer waits for room: ``send`` waits while the socket holds more than the
high-water mark, until it falls to the low-water mark.
"""

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Generator, Iterable, Mapping
from typing import Any, TypeVar

from componentize_py_types import Err
from wit_world.imports import monotonic_clock, poll
from wit_world.imports import wit_websocket_client_network as network
from wit_world.imports import wit_websocket_client_types as types

from wit_websocket import ErrorKind, WebSocketError, _connect_options, _send_binary, _unpack

__all__ = [
    "ClientConnection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "EventLoop",
    "connect",
    "run",
    "wait_ready",
]

T = TypeVar("T")


class _PollSelector:
    """What ``BaseEventLoop._run_once`` blocks in: a ``wasi:io/poll.poll``."""

    def __init__(self) -> None:
        # (pollable, future) pairs; a pollable is dropped once it was ready
        # or its future is done.
        self.waiting: list[tuple[poll.Pollable, asyncio.Future[None]]] = []

    def select(self, timeout: float | None) -> list[object]:
        for pollable, future in [w for w in self.waiting if w[1].done()]:
            self.waiting.remove((pollable, future))
            pollable.__exit__(None, None, None)
        pollables = [pollable for pollable, _ in self.waiting]
        clock = None
        if timeout is not None:
            clock = monotonic_clock.subscribe_duration(max(0, math.ceil(timeout * 1e9)))
            pollables.append(clock)
        if not pollables:
            raise RuntimeError("the event loop waits on nothing: it would block forever")
        ready = poll.poll(pollables)
        woken = [self.waiting[index] for index in ready if index < len(self.waiting)]
        for entry in woken:
            self.waiting.remove(entry)
            entry[0].__exit__(None, None, None)
            if not entry[1].done():
                entry[1].set_result(None)
        if clock is not None:
            clock.__exit__(None, None, None)
        return []

    def close(self) -> None:
        for pollable, _ in self.waiting:
            pollable.__exit__(None, None, None)
        self.waiting.clear()


class EventLoop(asyncio.BaseEventLoop):
    """asyncio's event loop on ``wasi:io/poll``: tasks, futures and timers as
    usual; :func:`wait_ready` for any pollable. No sockets, subprocesses or
    signals (the component has none); WebSockets come from :func:`connect`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._selector = _PollSelector()

    def _process_events(self, event_list: list[object]) -> None:
        # `select` resolved the futures of ready pollables itself.
        pass

    def _write_to_self(self) -> None:
        # Only `call_soon_threadsafe` wakes a loop from outside; a component
        # has one thread, so the loop is never blocked when it is called.
        pass

    def close(self) -> None:
        super().close()
        self._selector.close()

    def wait_ready(self, pollable: poll.Pollable) -> "asyncio.Future[None]":
        """A future done when ``pollable`` is ready; the pollable is the loop's
        from now on (dropped once ready or the future is cancelled).
        """
        future = self.create_future()
        self._selector.waiting.append((pollable, future))
        return future


def wait_ready(pollable: poll.Pollable) -> "asyncio.Future[None]":
    """Waits (``await wait_ready(p)``) until ``pollable`` is ready, on the
    running :class:`EventLoop`.
    """
    loop = asyncio.get_running_loop()
    if not isinstance(loop, EventLoop):
        raise RuntimeError("wait_ready needs wit_websocket_asyncio's EventLoop (see run)")
    return loop.wait_ready(pollable)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Runs ``main`` to completion on a new :class:`EventLoop` and returns its
    result, as ``asyncio.run``: the tasks left are cancelled and async
    generators closed at the end.
    """
    loop = EventLoop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


class ConnectionClosed(WebSocketError):
    """The connection is closed: raised by ``recv`` and ``send`` after the
    close, as ``websockets.exceptions.ConnectionClosed``. ``code``, ``reason``
    and ``was_clean`` say how it ended.
    """

    def __init__(self, code: int, reason: str, was_clean: bool) -> None:
        super().__init__(ErrorKind.INVALID_STATE, f"the connection closed ({code} {reason})".strip())
        self.code = code
        self.reason = reason
        self.was_clean = was_clean


class ConnectionClosedOK(ConnectionClosed):
    """Closed cleanly with 1000 (normal) or 1001 (going away): ``async for``
    ends quietly.
    """


class ConnectionClosedError(ConnectionClosed):
    """Closed with an error or without a closing handshake."""


HIGH_WATER_MARK = 1 << 20
"""``buffered-amount`` above which ``send`` waits. 1 MiB."""
LOW_WATER_MARK = 256 << 10
"""``buffered-amount`` a waiting ``send`` waits for. 256 KiB."""


class ClientConnection:
    """An open WebSocket, as ``websockets``' ``ClientConnection``: ``send``,
    ``recv``, ``async for message in ws``, ``close``. Made by :func:`connect`.
    """

    def __init__(self, device: network.NetworkDevice, socket: network.Websocket) -> None:
        self._device = device
        self._socket = socket
        # Messages as ``str``/``bytes`` (taken packed), other events as events.
        self._inbox: deque[str | bytes | types.EventKind] = deque()
        self._closed: ConnectionClosed | None = None
        self._error: WebSocketError | None = None
        self.high_water_mark = HIGH_WATER_MARK
        self.low_water_mark = LOW_WATER_MARK

    async def _next_event(self) -> str | bytes | types.EventKind:
        while not self._inbox:
            # Taken from the host only when read: the host holds the rest.
            # The messages at its head come packed (a few flat lists rather
            # than an object per event and level); from the first other
            # event on, as events.
            self._inbox.extend(data for _, data in _unpack(self._device.take_packed()))
            if not self._inbox:
                self._inbox.extend(event.kind for event in self._device.update())
            if not self._inbox:
                await wait_ready(self._device.subscribe())
        return self._inbox.popleft()

    def _ended(self, info: types.CloseInfo) -> ConnectionClosed:
        kind = (
            ConnectionClosedOK if info.was_clean and info.code in (1000, 1001) else ConnectionClosedError
        )
        self._closed = kind(info.code, info.reason, info.was_clean)
        return self._closed

    async def recv(self) -> str | bytes:
        """The next message: ``str`` for text, ``bytes`` for binary. Raises
        :class:`ConnectionClosed` once the connection has closed.
        """
        while True:
            if self._closed is not None:
                raise self._closed
            match await self._next_event():
                case str() | bytes() as message:
                    return message
                case types.EventKind_Message(types.Message_Text(text)):
                    return text
                case types.EventKind_Message(types.Message_Binary(data)):
                    return bytes(data)
                case types.EventKind_Error(error):
                    self._error = WebSocketError._from_wit(error)
                case types.EventKind_Close(info):
                    raise self._ended(info)

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def send(self, message: str | bytes | bytearray | memoryview) -> None:
        """Sends a text (``str``) or binary message, first waiting while the
        socket holds more than ``high_water_mark`` bytes, until it falls to
        ``low_water_mark``: a writer never has the host refuse it for room.
        """
        if self._closed is not None:
            raise self._closed
        if self._socket.buffered_amount() > self.high_water_mark:
            await wait_ready(self._socket.subscribe_writable(self.low_water_mark))
        try:
            if isinstance(message, str):
                self._socket.send(types.Message_Text(message))
            else:
                _send_binary(self._socket, message)
        except Err as error:
            if self._closed is not None:
                raise self._closed from None
            raise WebSocketError._from_wit(error.value) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the closing handshake and waits for it to finish (messages
        that arrive meanwhile are dropped, as in ``websockets``).
        """
        if self._closed is None:
            try:
                self._socket.close(code, reason)
            except Err as error:
                raise WebSocketError._from_wit(error.value) from None
        while self._closed is None:
            event = await self._next_event()
            if isinstance(event, types.EventKind_Close):
                self._ended(event.value)

    @property
    def close_code(self) -> int | None:
        """The close code once closed, else ``None``."""
        return None if self._closed is None else self._closed.code

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed, else ``None``."""
        return None if self._closed is None else self._closed.reason

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, or ``None``."""
        return self._socket.protocol() or None

    @property
    def buffered_amount(self) -> int:
        """Bytes accepted by ``send`` and not yet written to the network."""
        return self._socket.buffered_amount()

    def destroy(self) -> None:
        """Drops the connection at once (close 1001)."""
        self._socket.__exit__(None, None, None)
        self._device.__exit__(None, None, None)


class connect:  # noqa: N801 - named as websockets' connect
    """Connects to ``url`` and completes the handshake: ``ws = await
    connect(url)``, or ``async with connect(url) as ws:`` (closed at the end).
    Raises :class:`WebSocketError` when the connection fails.
    """

    def __init__(
        self,
        url: str,
        *,
        subprotocols: Iterable[str] = (),
        additional_headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        open_timeout: float | None = None,
        compression: bool | None = None,
    ) -> None:
        self._url = url
        connect_timeout_ms = None if open_timeout is None else int(open_timeout * 1000)
        self._options = _connect_options(
            subprotocols, additional_headers, connect_timeout_ms, None, compression
        )
        self._connection: ClientConnection | None = None

    async def _connect(self) -> ClientConnection:
        device = network.NetworkDevice()
        device.set_push(False)  # taken when read, never pushed to callbacks
        try:
            socket = device.create_websocket(self._url, self._options)
        except Err as refused:
            raise WebSocketError._from_wit(refused.value) from None
        connection = ClientConnection(device, socket)
        while True:
            match await connection._next_event():
                case types.EventKind_Open():
                    return connection
                case types.EventKind_Error(error):
                    failure = WebSocketError._from_wit(error)
                    connection.destroy()
                    raise failure
                case types.EventKind_Close(info):
                    connection.destroy()
                    raise ConnectionClosedError(info.code, info.reason, info.was_clean)

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._connect().__await__()

    async def __aenter__(self) -> ClientConnection:
        self._connection = await self._connect()
        return self._connection

    async def __aexit__(self, *_: object) -> None:
        if self._connection is not None:
            await self._connection.close()
