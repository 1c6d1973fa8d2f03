//! The Rust guest SDK for wit-websocket: the browser's WebSocket API for
//! WebAssembly components.
//!
//! # The model
//!
//! A guest creates a [`NetworkDevice`] (as a Turbulenz game did), asks it for
//! sockets with [`NetworkDevice::create_websocket`], and sets callbacks on each
//! socket the way browser code sets `ws.onopen` and `ws.onmessage`. The host
//! does the socket I/O natively and reports what happened as events, which
//! reach the callbacks in one of two ways:
//!
//! - **push**: the app's `main` returns, and the host calls back into the
//!   component whenever it has news, until no socket is live, like a browser
//!   tab or Node's event loop. This needs [`export_handler!`] once in the app.
//! - **pull**: the app keeps running its own loop and calls
//!   [`NetworkDevice::update`] (for example once per frame, or after
//!   [`NetworkDevice::wait`]), which runs the callbacks for every pending event.
//!
//! A socket stays alive while it is connecting or open, even when the app keeps
//! no handle to it (as in a browser); [`WebSocket::destroy`] releases it at once.
//!
//! ```no_run
//! use wit_websocket_guest::{Message, NetworkDevice};
//!
//! wit_websocket_guest::export_handler!();
//!
//! fn main() {
//!     let device = NetworkDevice::new();
//!     let ws = device.create_websocket("ws://127.0.0.1:9001/").expect("valid URL");
//!     ws.on_open(|ws| ws.send_text("hello").expect("open socket accepts text"));
//!     ws.on_message(|ws, message| {
//!         if let Message::Text(text) = message {
//!             println!("echo: {text}");
//!         }
//!         ws.close().expect("no code, no reason: always valid");
//!     });
//!     ws.on_close(|_, info| println!("closed {}", info.code));
//! }
//! ```

//!
//! # Timers and async
//!
//! Push-mode apps get the browser's timers: [`set_timeout`], [`set_interval`]
//! and [`clear_timer`] run on the host's event loop, between socket
//! callbacks, and a pending timer keeps the app running.
//!
//! Async apps run in their own loop with [`block_on`], the SDK's executor
//! over `wasi:io/poll`: [`connect`] gives an [`AsyncWebSocket`], a
//! `futures` `Stream` of messages and a `Sink` for them, as
//! tokio-tungstenite's `WebSocketStream`; [`sleep`] and [`timeout`] are made
//! of the monotonic clock.
//!
//! ```no_run
//! use std::time::Duration;
//! use futures_util::{SinkExt, StreamExt};
//! use wit_websocket_guest::{Message, block_on, connect, timeout};
//!
//! wit_websocket_guest::export_handler!();
//!
//! fn main() {
//!     block_on(async {
//!         let mut ws = connect("ws://127.0.0.1:9001/").await.expect("connects");
//!         ws.send(Message::Text("hello".into())).await.expect("sends");
//!         if let Ok(Some(Ok(echo))) = timeout(Duration::from_secs(5), ws.next()).await {
//!             println!("{echo:?}");
//!         }
//!     });
//! }
//! ```
//!
//! # Comparing values
//!
//! The WIT's records and variants ([`Message`], [`ErrorCode`], [`CloseInfo`],
//! [`ConnectOptions`], ...) are `Clone`, `PartialEq`, `Eq` and `Hash`, so
//! tests can `assert_eq!` them and apps can keep them in sets and maps:
//!
//! ```
//! use wit_websocket_guest::{ErrorCode, Message};
//!
//! let refused = ErrorCode::InvalidState("the socket is closing".into());
//! assert_eq!(refused.clone(), refused);
//! let seen: std::collections::HashSet<Message> =
//!     [Message::Text("hi".into()), Message::Text("hi".into())].into();
//! assert_eq!(seen.len(), 1);
//! ```

#![warn(missing_docs)]

// The bindings name the SDK's own types by this path, which apps' expansions
// of the export macro resolve too.
extern crate self as wit_websocket_guest;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// The generated bindings for the `guest` world of `wit-websocket:client`.
///
/// Use the safe API of this crate instead; the bindings are public so that
/// [`export_handler!`] can name them.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "wit-websocket:client/guest",
        generate_all,
        additional_derives: [PartialEq, Eq, Hash],
        // The SDK's own ErrorCode, with messages for people (see error.rs).
        with: {
            "wit-websocket:client/types@0.1.6/error-code": wit_websocket_guest::ErrorCode,
        },
        pub_export_macro: true,
        default_bindings_module: "wit_websocket_guest::bindings",
    });
}

