//! The async API: [`connect`] gives a socket that is a
//! [`Stream`](futures_core::Stream) of messages and a
//! [`Sink`](futures_sink::Sink) for them, as tokio-tungstenite's
//! `WebSocketStream`, on the SDK's runtime ([`crate::block_on`]).
//!
//! Each socket has a device of its own and takes its events only when it is
//! read, so a reader that stops reading makes the host stop reading the
//! connection (TCP then pushes back on the server). A writer waits for room:
//! `poll_ready` is pending while the socket's `buffered-amount` is above the
//! high-water mark, until it falls to the low-water mark.

use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::bindings::wasi::io::poll::Pollable;
use crate::bindings::wit_websocket::client::network as wit;
use crate::bindings::wit_websocket::client::types::EventKind;
use crate::runtime::{PollableReady, register};
use crate::{CloseInfo, ConnectOptions, ErrorCode, Message, ReadyState};

/// `buffered-amount` above which a writer waits. Default 1 MiB.
pub const DEFAULT_HIGH_WATER_MARK: u64 = 1 << 20;
/// `buffered-amount` a waiting writer waits for. Default 256 KiB.
pub const DEFAULT_LOW_WATER_MARK: u64 = 256 << 10;

/// A connected WebSocket for async code: read it as a `Stream` of
/// `Result<Message, ErrorCode>` (which ends after the close), write it as a
/// `Sink<Message>` (with `futures_util::SinkExt`: `send` waits for the
/// message to be written, `feed` only for room, as in tokio-tungstenite).
///
/// Dropping it destroys the socket (a live connection closes with 1001).
pub struct AsyncWebSocket {
    socket: wit::Websocket,
    /// Ready when an event for the socket is queued.
    events: Rc<Pollable>,
    /// Ready when the buffered amount is at most the awaited mark; kept
    /// while a writer waits.
    writable: Option<(u64, Rc<Pollable>)>,
    inbox: VecDeque<EventKind>,
    close_info: Option<CloseInfo>,
    high_water_mark: u64,
    low_water_mark: u64,
    /// Declared last: dropped after the socket.
    device: wit::NetworkDevice,
}

impl std::fmt::Debug for AsyncWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWebSocket")
            .field("id", &self.socket.id())
            .field("ready_state", &self.socket.ready_state())
            .finish_non_exhaustive()
    }
}

/// Connects to `url` and waits for the handshake, as tokio-tungstenite's
/// `connect_async`.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use wit_websocket_guest::{Message, block_on, connect};
///
/// block_on(async {
///     let mut ws = connect("ws://127.0.0.1:9001/").await?;
///     ws.send(Message::Text("hello".into())).await?;
///     while let Some(message) = ws.next().await {
///         println!("{:?}", message?);
///     }
///     Ok::<(), wit_websocket_guest::ErrorCode>(())
/// });
/// ```
pub async fn connect(url: &str) -> Result<AsyncWebSocket, ErrorCode> {
    connect_with(url, &ConnectOptions::default()).await
}

/// As [`connect`], with subprotocols, headers or timeouts.
pub async fn connect_with(
    url: &str,
    options: &ConnectOptions,
) -> Result<AsyncWebSocket, ErrorCode> {
    let device = wit::NetworkDevice::new();
    // Taken when read, never pushed to callbacks.
    device.set_push(false);
    let socket = device.create_websocket(url, Some(options))?;
    let mut ws = AsyncWebSocket {
        events: Rc::new(device.subscribe()),
        socket,
        writable: None,
        inbox: VecDeque::new(),
        close_info: None,
        high_water_mark: DEFAULT_HIGH_WATER_MARK,
        low_water_mark: DEFAULT_LOW_WATER_MARK,
        device,
    };
    loop {
        match std::future::poll_fn(|cx| ws.poll_event(cx)).await {
            EventKind::Open => return Ok(ws),
            EventKind::Error(error) => return Err(error),
            EventKind::Close(info) => {
                return Err(ErrorCode::Io(format!(
                    "closed while connecting ({})",
                    info.code
                )));
            }
            EventKind::Message(_) => {}
        }
    }
}

