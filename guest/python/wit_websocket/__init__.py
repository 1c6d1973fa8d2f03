"""The Python guest SDK for wit-websocket: the browser's WebSocket API for
WebAssembly components built with componentize-py.

The model is the Rust SDK's (``guest/src/lib.rs``). A guest creates a
:class:`NetworkDevice`, asks it for sockets with
:meth:`NetworkDevice.create_websocket`, and sets callbacks on each socket the
way browser code sets ``ws.onopen`` and ``ws.onmessage``. The host does the
socket I/O and reports what happened as events, which reach the callbacks in
one of two ways:

- **push**: the app's start function returns, and the host calls back into the
  component whenever it has news, until no socket is live, like a browser tab.
  This needs :class:`Handler` (and, for timers, :class:`WatchHandler`) in the
  app module. :func:`set_timeout` and :func:`set_interval` run on the same loop.
- **pull**: the app keeps running its own loop and calls
  :meth:`NetworkDevice.update` (after :meth:`NetworkDevice.wait`, or once per
  frame), which runs the callbacks for every pending event.

A socket stays alive while it is connecting or open, even when the app keeps
no reference to it (as in a browser); :meth:`WebSocket.destroy` releases it at
once. The app module (``app.py``, built with ``componentize-py ... componentize
app``) looks like this::

    from wit_websocket import Handler, NetworkDevice, WatchHandler, main

    def start(args: list[str]) -> None:
        ws = NetworkDevice().create_websocket(args[1])

        @ws.on_open
        def _(ws):
            ws.send("hello")

        @ws.on_message
        def _(ws, data):
            print("got", data)
            ws.close(1000, "done")

    Run = main(start)

componentize-py looks ``Run``, ``Handler`` and ``WatchHandler`` up as
attributes of the app module, so importing ``Handler`` and ``WatchHandler``
and assigning ``Run`` there is all it needs.

Module-level code (the app's and this module's) runs when the component is
built, not when it runs: create devices and sockets in ``start``.
"""

import heapq
import math
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import IntEnum, StrEnum
from typing import Generic, TypeVar, get_args, overload

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import exit as wasi_exit
from wit_world.imports import monotonic_clock, poll
from wit_world.imports import wit_websocket_client_network as network
from wit_world.imports import wit_websocket_client_types as types

__all__ = [
    "ConnectionRefused",
    "DNSFailure",
    "ErrorKind",
    "IOFailure",
    "InvalidCloseCode",
    "InvalidHandshake",
    "InvalidOptions",
    "InvalidState",
    "InvalidStatus",
    "InvalidURI",
    "InvalidUTF8",
    "LimitExceeded",
    "NotPermitted",
    "PayloadTooBig",
    "ProtocolError",
    "ReasonTooLong",
    "TLSError",
    "Timeout",
    "Handler",
    "WatchHandler",
    "clear_timer",
    "set_interval",
    "set_timeout",
    "watch",
    "NetworkDevice",
    "ReadyState",
    "WebSocket",
    "WebSocketError",
    "main",
]


