"""A client that stays connected: a heartbeat (``ping N``) every HEARTBEAT_MS
and, when the connection is lost, a reconnection after an exponential backoff
with jitter (BACKOFF_MS doubling up to 30 times it, each wait drawn between
half and all of it), reset once connected. It stops after ECHOES heartbeats
came back (0: never). The same program as examples/reconnect/rust and js.

Build: ``guest/componentize examples/reconnect/python/app.py reconnect-py.wasm``.

Run: ``wit-websocket run --allow-net=HOST reconnect-py.wasm -- URL [HEARTBEAT_MS] [ECHOES] [BACKOFF_MS]``.
"""

import random
import sys

from wit_websocket import (
    Handler,
    NetworkDevice,
    WatchHandler,
    WebSocket,
    WebSocketError,
    clear_timer,
    main,
    set_interval,
    set_timeout,
)

__all__ = ["Handler", "Run", "WatchHandler"]


class Client:
    def __init__(self, url: str, heartbeat_ms: int, echoes_wanted: int, backoff_ms: int) -> None:
        self.device = NetworkDevice()
        self.url = url
        self.heartbeat = heartbeat_ms / 1000
        self.echoes_wanted = echoes_wanted
        self.backoff = backoff_ms / 1000
        self.echoes = 0
        self.connections = 0
        self.attempts = 0  # failed attempts since the last connection

    def done(self) -> bool:
        return self.echoes_wanted > 0 and self.echoes >= self.echoes_wanted

    def next_delay(self) -> float:
        backoff = min(self.backoff * 2 ** min(self.attempts, 16), self.backoff * 30)
        self.attempts += 1
        return backoff * (0.5 + random.random() / 2)

    def connect(self) -> None:
        try:
            ws = self.device.create_websocket(self.url)
        except WebSocketError as error:
            sys.exit(f"reconnect: {error}")  # refused by the host: retrying won't help
        heartbeat: int | None = None

        @ws.on_open
        def _(ws: WebSocket) -> None:
            nonlocal heartbeat
            self.attempts = 0
            self.connections += 1
            print(f"connected {self.connections}")
            sent = 0

            def beat() -> None:
                nonlocal sent
                sent += 1
                try:
                    ws.send(f"ping {sent}")
                except WebSocketError:
                    pass  # closing: its close event comes next

            heartbeat = set_interval(self.heartbeat, beat)

        @ws.on_message
        def _(ws: WebSocket, data: str | bytes) -> None:
            self.echoes += 1
            print(f"echo {data}")
            if self.done() and heartbeat is not None:
                clear_timer(heartbeat)
                ws.close(1000, "done")

        @ws.on_close
        def _(ws: WebSocket, code: int, reason: str, was_clean: bool) -> None:
            if heartbeat is not None:
                clear_timer(heartbeat)
            if self.done():
                print(f"done: {self.echoes} echoes over {self.connections} connections")
                return
            delay = self.next_delay()
            print(f"disconnected {code}; reconnecting in {round(delay * 1000)} ms")
            set_timeout(delay, self.connect)


def start(args: list[str]) -> None:
    if len(args) < 2:
        sys.exit("usage: reconnect URL [HEARTBEAT_MS] [ECHOES] [BACKOFF_MS]")
    numbers = [int(arg) for arg in args[2:5]]
    heartbeat, echoes, backoff = numbers + [1000, 0, 1000][len(numbers) :]
    Client(args[1], heartbeat, echoes, backoff).connect()


Run = main(start)
