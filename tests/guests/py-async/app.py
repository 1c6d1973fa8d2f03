"""Test guest for the Python event loop.

  app writer URL COUNT SIZE   sends COUNT binary messages of SIZE bytes with
                              ``await ws.send``, then reads one reply
  app timers URL              push-mode timers beside a callback socket
"""

import sys
import time

from wit_websocket import (
    Handler,
    NetworkDevice,
    WatchHandler,
    WebSocket,
    clear_timer,
    main,
    set_interval,
    set_timeout,
)
from wit_websocket_asyncio import connect, run

__all__ = ["Handler", "Run", "WatchHandler"]


async def writer(url: str, count: int, size: int) -> None:
    async with connect(url) as ws:
        for n in range(count):
            message = bytearray([n % 251]) * size
            message[:8] = n.to_bytes(8, "big")
            await ws.send(message)
        print(f"sent {count}")
        print(f"reply {await ws.recv()}")
    print(f"close {ws.close_code} {ws.close_reason}")


def timers(url: str) -> None:
    start = time.monotonic()
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        print(f"tick {ticks}")
        if ticks == 3:
            clear_timer(interval)

    # The interval first: its deadline (15 ms) stays before the 20 ms timeout's
    # however long this interpreter takes between the two calls.
    interval = set_interval(0.015, tick)
    set_timeout(0.06, lambda: print(f"timeout 60 at={int((time.monotonic() - start) * 1000)}"))
    set_timeout(0.02, print, "timeout 20")
    clear_timer(set_timeout(0.01, print, "cleared timer fired"))
    ws = NetworkDevice().create_websocket(url)

    @ws.on_open
    def _(ws: WebSocket) -> None:
        set_timeout(0.03, ws.send, "late")

    @ws.on_message
    def _(ws: WebSocket, data: str | bytes) -> None:
        print(f"message {data}")
        ws.close(1000)

    @ws.on_close
    def _(ws: WebSocket, code: int, reason: str, was_clean: bool) -> None:
        print(f"close {code} clean={str(was_clean).lower()}")

    while time.monotonic() - start < 0.04:
        pass


def start(args: list[str]) -> None:
    match args[1:]:
        case ["writer", url, count, size]:
            run(writer(url, int(count), int(size)))
        case ["timers", url]:
            timers(url)
        case _:
            sys.exit(f"usage: {__doc__}")


Run = main(start)