mod error;
mod runtime;
mod stream;
mod timer;

pub use runtime::{Elapsed, block_on, sleep, timeout, wait_for};
pub use stream::{
    AsyncWebSocket, DEFAULT_HIGH_WATER_MARK, DEFAULT_LOW_WATER_MARK, connect, connect_with,
};
pub use timer::{TimerId, clear_timer, set_interval, set_timeout};

use bindings::wasi::io::poll;
use bindings::wit_websocket::client::network as wit;
pub use bindings::wit_websocket::client::types::{
    CloseInfo, ConnectOptions, HandshakeRejection, Message, Pong, ReadyState,
};
use bindings::wit_websocket::client::types::{Event, EventKind};
pub use error::ErrorCode;

/// Exports the callbacks the host calls in push mode. Invoke it once, at the
/// top level of the app's binary crate.
#[macro_export]
macro_rules! export_handler {
    () => {
        const _: () = {
            use $crate::PushDispatcher;
    $crate::bindings::export!(PushDispatcher with_types_in $crate::bindings);
        };
    };
}

type OpenCallback = Box<dyn FnMut(&WebSocket)>;
type MessageCallback = Box<dyn FnMut(&WebSocket, Message)>;
type ErrorCallback = Box<dyn FnMut(&WebSocket, ErrorCode)>;
type CloseCallback = Box<dyn FnMut(&WebSocket, CloseInfo)>;

#[derive(Default)]
struct Callbacks {
    on_open: Option<OpenCallback>,
    on_message: Option<MessageCallback>,
    on_error: Option<ErrorCallback>,
    on_close: Option<CloseCallback>,
}

struct SocketInner {
    id: u64,
    /// `None` once destroyed: the host handle is dropped and every call fails.
    handle: RefCell<Option<wit::Websocket>>,
    callbacks: RefCell<Callbacks>,
}

thread_local! {
    /// Sockets that may still get events, by id: this keeps a socket (and its
    /// callbacks) alive until it closes, even when the app holds no handle.
    static LIVE_SOCKETS: RefCell<HashMap<u64, WebSocket>> = RefCell::new(HashMap::new());
}

fn live_socket(id: u64) -> Option<WebSocket> {
    LIVE_SOCKETS.with(|sockets| sockets.borrow().get(&id).cloned())
}

/// The guest's door to the network: it creates sockets and delivers their
/// events (Turbulenz's `NetworkDevice`). Clones are handles to the same
/// device, so a callback can keep one (to reconnect from `on_close`, say).
#[derive(Clone)]
pub struct NetworkDevice {
    device: Rc<wit::NetworkDevice>,
}

impl Default for NetworkDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl NetworkDevice {
    /// A new device. An app usually needs one.
    pub fn new() -> Self {
        Self {
            device: Rc::new(wit::NetworkDevice::new()),
        }
    }

    /// Starts connecting to `url` (`ws://`, `wss://`, or `http(s)://` mapped to
    /// them) and returns the socket, still [`ReadyState::Connecting`].
    ///
    /// Errors mean no socket exists: [`ErrorCode::InvalidUrl`],
    /// [`ErrorCode::NotPermitted`], [`ErrorCode::LimitExceeded`]. Failures while
    /// connecting arrive later through `on_error` and `on_close`.
    pub fn create_websocket(&self, url: &str) -> Result<WebSocket, ErrorCode> {
        self.create_websocket_with(url, &ConnectOptions::default())
    }

    /// As [`create_websocket`](Self::create_websocket), with subprotocols,
    /// extra handshake headers or timeouts.
    pub fn create_websocket_with(
        &self,
        url: &str,
        options: &ConnectOptions,
    ) -> Result<WebSocket, ErrorCode> {
        let handle = self.device.create_websocket(url, Some(options))?;
        let socket = WebSocket {
            inner: Rc::new(SocketInner {
                id: handle.id(),
                handle: RefCell::new(Some(handle)),
                callbacks: RefCell::new(Callbacks::default()),
            }),
        };
        LIVE_SOCKETS.with(|sockets| sockets.borrow_mut().insert(socket.id(), socket.clone()));
        Ok(socket)
    }

    /// Pull mode: runs the callbacks for the pending events, in order (at
    /// most 4,096 at a time: call again while [`subscribe`](Self::subscribe)
    /// is ready), and returns how many events there were. Never blocks.
    pub fn update(&self) -> usize {
        let events = self.device.update();
        let count = events.len();
        for Event { socket, kind } in events {
            if let Some(socket) = live_socket(socket) {
                socket.deliver(kind);
            }
        }
        count
    }