class ReadyState(IntEnum):
    """The state of a socket, as the browser's ``readyState`` (same numbers)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class ErrorKind(StrEnum):
    """What went wrong: the WIT ``error-code`` case, by its WIT name.

    A ``StrEnum``, so ``error.kind == "invalid-url"`` works as well as
    ``error.kind is ErrorKind.INVALID_URL``.
    """

    INVALID_URL = "invalid-url"
    NOT_PERMITTED = "not-permitted"
    DNS_FAILURE = "dns-failure"
    CONNECTION_REFUSED = "connection-refused"
    TLS = "tls"
    HANDSHAKE_REJECTED = "handshake-rejected"
    PROTOCOL_VIOLATION = "protocol-violation"
    MESSAGE_TOO_LARGE = "message-too-large"
    LIMIT_EXCEEDED = "limit-exceeded"
    INVALID_STATE = "invalid-state"
    INVALID_OPTIONS = "invalid-options"
    INVALID_UTF8 = "invalid-utf8"
    INVALID_CLOSE_CODE = "invalid-close-code"
    REASON_TOO_LONG = "reason-too-long"
    TIMEOUT = "timeout"
    IO = "io"


# The generated case classes are named after the WIT cases (INVALID_URL ->
# ErrorCode_InvalidUrl). This runs when the component is built, so an enum that
# no longer matches the WIT fails the build rather than a run.
_KIND_OF_CASE = {
    getattr(types, "ErrorCode_" + kind.name.title().replace("_", "")): kind for kind in ErrorKind
}
assert set(_KIND_OF_CASE) == set(get_args(types.ErrorCode)), "ErrorKind must match error-code"


class WebSocketError(Exception):
    """A failed operation (raised) or a failed connection (passed to ``onerror``).

    The base of a hierarchy to catch by (``except InvalidURI``, ``except
    ValueError`` for any bad argument, ``except InvalidStatus as e: e.status``),
    with the names Python's ``websockets`` uses where it has one; each class
    also derives from the built-in exception it is a case of. ``kind`` says
    which WIT ``error-code`` case it is, ``message`` what happened, for people,
    and ``status`` the HTTP status when the server refused the upgrade, else
    ``None``.
    """

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(kind, message, status)
        self.kind = kind
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    @classmethod
    def _from_wit(cls, error: types.ErrorCode) -> "WebSocketError":
        kind = _KIND_OF_CASE[type(error)]
        made = _CLASS_OF_KIND[kind]
        match error:
            case types.ErrorCode_HandshakeRejected(rejection):
                return made(kind, f"HTTP {rejection.status}: {rejection.message}", rejection.status)
            case types.ErrorCode_InvalidCloseCode(code):
                return made(kind, f"close code {code} is not 1000 or in 3000..=4999")
            case types.ErrorCode_ReasonTooLong(length):
                return made(kind, f"the close reason is {length} bytes of UTF-8, more than 123")
            case _:
                return made(kind, error.value)


class InvalidURI(WebSocketError, ValueError):
    """``invalid-url``: not an absolute ``ws``/``wss``/``http(s)`` URL without a fragment."""


class InvalidOptions(WebSocketError, ValueError):
    """``invalid-options``: subprotocols or headers the handshake cannot carry."""


class InvalidUTF8(WebSocketError, ValueError):
    """``invalid-utf8``: text that is not UTF-8."""


class InvalidCloseCode(WebSocketError, ValueError):
    """``invalid-close-code``: a close code other than 1000 or 3000..=4999."""


class ReasonTooLong(WebSocketError, ValueError):
    """``reason-too-long``: a close reason over 123 bytes of UTF-8."""


class NotPermitted(WebSocketError, PermissionError):
    """``not-permitted``: the host's network policy refuses the destination."""


class LimitExceeded(WebSocketError):
    """``limit-exceeded``: one of the host's limits (sockets, buffered bytes, ...)."""


class InvalidState(WebSocketError):
    """``invalid-state``: not possible in the socket's state (sending while connecting, ...)."""


class PayloadTooBig(WebSocketError):
    """``message-too-large``: a message over the host's size limit."""


class InvalidHandshake(WebSocketError):
    """The opening handshake failed (the base of :class:`InvalidStatus`)."""


class InvalidStatus(InvalidHandshake):
    """``handshake-rejected``: the server answered the upgrade with ``status``."""


class ProtocolError(WebSocketError):
    """``protocol-violation``: the peer broke RFC 6455."""


class DNSFailure(WebSocketError, OSError):
    """``dns-failure``: the host name did not resolve."""


class ConnectionRefused(WebSocketError, ConnectionRefusedError):
    """``connection-refused``: nothing accepted the connection."""


class TLSError(WebSocketError, OSError):
    """``tls``: the TLS handshake or session failed."""


