"""The bench's Python client (``wit-websocket bench``, client ``python``): the
``bench`` guest's echo workloads with the Python SDK, through the host. It
times itself with the monotonic clock.

Usage: ``bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT]``, as the Rust bench
guest: MODE ``async`` is asyncio (``wit_websocket_asyncio``: ``await
ws.send``, ``await ws.recv``), any other the SDK's pushed callbacks. Prints
``rtt-ns P50 P99`` or ``pipe-ns ELAPSED``.
"""

import sys
import time

from wit_websocket import Handler, NetworkDevice, WatchHandler, WebSocket, WebSocketError, main
from wit_websocket_asyncio import connect, run

__all__ = ["Handler", "Run", "WatchHandler"]


def report_round_trips(round_trips: list[int]) -> None:
    round_trips.sort()
    at = lambda q: round_trips[int((len(round_trips) - 1) * q)]  # noqa: E731
    print(f"rtt-ns {at(0.5)} {at(0.99)}")


async def echo_async(url: str, rtt: bool, payload: str | bytes, count: int, window: int) -> None:
    async with connect(url, compression=isinstance(payload, str)) as ws:
        started = time.monotonic_ns()
        if rtt:
            round_trips = []
            for _ in range(count):
                sent_at = time.monotonic_ns()
                await ws.send(payload)
                await ws.recv()
                round_trips.append(time.monotonic_ns() - sent_at)
            report_round_trips(round_trips)
        else:
            sent = min(window, count)
            for _ in range(sent):
                await ws.send(payload)
            for _ in range(count):
                await ws.recv()
                if sent < count:
                    await ws.send(payload)
                    sent += 1
            print(f"pipe-ns {time.monotonic_ns() - started}")


def start(args: list[str]) -> None:
    if len(args) < 7:
        sys.exit("usage: bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT]")
    workload, url = args[2], args[3]
    count, size, window = int(args[4]), int(args[5]), int(args[6])
    if len(args) > 7:
        text = args[7]
        payload: str | bytes = (text * (size // len(text) + 1))[:size]
    else:
        payload = b"\x5a" * size
    rtt = workload == "rtt"
    if args[1] == "async":
        run(echo_async(url, rtt, payload, count, window))
        return
    round_trips: list[int] = []
    sent = received = started = last_send = 0

    ws = NetworkDevice().create_websocket(url)

    def send(ws: WebSocket) -> None:
        nonlocal sent, last_send
        sent += 1
        if rtt:  # the clock only where a figure needs it
            last_send = time.monotonic_ns()
        ws.send(payload)

    @ws.on_open
    def _(ws: WebSocket) -> None:
        nonlocal started
        started = time.monotonic_ns()
        for _ in range(1 if rtt else min(window, count)):
            send(ws)

    @ws.on_message
    def _(ws: WebSocket, data: str | bytes) -> None:
        nonlocal received
        received += 1
        if rtt:
            round_trips.append(time.monotonic_ns() - last_send)
        if sent < count:
            send(ws)
        elif received == count:
            if rtt:
                report_round_trips(round_trips)
            else:
                print(f"pipe-ns {time.monotonic_ns() - started}")
            ws.close()

    @ws.on_error
    def _(ws: WebSocket, error: WebSocketError) -> None:
        print(f"bench-py: {error}", file=sys.stderr)


Run = main(start)