    /// Blocks until at least one event is pending (then call
    /// [`update`](Self::update)).
    pub fn wait(&self) {
        self.subscribe().block();
    }

    /// A pollable that is ready whenever an event is pending, for apps that
    /// wait on several things at once with `wasi:io/poll.poll`.
    pub fn subscribe(&self) -> poll::Pollable {
        self.device.subscribe()
    }
}

/// One WebSocket connection, as the browser's `WebSocket` object. Clones are
/// handles to the same socket.
///
/// Dropping every handle does not close it, as losing the last reference to
/// a browser's `WebSocket` does not: the SDK keeps a socket until its close
/// event, so its callbacks still run (then drops them, and the host's handle
/// with the last of yours). [`destroy`](Self::destroy) ends it at once. (The
/// WIT's own handle is destroyed on drop; this type wraps it.)
#[derive(Clone)]
pub struct WebSocket {
    inner: Rc<SocketInner>,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

fn destroyed() -> ErrorCode {
    ErrorCode::InvalidState("the socket was destroyed".to_string())
}

impl WebSocket {
    fn with_handle<R>(&self, f: impl FnOnce(&wit::Websocket) -> R) -> Option<R> {
        self.inner.handle.borrow().as_ref().map(f)
    }

    /// Sends a text message. Fails with [`ErrorCode::InvalidState`] unless the
    /// socket is open; on error nothing was sent.
    pub fn send_text(&self, text: &str) -> Result<(), ErrorCode> {
        // As bytes: a `message.text` would need an owned copy of `text`.
        self.send_utf8(text.as_bytes())
    }

    /// Sends a text message given as its UTF-8 bytes (say, from a serializer
    /// that writes bytes), checked by the host instead of the guest: fails
    /// with [`ErrorCode::InvalidUtf8`] if they are not UTF-8, and as
    /// [`send_text`](Self::send_text) otherwise; on error nothing was sent.
    pub fn send_utf8(&self, utf8: &[u8]) -> Result<(), ErrorCode> {
        self.with_handle(|ws| ws.send_utf8(utf8))
            .unwrap_or_else(|| Err(destroyed()))
    }

    /// Sends a binary message. Fails with [`ErrorCode::InvalidState`] unless
    /// the socket is open; on error nothing was sent.
    pub fn send_binary(&self, bytes: &[u8]) -> Result<(), ErrorCode> {
        // Its own import: `send` takes a variant, which the bindings can only
        // lower from an owned copy of the bytes.
        self.with_handle(|ws| ws.send_binary(bytes))
            .unwrap_or_else(|| Err(destroyed()))
    }

    /// Sends a message. Fails with [`ErrorCode::InvalidState`] unless the
    /// socket is open; on error nothing was sent.
    pub fn send(&self, message: &Message) -> Result<(), ErrorCode> {
        self.with_handle(|ws| ws.send(message))
            .unwrap_or_else(|| Err(destroyed()))
    }

    /// Starts the closing handshake with no code (the peer sees 1005).
    /// Closing a socket that is already closing or closed does nothing.
    pub fn close(&self) -> Result<(), ErrorCode> {
        self.with_handle(|ws| ws.close(None, None))
            .unwrap_or_else(|| Err(destroyed()))
    }

    /// Starts the closing handshake with `code` (1000 or 3000..=4999) and
    /// `reason` (at most 123 bytes of UTF-8), as the browser's `close(code, reason)`.
    pub fn close_with(&self, code: u16, reason: &str) -> Result<(), ErrorCode> {
        self.with_handle(|ws| ws.close(Some(code), Some(reason)))
            .unwrap_or_else(|| Err(destroyed()))
    }

    /// Releases the socket at once (Turbulenz's `destroy`): a live connection
    /// is closed with 1001, no callback runs for it any more, and every later
    /// call on any of its handles fails with [`ErrorCode::InvalidState`].
    pub fn destroy(self) {
        LIVE_SOCKETS.with(|sockets| sockets.borrow_mut().remove(&self.inner.id));
        *self.inner.callbacks.borrow_mut() = Callbacks::default();
        self.inner.handle.borrow_mut().take();
    }

    /// The current state ([`ReadyState::Closed`] once destroyed).
    pub fn ready_state(&self) -> ReadyState {
        self.with_handle(|ws| ws.ready_state())
            .unwrap_or(ReadyState::Closed)
    }