class Timeout(WebSocketError, TimeoutError):
    """``timeout``: connecting, closing or a keepalive took too long."""


class IOFailure(WebSocketError, OSError):
    """``io``: the connection failed (reset, ...)."""


_CLASS_OF_KIND: dict[ErrorKind, type[WebSocketError]] = {
    ErrorKind.INVALID_URL: InvalidURI,
    ErrorKind.NOT_PERMITTED: NotPermitted,
    ErrorKind.DNS_FAILURE: DNSFailure,
    ErrorKind.CONNECTION_REFUSED: ConnectionRefused,
    ErrorKind.TLS: TLSError,
    ErrorKind.HANDSHAKE_REJECTED: InvalidStatus,
    ErrorKind.PROTOCOL_VIOLATION: ProtocolError,
    ErrorKind.MESSAGE_TOO_LARGE: PayloadTooBig,
    ErrorKind.LIMIT_EXCEEDED: LimitExceeded,
    ErrorKind.INVALID_STATE: InvalidState,
    ErrorKind.INVALID_OPTIONS: InvalidOptions,
    ErrorKind.INVALID_UTF8: InvalidUTF8,
    ErrorKind.INVALID_CLOSE_CODE: InvalidCloseCode,
    ErrorKind.REASON_TOO_LONG: ReasonTooLong,
    ErrorKind.TIMEOUT: Timeout,
    ErrorKind.IO: IOFailure,
}
assert set(_CLASS_OF_KIND) == set(ErrorKind), "every error kind has its class"


def _destroyed() -> WebSocketError:
    return InvalidState(ErrorKind.INVALID_STATE, "the socket was destroyed")


# Sockets that may still get events, by id. This keeps each socket (and, through
# it, its device) alive until its close event: the handles are dropped when the
# Python objects are collected, and dropping a socket's handle destroys it.
_live: dict[int, "WebSocket"] = {}

OpenCallback = Callable[["WebSocket"], object]
MessageCallback = Callable[["WebSocket", str | bytes], object]
ErrorCallback = Callable[["WebSocket", WebSocketError], object]
CloseCallback = Callable[["WebSocket", int, str, bool], object]


def _milliseconds(name: str, seconds: float | None, milliseconds: int | None) -> int | None:
    """A duration given in seconds (or, the older way, in milliseconds) as the
    WIT's milliseconds, rounded up so a short timeout never becomes none."""
    if seconds is None:
        return milliseconds
    if milliseconds is not None:
        raise TypeError(f"give {name} or {name}_ms, not both")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number of seconds, not {seconds!r}")
    return math.ceil(seconds * 1000)


def _send_binary(socket: network.Websocket, data: bytes | bytearray | memoryview) -> None:
    """Sends ``data`` as one binary message, with ``send-latin1``.

    componentize-py 0.25 never frees the buffer it lowers a ``bytes`` argument
    into, so every message sent with ``send-binary`` was lost from the guest's
    memory (a guest died after sending 256 MiB); a ``str`` argument is freed
    when the call returns. Decoded as Latin-1, each byte is the character of
    the same value, and the host takes the characters back as bytes.
    """
    if isinstance(data, memoryview) and not data.c_contiguous:
        data = data.tobytes()  # str() decodes only a contiguous buffer
    socket.send_latin1(str(data, "latin-1"))


def _connect_options(
    protocols: Iterable[str],
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    connect_timeout_ms: int | None,
    keepalive_interval_ms: int | None,
    compression: bool | None,
) -> types.ConnectOptions:
    """The WIT connect-options; ``headers`` as a mapping or as pairs."""
    if isinstance(headers, Mapping):
        headers = headers.items()
    return types.ConnectOptions(
        protocols=list(protocols),
        headers=[(name, value) for name, value in headers],
        connect_timeout_ms=connect_timeout_ms,
        keepalive_interval_ms=keepalive_interval_ms,
        compression=compression,
    )


