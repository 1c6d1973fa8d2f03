"""Binary messages sent from Python, more of them than the guest has memory:
each is sent and echoed back byte for byte, with every byte value, with the
callbacks (``ws.send``) or the asyncio client (``await ws.send``), from
``bytes``, a ``bytearray``, a ``memoryview`` and a strided one in turn.

Usage: app callbacks|asyncio URL COUNT SIZE. Prints ``MODE: COUNT echoed
intact``, or the first message that came back wrong.
"""

import sys

from wit_websocket import Handler, NetworkDevice, WatchHandler, WebSocket, main
from wit_websocket_asyncio import connect, run

__all__ = ["Handler", "Run", "WatchHandler"]


def payload(index: int, size: int) -> bytes:
    """Every byte value, rotated by the message's index (so that a message
    delivered out of place or twice does not compare equal)."""
    pattern = bytes((index + byte) % 256 for byte in range(256))
    return (pattern * (size // 256 + 1))[:size]


def sendable(index: int, data: bytes) -> bytes | bytearray | memoryview:
    """The bytes-like kinds ``send`` takes, in turn: ``bytes``, a ``bytearray``,
    a ``memoryview`` and one that takes every other byte of its buffer."""
    kind = index % 4
    if kind == 3:
        spread = bytearray(2 * len(data))
        spread[::2] = data
        return memoryview(spread)[::2]
    return (data, bytearray(data), memoryview(data))[kind]


def check(mode: str, index: int, size: int, data: str | bytes) -> bool:
    if data != payload(index, size):
        print(f"{mode}: message {index} came back as {type(data).__name__} of {len(data)} bytes")
        return False
    return True


async def with_asyncio(url: str, count: int, size: int) -> None:
    async with connect(url) as ws:
        for index in range(count):
            await ws.send(sendable(index, payload(index, size)))
            if not check("asyncio", index, size, await ws.recv()):
                return
    print(f"asyncio: {count} echoed intact")


def start(args: list[str]) -> None:
    mode, url, count, size = args[1], args[2], int(args[3]), int(args[4])
    if mode == "asyncio":
        run(with_asyncio(url, count, size))
        return
    received = 0
    ws = NetworkDevice().create_websocket(url)

    @ws.on_open
    def _(ws: WebSocket) -> None:
        ws.send(sendable(0, payload(0, size)))

    @ws.on_message
    def _(ws: WebSocket, data: str | bytes) -> None:
        nonlocal received
        if not check("callbacks", received, size, data):
            ws.close()
            return
        received += 1
        if received < count:
            ws.send(sendable(received, payload(received, size)))
        else:
            print(f"callbacks: {count} echoed intact")
            ws.close()

    @ws.on_error
    def _(ws: WebSocket, error: Exception) -> None:
        print(f"error: {error}", file=sys.stderr)


Run = main(start)