    /// The URL, as parsed by the host.
    pub fn url(&self) -> String {
        self.with_handle(|ws| ws.url()).unwrap_or_default()
    }

    /// The subprotocol the server chose; empty when none (or not yet open).
    pub fn protocol(&self) -> String {
        self.with_handle(|ws| ws.protocol()).unwrap_or_default()
    }

    /// The extensions the server accepted; empty when none (or not yet open).
    pub fn extensions(&self) -> String {
        self.with_handle(|ws| ws.extensions()).unwrap_or_default()
    }

    /// Bytes accepted by `send` and not yet written to the network.
    pub fn buffered_amount(&self) -> u64 {
        self.with_handle(|ws| ws.buffered_amount()).unwrap_or(0)
    }

    /// The socket's id, unique among this guest's sockets.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Sends a ping carrying `payload` (at most 125 bytes), to check that the
    /// peer is there or to measure the round trip (browsers give scripts no
    /// ping). The returned pollable is ready once the peer's pong has
    /// arrived ([`last_pong`](Self::last_pong) then has it, with the round
    /// trip), the connection has ended, or the socket is no longer open:
    /// await it with [`wait_for`].
    ///
    /// ```no_run
    /// # async fn example(ws: wit_websocket_guest::WebSocket) -> Result<(), wit_websocket_guest::ErrorCode> {
    /// wit_websocket_guest::wait_for(ws.ping(b"are you there")?).await;
    /// if let Some(pong) = ws.last_pong() {
    ///     println!("round trip {} µs", pong.round_trip_ns / 1_000);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn ping(&self, payload: &[u8]) -> Result<poll::Pollable, ErrorCode> {
        self.with_handle(|ws| ws.ping(payload))
            .unwrap_or_else(|| Err(destroyed()))
    }

    /// The last pong that answered one of this socket's [`ping`](Self::ping)s.
    pub fn last_pong(&self) -> Option<Pong> {
        self.with_handle(|ws| ws.last_pong()).flatten()
    }

    /// A pollable that is ready whenever an event for this socket is pending.
    /// `None` once destroyed.
    pub fn subscribe(&self) -> Option<poll::Pollable> {
        self.with_handle(|ws| ws.subscribe())
    }

    /// Sets the callback for the `open` event.
    pub fn on_open(&self, callback: impl FnMut(&WebSocket) + 'static) {
        self.inner.callbacks.borrow_mut().on_open = Some(Box::new(callback));
    }

    /// Sets the callback for the `message` event.
    pub fn on_message(&self, callback: impl FnMut(&WebSocket, Message) + 'static) {
        self.inner.callbacks.borrow_mut().on_message = Some(Box::new(callback));
    }

    /// Sets the callback for the `error` event (a `close` with 1006 follows).
    pub fn on_error(&self, callback: impl FnMut(&WebSocket, ErrorCode) + 'static) {
        self.inner.callbacks.borrow_mut().on_error = Some(Box::new(callback));
    }

    /// Sets the callback for the `close` event, the socket's last.
    pub fn on_close(&self, callback: impl FnMut(&WebSocket, CloseInfo) + 'static) {
        self.inner.callbacks.borrow_mut().on_close = Some(Box::new(callback));
    }

    /// Runs the callback for one event. The callback is taken out while it
    /// runs, so it may replace itself (or set others) without a double borrow.
    fn deliver(&self, kind: EventKind) {
        macro_rules! call {
            ($slot:ident, $($arg:expr),*) => {{
                let taken = self.inner.callbacks.borrow_mut().$slot.take();
                if let Some(mut callback) = taken {
                    callback(self, $($arg),*);
                    let mut callbacks = self.inner.callbacks.borrow_mut();
                    if callbacks.$slot.is_none() && self.inner.handle.borrow().is_some() {
                        callbacks.$slot = Some(callback);
                    }
                }
            }};
        }
        match kind {
            EventKind::Open => call!(on_open,),
            EventKind::Message(message) => call!(on_message, message),
            EventKind::Error(error) => call!(on_error, error),
            EventKind::Close(info) => {
                // The close event is the last: the socket no longer needs to
                // be kept alive for callbacks.
                LIVE_SOCKETS.with(|sockets| sockets.borrow_mut().remove(&self.inner.id));
                call!(on_close, info);
                // Nor does it need them any more: a callback holding its own
                // socket would otherwise keep both (and the host's handle)
                // alive for good, a reference cycle.
                *self.inner.callbacks.borrow_mut() = Callbacks::default();
            }
        }
    }
}

