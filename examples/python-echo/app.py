"""The Python echo example: connects to a WebSocket echo server, sends a text
message and a binary one, prints both echoes, then closes with 1000.

Build (from the repository root):
``guest/componentize examples/python-echo/app.py python-echo.wasm``.

Run: ``wit-websocket run --allow-net=HOST python-echo.wasm -- URL``.
"""

import sys

from wit_websocket import Handler, NetworkDevice, WatchHandler, WebSocket, WebSocketError, main

__all__ = ["Handler", "Run", "WatchHandler"]

TEXT = "hello from Python"
BINARY = bytes([1, 2, 3])


def start(args: list[str]) -> None:
    if len(args) != 2:
        sys.exit("usage: python-echo URL")
    url = args[1]
    try:
        ws = NetworkDevice().create_websocket(url)
    except WebSocketError as error:
        sys.exit(f"python-echo: cannot connect to {url}: {error}")
    echoes = 0

    @ws.on_open
    def _(ws: WebSocket) -> None:
        extensions = f" ({ws.extensions})" if ws.extensions else ""
        print(f"open: {ws.url}{extensions}")
        ws.send(TEXT)
        ws.send(BINARY)

    @ws.on_message
    def _(ws: WebSocket, data: str | bytes) -> None:
        nonlocal echoes
        print(f"echo: {data}" if isinstance(data, str) else f"echo: {len(data)} bytes")
        echoes += 1
        if echoes == 2:
            ws.close(1000, "done")

    @ws.on_error
    def _(ws: WebSocket, error: WebSocketError) -> None:
        print(f"error: {error}", file=sys.stderr)

    @ws.on_close
    def _(ws: WebSocket, code: int, reason: str, was_clean: bool) -> None:
        print(f"close: {code} clean={was_clean}")


Run = main(start)