impl AsyncWebSocket {
    /// Sets when a writer waits: above `high` bytes buffered, until they fall
    /// to `low` (defaults [`DEFAULT_HIGH_WATER_MARK`], [`DEFAULT_LOW_WATER_MARK`]).
    pub fn set_water_marks(&mut self, high: u64, low: u64) {
        self.high_water_mark = high;
        self.low_water_mark = low.min(high);
    }

    /// The next event, taking the queued ones from the host only when none
    /// is left here.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<EventKind> {
        if self.inbox.is_empty() {
            self.inbox
                .extend(self.device.update().into_iter().map(|event| event.kind));
        }
        match self.inbox.pop_front() {
            Some(event) => Poll::Ready(event),
            None => {
                register(&self.events, cx.waker());
                Poll::Pending
            }
        }
    }

    /// Ready when `buffered-amount` is at most `mark` (or the socket is not open).
    fn poll_buffered_at_most(&mut self, mark: u64, cx: &mut Context<'_>) -> Poll<()> {
        if self.socket.buffered_amount() <= mark {
            self.writable = None;
            return Poll::Ready(());
        }
        let (_, pollable) = match &self.writable {
            Some((waiting_for, _)) if *waiting_for == mark => self.writable.as_ref().unwrap(),
            _ => self
                .writable
                .insert((mark, Rc::new(self.socket.subscribe_writable(mark)))),
        };
        let ready = Pin::new(&mut PollableReady(pollable.clone())).poll(cx);
        if ready.is_ready() {
            self.writable = None;
        }
        ready
    }

    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ErrorCode>> {
        if self.socket.buffered_amount() <= self.high_water_mark {
            return Poll::Ready(Ok(()));
        }
        let low = self.low_water_mark;
        self.poll_buffered_at_most(low, cx).map(Ok)
    }

    /// The next message; `None` after the close (see [`close_info`](Self::close_info)).
    pub async fn recv(&mut self) -> Option<Result<Message, ErrorCode>> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, ErrorCode>>> {
        loop {
            if self.close_info.is_some() {
                return Poll::Ready(None);
            }
            let event = std::task::ready!(self.poll_event(cx));
            match event {
                EventKind::Message(message) => return Poll::Ready(Some(Ok(message))),
                EventKind::Error(error) => return Poll::Ready(Some(Err(error))),
                EventKind::Close(info) => self.close_info = Some(info),
                EventKind::Open => {}
            }
        }
    }

    /// Starts the closing handshake with `code` (1000 or 3000..=4999) and
    /// `reason`; read on until the stream ends to see the peer's answer.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), ErrorCode> {
        self.socket.close(Some(code), Some(reason))
    }

    /// How the connection ended, once the stream has ended.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.as_ref()
    }

    /// The socket's state.
    pub fn ready_state(&self) -> ReadyState {
        self.socket.ready_state()
    }

    /// Bytes accepted and not yet written to the network.
    pub fn buffered_amount(&self) -> u64 {
        self.socket.buffered_amount()
    }

    /// The subprotocol the server chose; empty when none.
    pub fn protocol(&self) -> String {
        self.socket.protocol()
    }

    /// The extensions the server accepted; empty when none.
    pub fn extensions(&self) -> String {
        self.socket.extensions()
    }
}

impl futures_core::Stream for AsyncWebSocket {
    type Item = Result<Message, ErrorCode>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

impl futures_sink::Sink<Message> for AsyncWebSocket {
    type Error = ErrorCode;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ErrorCode>> {
        self.get_mut().poll_room(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), ErrorCode> {
        self.socket.send(&message)
    }

    /// Ready when everything sent has been written to the network.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ErrorCode>> {
        self.get_mut().poll_buffered_at_most(0, cx).map(Ok)
    }

    /// Starts the closing handshake (1000) once everything sent is written.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ErrorCode>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_buffered_at_most(0, cx));
        Poll::Ready(this.socket.close(Some(1000), None))
    }
}
