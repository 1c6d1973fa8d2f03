"""The chat example's Python guest: joins a room of the chat server with a
nickname, says its lines, prints every line the room sends, and leaves.

Usage: ``wit-websocket run chat.wasm -- [--leave-after N] ROOM_URL NICK [LINE...]``,
e.g. ``ws://127.0.0.1:9001/lobby ann "hello all"``. With ``--leave-after N`` it
leaves (close 1000) once it has seen N chat lines (its own included);
otherwise it stays until the server closes. It behaves as the Rust guest in
``examples/chat/rust`` does.

Build (from the repository root):
``guest/componentize examples/chat/python/app.py chat-python.wasm``.
"""

import sys

from wit_websocket import Handler, NetworkDevice, WatchHandler, WebSocket, WebSocketError, main

__all__ = ["Handler", "Run", "WatchHandler"]

USAGE = "usage: chat [--leave-after N] ROOM_URL NICK [LINE...]"


def parse(args: list[str]) -> tuple[int | None, str, str, list[str]]:
    """``(leave_after, room_url, nick, lines)`` from the arguments after the
    program's name; exits with the usage message (status 1) when they are wrong.
    """
    leave_after = None
    if args[:1] == ["--leave-after"]:
        if len(args) < 2 or not args[1].isdecimal() or int(args[1]) == 0:
            sys.exit(f"chat: --leave-after takes a positive whole number\n{USAGE}")
        leave_after, args = int(args[1]), args[2:]
    if len(args) < 2:
        sys.exit(USAGE)
    room_url, nick, *lines = args
    return leave_after, room_url, nick, lines


def start(args: list[str]) -> None:
    leave_after, room_url, nick, lines = parse(args[1:])
    try:
        ws = NetworkDevice().create_websocket(f"{room_url}?nick={nick}")
    except WebSocketError as error:
        sys.exit(f"chat: cannot join {room_url}: {error}")
    chat_lines_seen = 0

    @ws.on_open
    def _(ws: WebSocket) -> None:
        print(f"joined as {nick}")
        for line in lines:
            ws.send(line)

    @ws.on_message
    def _(ws: WebSocket, line: str | bytes) -> None:
        nonlocal chat_lines_seen
        if not isinstance(line, str):
            return  # The room sends text only.
        print(line)
        if not line.startswith("* "):
            chat_lines_seen += 1
            if chat_lines_seen == leave_after:
                ws.close(1000, "bye")

    @ws.on_error
    def _(ws: WebSocket, error: WebSocketError) -> None:
        print(f"error: {error}", file=sys.stderr)

    @ws.on_close
    def _(ws: WebSocket, code: int, reason: str, was_clean: bool) -> None:
        print(f"left: {code}")


Run = main(start)
