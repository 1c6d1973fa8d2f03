"""Callbacks set by assignment to the decorators' names, as websocket-client
users write them (``ws.on_message = f``), and by the browser's names
(``ws.onclose = f``): each must run.

Usage: app URL. Prints ``open``, ``message ECHO`` and ``close CODE``.
"""

import sys

from wit_websocket import Handler, NetworkDevice, WatchHandler, WebSocket, main

__all__ = ["Handler", "Run", "WatchHandler"]


def start(args: list[str]) -> None:
    ws = NetworkDevice().create_websocket(args[1])

    def opened(ws: WebSocket) -> None:
        print("open")
        ws.send("assigned")

    def received(ws: WebSocket, data: str | bytes) -> None:
        print(f"message {data}")
        ws.close(1000, "")

    def closed(ws: WebSocket, code: int, reason: str, was_clean: bool) -> None:
        print(f"close {code}")

    ws.on_open = opened
    ws.on_message = received
    ws.onclose = closed
    if ws.onmessage is not received:
        sys.exit("on_message = f did not set onmessage")


Run = main(start)
