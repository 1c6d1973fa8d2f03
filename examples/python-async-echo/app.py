"""The echo example with asyncio, as a user of Python's ``websockets`` writes
it: ``async with connect(url) as ws``, ``await ws.send(...)``,
``async for message in ws``; each wait bounded by ``asyncio.wait_for``, and
two sends run together with ``asyncio.gather``.

Build (from the repository root):
``guest/componentize examples/python-async-echo/app.py python-async-echo.wasm``.

Run: ``wit-websocket run --allow-net=HOST python-async-echo.wasm -- URL``.
"""

import asyncio
import sys

from wit_websocket import Handler, WatchHandler, main
from wit_websocket_asyncio import connect, run

__all__ = ["Handler", "Run", "WatchHandler"]


async def echo(url: str) -> None:
    async with connect(url) as ws:
        print(f"open: {url}")
        await asyncio.gather(ws.send("hello, asyncio"), ws.send(b"\x01\x02\x03"))
        received = 0
        async for message in ws:
            print(f"echo: {message}" if isinstance(message, str) else f"echo: {len(message)} bytes")
            received += 1
            if received == 2:
                await asyncio.sleep(0.01)
                break
        try:
            await asyncio.wait_for(ws.recv(), timeout=0.05)
        except TimeoutError:
            print("no more messages")
    print(f"close: {ws.close_code} {ws.close_reason}")


def start(args: list[str]) -> None:
    if len(args) != 2:
        sys.exit("usage: python-async-echo URL")
    run(echo(args[1]))


Run = main(start)
