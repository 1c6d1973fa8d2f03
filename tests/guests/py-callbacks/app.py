"""Callbacks set by assignment to the decorators' names, as websocket-client
users write them (``ws.on_message = f``), and by the browser's names
(``ws.onclose = f``): each must run. And errors caught by their classes.

Usage: app URL. Prints how a bad URL and a bad close code were caught, then
``open``, ``message ECHO`` and ``close CODE``.
"""

import sys

from wit_websocket import (
    Handler,
    InvalidCloseCode,
    InvalidURI,
    NetworkDevice,
    WatchHandler,
    WebSocket,
    WebSocketError,
    main,
)

__all__ = ["Handler", "Run", "WatchHandler"]


def caught(error: WebSocketError) -> str:
    bases = [c.__name__ for c in (ValueError, WebSocketError) if isinstance(error, c)]
    return f"{type(error).__name__} {' '.join(bases)} kind={error.kind}"


def start(args: list[str]) -> None:
    device = NetworkDevice()
    try:
        device.create_websocket("ws://example.com/#fragment")
    except InvalidURI as error:
        print(f"bad url: {caught(error)}")
    ws = device.create_websocket(args[1])
    try:
        ws.close(999)
    except InvalidCloseCode as error:
        print(f"bad close code: {caught(error)}")

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