def _unpack(batch: types.PackedMessages) -> Iterator[tuple[int, str | bytes]]:
    """The messages of a ``take-packed`` batch, in order: each as its socket's
    id and its data (``str`` for text, ``bytes`` for binary). The one place a
    batch is decoded.
    """
    start = 0
    for socket_id, binary, length in zip(batch.sockets, batch.binary, batch.lengths):
        end = start + length
        payload = batch.payloads[start:end]
        yield socket_id, payload if binary else payload.decode()
        start = end


class NetworkDevice:
    """The guest's door to the network: it creates sockets and delivers their
    events (Turbulenz's ``NetworkDevice``). An app usually needs one.
    """

    def __init__(self) -> None:
        self._device = network.NetworkDevice()
        # While any of its sockets is live, the host calls in once whenever
        # events are pending, and one `update` takes them all.
        self._live_sockets = 0
        self._cancel_events: Callable[[], None] | None = None

    def create_websocket(
        self,
        url: str,
        protocols: Iterable[str] = (),
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        connect_timeout: float | None = None,
        keepalive_interval: float | None = None,
        compression: bool | None = None,
        connect_timeout_ms: int | None = None,
        keepalive_interval_ms: int | None = None,
    ) -> "WebSocket":
        """Starts connecting to ``url`` and returns the socket, still CONNECTING.

        ``url`` is ``ws://`` or ``wss://`` (``http(s)://`` are mapped to them),
        absolute and without a fragment. ``protocols`` are the subprotocols to
        offer, ``headers`` extra upgrade-request headers; ``None`` options ask
        for the host's default (``compression``: permessage-deflate, offered
        unless ``False``). ``connect_timeout`` (the whole opening handshake)
        and ``keepalive_interval`` (a ping when the connection has been quiet
        that long) are in seconds; ``connect_timeout_ms`` and
        ``keepalive_interval_ms``, the same in milliseconds, stay for older code.

        Usable as a context manager: leaving the ``with`` block closes the
        socket with 1000, as ``websockets``' ``with connect(...)`` does (for
        apps that run their own loop with :meth:`update`).

        Raises :class:`WebSocketError` when no socket was created: kind
        ``invalid-url``, ``invalid-options``, ``not-permitted`` (the host's
        network policy) or ``limit-exceeded``. Failures while connecting come
        later, through ``onerror`` then ``onclose``.
        """
        options = _connect_options(
            protocols,
            headers,
            _milliseconds("connect_timeout", connect_timeout, connect_timeout_ms),
            _milliseconds("keepalive_interval", keepalive_interval, keepalive_interval_ms),
            compression,
        )
        try:
            handle = self._device.create_websocket(url, options)
        except Err as error:
            raise WebSocketError._from_wit(error.value) from None
        socket = WebSocket(self, handle)
        _live[socket.id] = socket
        self._live_sockets += 1
        if self._cancel_events is None:
            self._cancel_events = _watch_events(self._device, self.update)
        return socket

    def _socket_ended(self) -> None:
        """One of its sockets will have no more callbacks; with none left,
        the host need not call in for this device (nor keep the program running).
        """
        self._live_sockets -= 1
        if self._live_sockets == 0 and self._cancel_events is not None:
            self._cancel_events()
            self._cancel_events = None

    def update(self) -> int:
        """Pull mode: runs the callbacks for every pending event, in order, and
        returns how many events there were. Never blocks.
        """
        # The messages at the head of the queue come packed (a few flat
        # lists rather than an object per event and level); the rest, from
        # the first other event on, as events.
        batch = self._device.take_packed()
        for socket_id, data in _unpack(batch):
            socket = _live.get(socket_id)
            if socket is not None:
                socket._call(socket.onmessage, data)
        events = self._device.update()
        for event in events:
            socket = _live.get(event.socket)
            if socket is not None:
                socket._dispatch(event.kind)
        return len(batch.lengths) + len(events)

    def wait(self) -> None:
        """Blocks until at least one event is pending (then call :meth:`update`)."""
        with self._device.subscribe() as pollable:
            pollable.block()

    def subscribe(self) -> poll.Pollable:
        """A pollable that is ready whenever an event is pending, for apps that
        wait on several things at once with ``wasi:io/poll``'s ``poll``.
        """
        return self._device.subscribe()


