"""The bench's Python client (``wit-websocket bench``, client ``python``): the
``bench`` guest's echo workloads with the Python SDK, through the host. It
times itself with the monotonic clock.

Usage: ``bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT]``, as the Rust bench
guest (MODE is ignored: the SDK's callbacks are pushed). Prints
``rtt-ns P50 P99`` or ``pipe-ns ELAPSED``.
"""

import sys
import time

from wit_websocket import Handler, NetworkDevice, WatchHandler, WebSocket, WebSocketError, main

__all__ = ["Handler", "Run", "WatchHandler"]


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
    round_trips: list[int] = []
    sent = received = started = last_send = 0

    ws = NetworkDevice().create_websocket(url)

    def send(ws: WebSocket) -> None:
        nonlocal sent, last_send
        sent += 1
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
                round_trips.sort()
                at = lambda q: round_trips[int((len(round_trips) - 1) * q)]  # noqa: E731
                print(f"rtt-ns {at(0.5)} {at(0.99)}")
            else:
                print(f"pipe-ns {time.monotonic_ns() - started}")
            ws.close()

    @ws.on_error
    def _(ws: WebSocket, error: WebSocketError) -> None:
        print(f"bench-py: {error}", file=sys.stderr)


Run = main(start)
