"""Callbacks set by assignment to the decorators' names, as websocket-client
users write them (``ws.on_message = f``), and by the browser's names
(``ws.onclose = f``): each must run. And errors caught by their classes.

Also a socket in a ``with`` block (pull mode), with timeouts in seconds.

Usage: app URL. Prints how a bad URL, a bad close code and a negative timeout
were caught, what the ``with`` block's socket echoed and its state after the
block, then ``open``, ``message ECHO`` and ``close CODE``.
"""

import sys

from wit_websocket import (
    Handler,
    InvalidCloseCode,
    InvalidURI,
    NetworkDevice,
    ReadyState,
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
    try:
        device.create_websocket(args[1], connect_timeout=-1)
    except ValueError as error:
        print(f"negative timeout: {type(error).__name__}")

    # A device of its own: its loop below must not take the other socket's events.
    looped = NetworkDevice()
    echoed: list[str | bytes] = []
    with looped.create_websocket(args[1], connect_timeout=5.0, keepalive_interval=30.0) as pulled:
        pulled.onmessage = lambda ws, data: echoed.append(data)
        while pulled.ready_state is ReadyState.CONNECTING:
            looped.wait()
            looped.update()
        pulled.send("in a with block")
        while not echoed:
            looped.wait()
            looped.update()
    print(f"with: echoed {echoed[0]!r}, then {pulled.ready_state.name}")

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