_C = TypeVar("_C")


class _CallbackAttribute(Generic[_C]):
    """``ws.on_message`` and its kin: a decorator that sets ``onmessage``
    (``@ws.on_message``), and, assigned (``ws.on_message = f``, the habit
    websocket-client teaches), the same as setting ``onmessage``.
    """

    def __init__(self, attribute: str) -> None:
        self._attribute = attribute
        self.__doc__ = f"Decorator (or assign a function): sets ``{attribute}``."

    @overload
    def __get__(self, ws: None, owner: type | None = None) -> "_CallbackAttribute[_C]": ...
    @overload
    def __get__(self, ws: "WebSocket", owner: type | None = None) -> Callable[[_C], _C]: ...
    def __get__(
        self, ws: "WebSocket | None", owner: type | None = None
    ) -> "_CallbackAttribute[_C] | Callable[[_C], _C]":
        if ws is None:
            return self

        def decorate(callback: _C) -> _C:
            setattr(ws, self._attribute, callback)
            return callback

        return decorate

    def __set__(self, ws: "WebSocket", callback: _C | None) -> None:
        setattr(ws, self._attribute, callback)


class WebSocket:
    """One WebSocket connection, as the browser's ``WebSocket`` object.

    Made by :meth:`NetworkDevice.create_websocket`. Set the callbacks as
    attributes (``ws.onmessage = f``, or ``ws.on_message = f``) or with the decorators
    (``@ws.on_message``); they get this object first.

    An exception raised by a callback is printed with its traceback to stderr
    and delivery goes on, as a browser reports an exception in an event
    listener and carries on: escaping the exported ``handler`` function, it
    would trap the whole component and close every socket with 1011 (which is
    what a panic in a Rust callback does). ``sys.exit()`` in a callback ends
    the program (see :func:`main`).
    """

    onopen: OpenCallback | None
    """Called when the socket opens: ``onopen(ws)``."""
    onmessage: MessageCallback | None
    """Called for each message: ``onmessage(ws, data)``, ``data`` a ``str``
    for a text message and ``bytes`` for a binary one."""
    onerror: ErrorCallback | None
    """Called when the connection fails: ``onerror(ws, error)``; ``onclose``
    (code 1006) follows."""
    onclose: CloseCallback | None
    """Called when the socket has closed, its last callback:
    ``onclose(ws, code, reason, was_clean)``."""

    def __init__(self, device: NetworkDevice, handle: network.Websocket) -> None:
        # Pull-mode apps reach events through the device: it lives as long as
        # any of its sockets does.
        self._device = device
        self._handle: network.Websocket | None = handle
        self._id = handle.id()
        self.onopen = self.onmessage = self.onerror = self.onclose = None

    def __repr__(self) -> str:
        return f"<WebSocket {self._id} {self.url!r} {self.ready_state.name}>"

    def _live_handle(self) -> network.Websocket:
        if self._handle is None:
            raise _destroyed()
        return self._handle

    @property
    def id(self) -> int:
        """The socket's number, unique among this guest's sockets."""
        return self._id

    @property
    def url(self) -> str:
        """The URL as the host parsed it (``""`` once destroyed)."""
        return "" if self._handle is None else self._handle.url()

    @property
    def ready_state(self) -> ReadyState:
        """The current state, as the browser's ``readyState``: OPEN when the
        open event is delivered, CLOSING at once on :meth:`close`, CLOSED when
        the error or close event is delivered (or once destroyed).
        """
        if self._handle is None:
            return ReadyState.CLOSED
        return ReadyState(self._handle.ready_state().value)

    @property
    def protocol(self) -> str:
        """The subprotocol the server chose; ``""`` when none or not yet open."""
        return "" if self._handle is None else self._handle.protocol()

    @property
    def extensions(self) -> str:
        """The extensions the server accepted (e.g. ``permessage-deflate``);
        ``""`` when none or not yet open.
        """
        return "" if self._handle is None else self._handle.extensions()

    @property
    def buffered_amount(self) -> int:
        """Bytes accepted by :meth:`send` and not yet written to the network."""
        return 0 if self._handle is None else self._handle.buffered_amount()

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Sends a text message (``str``) or a binary one (bytes-like).

        Raises :class:`WebSocketError` and sends nothing unless the socket is
        open (``invalid-state``) or when the host's limits refuse the message
        (``message-too-large``, ``limit-exceeded``).
        """
        if not isinstance(data, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"send() takes str or bytes-like data, not {type(data).__name__}")
        try:
            if isinstance(data, str):
                self._live_handle().send(types.Message_Text(data))
            else:
                _send_binary(self._live_handle(), data)
        except Err as error:
            raise WebSocketError._from_wit(error.value) from None

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Starts the closing handshake, as the browser's ``close(code, reason)``.

        ``code`` must be 1000 or in 3000..=4999 (``invalid-close-code``) and
        ``reason`` at most 123 bytes of UTF-8 (``reason-too-long``); with no
        code the peer sees 1005. While connecting, the connection is failed
        instead (``onerror``, then ``onclose`` with 1006). Closing a socket
        that is already closing or closed does nothing.
        """
        try:
            self._live_handle().close(code, reason)
        except Err as error:
            raise WebSocketError._from_wit(error.value) from None

    def __enter__(self) -> "WebSocket":
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Closes with 1000 unless closing or closed already; the close event
        still comes (delivered by :meth:`NetworkDevice.update`, or pushed)."""
        if self.ready_state in (ReadyState.CONNECTING, ReadyState.OPEN):
            self.close(1000)

    def destroy(self) -> None:
        """Releases the socket at once (Turbulenz's ``destroy``): a live
        connection is closed with 1001, no callback runs for it any more, and
        later calls fail with ``invalid-state``.
        """
        self._retire()
        self.onopen = self.onmessage = self.onerror = self.onclose = None
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.__exit__(None, None, None)

    on_open = _CallbackAttribute[OpenCallback]("onopen")
    on_message = _CallbackAttribute[MessageCallback]("onmessage")
    on_error = _CallbackAttribute[ErrorCallback]("onerror")
    on_close = _CallbackAttribute[CloseCallback]("onclose")

    def _dispatch(self, kind: types.EventKind) -> None:
        match kind:
            case types.EventKind_Open():
                self._call(self.onopen)
            case types.EventKind_Message(message):
                self._call(self.onmessage, message.value)
            case types.EventKind_Error(error):
                self._call(self.onerror, WebSocketError._from_wit(error))
            case types.EventKind_Close(info):
                self._call(self.onclose, info.code, info.reason, info.was_clean)
                # The close event is the last: the socket need not be kept
                # alive for callbacks any longer.
                self._retire()

    def _retire(self) -> None:
        if _live.pop(self._id, None) is not None:
            self._device._socket_ended()

    def _call(self, callback: Callable[..., object] | None, *args: object) -> None:
        if callback is None:
            return
        try:
            callback(self, *args)
        except Exception:
            traceback.print_exc()


def _push(socket: network.Websocket, kind: types.EventKind) -> None:
    """Delivers one pushed event. ``socket`` is a borrowed handle, a different
    Python object from the app's: the socket is found by its id.
    """
    target = _live.get(socket.id())
    if target is None:
        return
    try:
        target._dispatch(kind)
    except SystemExit as request:
        _end(_exit_status(request))


class Handler(exports.Handler):
    """The exported ``handler`` interface: routes the events the host pushes to
    the sockets' callbacks. Import it into the app module as it is.
    """

    def on_open(self, socket: network.Websocket) -> None:
        _push(socket, types.EventKind_Open())

    def on_message(self, socket: network.Websocket, message: types.Message) -> None:
        _push(socket, types.EventKind_Message(message))

    def on_error(self, socket: network.Websocket, error: types.ErrorCode) -> None:
        _push(socket, types.EventKind_Error(error))

    def on_close(self, socket: network.Websocket, info: types.CloseInfo) -> None:
        _push(socket, types.EventKind_Close(info))


# --- Timers and watches (push mode) -----------------------------------------
#
# A pollable handed to the host with ``network-device.watch`` comes back as a
# ``watch-handler.on-ready`` call when it is ready. Timers are one such watch:
# they wait in one heap here (earliest deadline first, then in the order set)
# and the host is asked to wake the guest for the earliest only.

_watch_device: network.NetworkDevice | None = None
_watches: dict[int, Callable[[], object]] = {}
# The watches that fire until cancelled (a device's events).
_lasting: set[int] = set()


def watch(pollable: poll.Pollable, callback: Callable[[], object]) -> Callable[[], None]:
    """Calls ``callback`` (from the host's event loop, push mode) once
    ``pollable`` is ready; the pollable is the host's from now on. Returns a
    function that cancels the watch. A pending watch keeps the program running.

    Raises :class:`WebSocketError` (``limit-exceeded``) past the host's limit.
    """
    global _watch_device
    if _watch_device is None:
        _watch_device = network.NetworkDevice()
    device = _watch_device
    return _register(device, lambda: device.watch(pollable), callback)


def _watch_events(device: network.NetworkDevice, callback: Callable[[], object]) -> Callable[[], None]:
    """Calls ``callback`` whenever ``device`` has events pending, until
    cancelled (``network-device.watch-events``: one call into the guest for
    many events, instead of one per event)."""
    return _register(device, device.watch_events, callback, lasting=True)


def _register(
    device: network.NetworkDevice,
    make: Callable[[], int],
    callback: Callable[[], object],
    lasting: bool = False,
) -> Callable[[], None]:
    try:
        watch_id = make()
    except Err as error:
        raise WebSocketError._from_wit(error.value) from None
    _watches[watch_id] = callback
    if lasting:
        _lasting.add(watch_id)

    def cancel() -> None:
        _lasting.discard(watch_id)
        if _watches.pop(watch_id, None) is not None:
            device.unwatch(watch_id)

    return cancel


class WatchHandler(exports.WatchHandler):
    """The exported ``watch-handler`` interface: runs the callbacks of ready
    watches (timers). Import it into the app module as it is, beside
    :class:`Handler`.
    """

    def on_ready(self, watch: int) -> None:
        callback = _watches.get(watch) if watch in _lasting else _watches.pop(watch, None)
        if callback is None:
            return
        try:
            callback()
        except SystemExit as request:
            _end(_exit_status(request))
        except Exception:
            traceback.print_exc()


class _Timer:
    __slots__ = ("callback", "args", "every")

    def __init__(
        self, callback: Callable[..., object], args: tuple[object, ...], every: int | None
    ) -> None:
        self.callback = callback
        self.args = args
        self.every = every


_timers: dict[int, _Timer] = {}
_timer_heap: list[tuple[int, int]] = []  # (deadline ns, id); cleared ids stay until popped
_timer_ids = iter(range(1, sys.maxsize))
_armed: tuple[int, Callable[[], None]] | None = None  # (deadline, cancel)


def _arm_timers() -> None:
    """Makes the host watch stand for the earliest pending timer."""
    global _armed
    while _timer_heap and _timer_heap[0][1] not in _timers:
        heapq.heappop(_timer_heap)
    earliest = _timer_heap[0][0] if _timer_heap else None
    if _armed is not None and _armed[0] == earliest:
        return
    if _armed is not None:
        _armed[1]()
        _armed = None
    if earliest is not None:
        wait = max(0, earliest - monotonic_clock.now())
        _armed = (earliest, watch(monotonic_clock.subscribe_duration(wait), _fire_timers))


def _fire_timers() -> None:
    """Runs every timer due now, earliest deadline first."""
    global _armed
    _armed = None
    now = monotonic_clock.now()
    while _timer_heap and _timer_heap[0][0] <= now:
        _, timer_id = heapq.heappop(_timer_heap)
        timer = _timers.get(timer_id)
        if timer is None:
            continue
        if timer.every is None:
            del _timers[timer_id]
        else:
            heapq.heappush(_timer_heap, (monotonic_clock.now() + timer.every, timer_id))
        try:
            timer.callback(*timer.args)
        except SystemExit:
            raise
        except Exception:
            traceback.print_exc()
    _arm_timers()


def _schedule(
    seconds: float, callback: Callable[..., object], args: tuple[object, ...], repeat: bool
) -> int:
    delay = max(0, int(seconds * 1_000_000_000))
    timer_id = next(_timer_ids)
    _timers[timer_id] = _Timer(callback, args, delay if repeat else None)
    heapq.heappush(_timer_heap, (monotonic_clock.now() + delay, timer_id))
    _arm_timers()
    return timer_id


def set_timeout(seconds: float, callback: Callable[..., object], *args: object) -> int:
    """Calls ``callback(*args)`` once, ``seconds`` from now, as the browser's
    ``setTimeout``: from the host's event loop (push mode), between other
    callbacks. A pending timer keeps the program running. Returns its id for
    :func:`clear_timer`. Set timers from ``start`` or later, not at module level.
    """
    return _schedule(seconds, callback, args, False)


def set_interval(seconds: float, callback: Callable[..., object], *args: object) -> int:
    """Calls ``callback(*args)`` every ``seconds`` until :func:`clear_timer`,
    as the browser's ``setInterval``.
    """
    return _schedule(seconds, callback, args, True)


def clear_timer(timer_id: int) -> None:
    """Cancels a timer, also from its own callback; nothing if it has run or
    was cleared.
    """
    if _timers.pop(timer_id, None) is not None:
        _arm_timers()


def _exit_status(request: SystemExit) -> int:
    """The status ``sys.exit(arg)`` asks for, as CPython computes it: a
    non-integer ``arg`` is printed to stderr and means 1.
    """
    if request.code is None:
        return 0
    if isinstance(request.code, int):
        return request.code
    print(request.code, file=sys.stderr)
    return 1


def _end(status: int) -> None:
    """Ends the program: destroys every live socket (closing it with 1001,
    going away), so the host has nothing left to deliver, then exits with
    ``status``. Returns only when ``status`` is 0, letting the host finish.
    """
    for socket in list(_live.values()):
        socket.destroy()
    if status:
        wasi_exit.exit_with_code(status if 0 < status < 256 else 1)


def main(start: Callable[[list[str]], object]) -> type[exports.Run]:
    """The ``wasi:cli/run`` export for ``start``: assign it to ``Run`` in the
    app module (``Run = main(start)``).

    ``start`` gets the command-line arguments (a copy of ``sys.argv``, which
    componentize-py fills from ``wasi:cli/environment``; ``args[0]`` is the
    program's name) and sets up sockets and callbacks. When it returns, the
    host delivers events to the callbacks until no socket is live.

    ``sys.exit(status)``, in ``start`` or in a callback, ends the program with
    that status, destroying the live sockets (close 1001) as a Python process
    that exits would. Any other exception escaping ``start`` is printed with
    its traceback and ends the program with status 1.
    """

    class Run(exports.Run):
        def run(self) -> None:
            try:
                start(list(sys.argv))
            except SystemExit as request:
                _end(_exit_status(request))
            except Exception:
                traceback.print_exc()
                _end(1)

    return Run