/// The close codes of RFC 6455 by name, for [`WebSocket::close_with`] and
/// [`CloseInfo::code`]:
///
/// ```no_run
/// use wit_websocket_guest::{CloseCode, NetworkDevice};
///
/// let ws = NetworkDevice::new().create_websocket("wss://example.com/").unwrap();
/// ws.on_close(|_, info| {
///     if info.code != CloseCode::NORMAL && !CloseCode::is_application(info.code) {
///         eprintln!("closed: {} {}", info.code, info.reason);
///     }
/// });
/// ws.close_with(CloseCode::NORMAL, "done").ok();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CloseCode;

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: an endpoint is going away (a server shutting down, a page left).
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1003: a message of a type the endpoint cannot take.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// 1005: the close frame carried no code (never sent; reported).
    pub const NO_STATUS: u16 = 1005;
    /// 1006: the connection ended without a closing handshake (never sent; reported).
    pub const ABNORMAL: u16 = 1006;
    /// 1007: text that was not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// 1009: a message too large to take.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: u16 = 1011;

    /// Whether `code` is one of the application's own (4000–4999), which
    /// [`WebSocket::close_with`] accepts with 1000 and the registered 3000–3999.
    pub fn is_application(code: u16) -> bool {
        (4000..=4999).contains(&code)
    }
}

/// A builder over the WIT record, with durations as [`Duration`]s:
///
/// ```no_run
/// use std::time::Duration;
/// use wit_websocket_guest::{ConnectOptions, NetworkDevice};
///
/// let options = ConnectOptions::new()
///     .protocol("chat.v2")
///     .header("authorization", "Bearer 1234")
///     .connect_timeout(Duration::from_secs(5))
///     .keepalive_interval(Duration::from_secs(20));
/// let ws = NetworkDevice::new().create_websocket_with("wss://example.com/chat", &options);
/// # let _ = ws;
/// ```
impl ConnectOptions {
    /// The host's defaults: no subprotocol, no extra header, the host's
    /// timeouts, compression offered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `protocol` too (after those offered already, in order of preference).
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Adds a header to the upgrade request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long the whole opening handshake may take (whole milliseconds,
    /// rounded up; at most `u32::MAX` ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout_ms = Some(whole_millis(timeout));
        self
    }

    /// Sends a ping when the connection has been quiet this long, and fails
    /// it when no pong follows.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval_ms = Some(whole_millis(interval));
        self
    }

    /// Offers permessage-deflate (`true`) or not (`false`), whatever the host's default.
    pub fn compression(mut self, offer: bool) -> Self {
        self.compression = Some(offer);
        self
    }
}

/// `duration` in milliseconds for the WIT, rounded up so that a short one
/// never becomes zero, and capped at what a `u32` holds.
fn whole_millis(duration: Duration) -> u32 {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    u32::try_from(millis).unwrap_or(u32::MAX)
}

// The type is generated, so it cannot carry a derive of ours.
#[allow(clippy::derivable_impls)]
impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            protocols: Vec::new(),
            headers: Vec::new(),
            connect_timeout_ms: None,
            keepalive_interval_ms: None,
            compression: None,
        }
    }
}

/// The exported `handler` interface, delivering pushed events to the
/// callbacks. Use it through [`export_handler!`].
#[doc(hidden)]
pub struct PushDispatcher;

impl PushDispatcher {
    fn deliver(socket: &wit::Websocket, kind: EventKind) {
        if let Some(socket) = live_socket(socket.id()) {
            socket.deliver(kind);
        }
    }
}

impl bindings::exports::wit_websocket::client::watch_handler::Guest for PushDispatcher {
    fn on_ready(watch: u64) {
        timer::on_ready(watch);
    }
}

impl bindings::exports::wit_websocket::client::handler::Guest for PushDispatcher {
    fn on_open(socket: &wit::Websocket) {
        Self::deliver(socket, EventKind::Open);
    }

    fn on_message(socket: &wit::Websocket, message: Message) {
        Self::deliver(socket, EventKind::Message(message));
    }

    fn on_error(socket: &wit::Websocket, error: ErrorCode) {
        Self::deliver(socket, EventKind::Error(error));
    }

    fn on_close(socket: &wit::Websocket, info: CloseInfo) {
        Self::deliver(socket, EventKind::Close(info));
    }
}
