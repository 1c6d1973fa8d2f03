//! One WebSocket: its state machine (WHATWG: CONNECTING → OPEN → CLOSING →
//! CLOSED) and the tokio task that does its I/O.
//!
//! The guest-facing [`WebSocket`] resource and the I/O task share a
//! `SocketShared`: the task queues events; the guest-visible state advances
//! as those events are delivered (or at once on the guest's own `close`); the
//! resource sends commands (messages, close, destroy) to the task over a
//! channel.

use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{
    self, Bytes, Message as WireMessage,
    client::IntoClientRequest,
    error::ProtocolError,
    http::{HeaderName, HeaderValue},
    protocol::frame::FrameHeader,
    protocol::frame::coding::{Data as OpData, OpCode},
    protocol::{CloseFrame, WebSocketConfig as WireConfig, frame::coding::CloseCode},
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::task::TaskTracker;

use crate::bindings::{CloseInfo, ConnectOptions, ErrorCode, HandshakeRejection, ReadyState};
use crate::compression::{self, MessageDeflater, compress};
use crate::config::WebSocketConfig;
use crate::device::{EventQueue, Pending, Received};
use crate::dns::Lookups;
use crate::policy::NetworkPolicy;
use crate::pollables::wait_until;
use crate::proxy::{self, Proxy};
use crate::read_ahead::ReadAhead;
use crate::rules::Target;
use crate::tls::{self, ClientTls};

/// The close code reported when a connection ended without a closing
/// handshake (RFC 6455 §7.1.5).
const ABNORMAL_CLOSURE: u16 = 1006;
/// The close code reported when the peer's close frame had no code.
const NO_STATUS_RECEIVED: u16 = 1005;
/// The close code sent when the guest destroys a live socket.
const GOING_AWAY: u16 = 1001;
/// The close code sent when the guest trapped.
const INTERNAL_ERROR: u16 = 1011;

/// What the guest can observe of a socket, behind one lock. The state is the
/// guest's view: it advances when events are delivered (see
/// [`SocketShared::deliver_state`]) and at once on the guest's own `close`.
struct Observed {
    ready_state: ReadyState,
    /// The guest was given the open event (it may be closing now).
    open_delivered: bool,
    /// The peer's close frame arrived: the socket is closing, whatever the
    /// guest does (the browser shows CLOSING from then on).
    peer_closing: bool,
    /// The guest has handled the open event (its callback returned, or
    /// `update` handed it over): a peer's close frame now shows at once.
    open_settled: bool,
    protocol: String,
    extensions: String,
}

/// The state shared between a socket's resource and its I/O task.
pub(crate) struct SocketShared {
    id: u64,
    observed: Mutex<Observed>,
    /// Payload bytes accepted by `send` and not yet written.
    buffered: AtomicU64,
    /// Messages accepted by `send` and not yet written, and the most allowed.
    pending_sends: AtomicU64,
    max_pending_sends: u64,
    /// Events queued for this socket and not yet delivered.
    pending: AtomicIsize,
    /// What they cost: payload bytes plus [`EVENT_OVERHEAD`] each.
    queued_bytes: AtomicU64,
    /// Signalled when the guest takes events, for a reader paused by
    /// `max_queued_bytes`.
    drained: Notify,
    /// Woken whenever `buffered` falls, for writers waiting on
    /// `subscribe-writable`.
    written: Notify,
    /// Set when the guest dropped its handle: no event is queued after.
    destroyed: AtomicBool,
    /// Set when the guest closed or destroyed the socket, and woken then: a
    /// write blocked on a peer that does not read gets `close_timeout` more.
    stop_requested: AtomicBool,
    stop: Notify,
    /// Set when the socket stops counting as live (close delivered or destroyed).
    retired: AtomicBool,
    /// The guest's pings and the pongs that answered them.
    pings: Mutex<Pings>,
    queue: Arc<EventQueue>,
}

/// The most pings that may wait to be written.
const MAX_QUEUED_PINGS: usize = 16;

/// The guest's pings (`websocket.ping`).
#[derive(Default)]
struct Pings {
    /// Accepted and not yet written.
    queued: usize,
    /// The last one written and not yet answered: its payload, and when.
    outstanding: Option<(Vec<u8>, Instant)>,
    /// The last answered: its payload and round trip.
    last: Option<(Vec<u8>, Duration)>,
    /// How many were answered.
    answered: u64,
    /// The connection has ended: no pong will come.
    ended: bool,
}

impl SocketShared {
    /// A socket in the CONNECTING state, reporting to `queue`.
    fn new(id: u64, config: &WebSocketConfig, queue: Arc<EventQueue>) -> Self {
        Self {
            id,
            observed: Mutex::new(Observed {
                ready_state: ReadyState::Connecting,
                open_delivered: false,
                peer_closing: false,
                open_settled: false,
                protocol: String::new(),
                extensions: String::new(),
            }),
            buffered: AtomicU64::new(0),
            pending_sends: AtomicU64::new(0),
            max_pending_sends: config.max_pending_sends,
            pending: AtomicIsize::new(0),
            queued_bytes: AtomicU64::new(0),
            drained: Notify::new(),
            written: Notify::new(),
            destroyed: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            stop: Notify::new(),
            retired: AtomicBool::new(false),
            pings: Mutex::new(Pings::default()),
            queue,
        }
    }

    fn pings(&self) -> MutexGuard<'_, Pings> {
        self.pings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts a ping to write; how many pongs had answered before it.
    fn queue_ping(&self, payload_len: usize) -> Result<u64, ErrorCode> {
        if payload_len > 125 {
            return Err(ErrorCode::MessageTooLarge(format!(
                "a ping carries at most 125 bytes, not {payload_len}"
            )));
        }
        self.can_send()?;
        let mut pings = self.pings();
        if pings.queued >= MAX_QUEUED_PINGS {
            return Err(ErrorCode::LimitExceeded(format!(
                "{MAX_QUEUED_PINGS} pings wait to be written already"
            )));
        }
        pings.queued += 1;
        Ok(pings.answered)
    }

    /// A ping left the queue: written (`Some` payload, now outstanding) or dropped.
    fn ping_dequeued(&self, written: Option<Vec<u8>>) {
        let mut pings = self.pings();
        pings.queued = pings.queued.saturating_sub(1);
        if let Some(payload) = written {
            pings.outstanding = Some((payload, Instant::now()));
        }
    }

    /// A pong arrived: it answers the outstanding ping if it carries its payload.
    fn pong_received(&self, payload: &[u8]) {
        let mut pings = self.pings();
        if pings
            .outstanding
            .as_ref()
            .is_some_and(|(sent, _)| sent.as_slice() == payload)
        {
            let (payload, sent) = pings.outstanding.take().expect("checked above");
            pings.last = Some((payload, sent.elapsed()));
            pings.answered += 1;
            drop(pings);
            self.written.notify_waiters();
        }
    }

    /// Whether a pong answered a ping made when `answered` had, or none
    /// ever will (the connection ended).
    pub(crate) fn pong_settled(&self, answered: u64) -> bool {
        let pings = self.pings();
        pings.answered > answered || pings.ended
    }

    /// The connection ended: wakes those waiting for a pong.
    fn pings_ended(&self) {
        self.pings().ended = true;
        self.written.notify_waiters();
    }

    /// The last pong that answered a ping: its payload and round trip.
    pub(crate) fn last_pong(&self) -> Option<(Vec<u8>, Duration)> {
        self.pings().last.clone()
    }

    fn observed(&self) -> MutexGuard<'_, Observed> {
        self.observed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The socket's id, unique among its guest's sockets.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The current ready state.
    pub fn ready_state(&self) -> ReadyState {
        self.observed().ready_state
    }

    pub(crate) fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::Acquire)
    }

    pub(crate) fn enqueued(&self, kind: &Pending) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.queued_bytes
            .fetch_add(queued_cost(kind), Ordering::AcqRel);
    }

    pub(crate) fn dequeued(&self, kind: &Pending) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.queued_bytes
            .fetch_sub(queued_cost(kind), Ordering::AcqRel);
        // A stored permit: the reader may not be waiting yet.
        self.drained.notify_one();
    }

    fn inbound_full(&self, limit: u64) -> bool {
        self.queued_bytes.load(Ordering::Acquire) >= limit
    }

    /// Payload bytes accepted by `send` and not yet written.
    pub(crate) fn buffered(&self) -> u64 {
        self.buffered.load(Ordering::Acquire)
    }

    /// Takes `messages` written messages of `len` bytes off the counts and
    /// wakes waiting writers.
    fn written(&self, messages: u64, len: u64) {
        self.pending_sends.fetch_sub(messages, Ordering::AcqRel);
        self.buffered.fetch_sub(len, Ordering::AcqRel);
        self.written.notify_waiters();
    }

    /// True while fewer than half the allowed messages wait to be written:
    /// room for a writer that waited (see `subscribe-writable`).
    pub(crate) fn sends_have_room(&self) -> bool {
        self.pending_sends.load(Ordering::Acquire) <= self.max_pending_sends / 2
    }

    /// Woken whenever `buffered` falls or the connection ends.
    pub(crate) fn written_notify(&self) -> &Notify {
        &self.written
    }

    /// The device this socket reports to.
    pub(crate) fn queue(&self) -> &EventQueue {
        &self.queue
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// Marks the socket retired; true the first time only.
    pub(crate) fn retire(&self) -> bool {
        !self.retired.swap(true, Ordering::AcqRel)
    }

    /// The guest closed or destroyed the socket: bound the task's writes.
    fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::Release);
        self.stop.notify_waiters();
    }

    /// The peer's close frame arrived: nothing more may be sent, so the socket
    /// is closing: at once if the guest has handled its open event, else once
    /// it has (its open callback sees it open, as a browser's open task does).
    fn peer_closing(&self) {
        let mut observed = self.observed();
        observed.peer_closing = true;
        if observed.open_settled && observed.ready_state == ReadyState::Open {
            observed.ready_state = ReadyState::Closing;
        }
    }

    /// The guest has handled the open event; see [`Self::peer_closing`].
    pub(crate) fn open_settled(&self) {
        let mut observed = self.observed();
        observed.open_settled = true;
        if observed.peer_closing && observed.ready_state == ReadyState::Open {
            observed.ready_state = ReadyState::Closing;
        }
    }

    /// Whether a send can still reach the peer: open, and the peer has not
    /// sent its close frame (after it nothing may be sent).
    fn can_send(&self) -> Result<(), ErrorCode> {
        let observed = self.observed();
        match observed.ready_state {
            ReadyState::Open if !observed.peer_closing => Ok(()),
            ReadyState::Connecting => Err(ErrorCode::InvalidState(
                "cannot send while the socket is connecting: wait for the open event".to_string(),
            )),
            _ => Err(ErrorCode::InvalidState(
                "cannot send after the socket started closing".to_string(),
            )),
        }
    }

    /// Records what the handshake negotiated, unless the guest closed the
    /// socket meanwhile (then the connection is to be failed).
    fn opened(&self, protocol: String, extensions: String) -> bool {
        let mut observed = self.observed();
        if observed.ready_state != ReadyState::Connecting {
            return false;
        }
        observed.protocol = protocol;
        observed.extensions = extensions;
        true
    }

    /// Advances the guest-visible state as `event` reaches the guest: the
    /// browser changes `readyState` in the same task that fires the event.
    /// False for an event the guest must not see: the open event (and any
    /// message after it) of a socket it closed before it saw it open, which
    /// fails instead (its error and close events follow).
    pub(crate) fn deliver_state(&self, event: &Pending) -> bool {
        let mut observed = self.observed();
        match event {
            Pending::Open => {
                let deliver = observed.ready_state == ReadyState::Connecting;
                if deliver {
                    observed.ready_state = ReadyState::Open;
                    observed.open_delivered = true;
                }
                deliver
            }
            Pending::Message(_) => observed.open_delivered,
            Pending::Error(_) | Pending::Close(_) => {
                observed.ready_state = ReadyState::Closed;
                true
            }
        }
    }
}

/// What one queued event costs beyond its payload: the queue entry, the
/// payload's allocation and the bookkeeping around them (measured at about
/// 100 bytes; rounded up). Charged so that a flood of empty messages is
/// bounded as a flood of large ones is.
pub const EVENT_OVERHEAD: u64 = 128;

/// What `kind` costs while it waits in the queue: payload plus overhead.
fn queued_cost(kind: &Pending) -> u64 {
    EVENT_OVERHEAD
        + match kind {
            Pending::Message(message) => message.len() as u64,
            _ => 0,
        }
}

/// What the guest asks of the I/O task.
enum Command {
    /// Write a message; the length is what `buffered` counted for it.
    Send(WireMessage, u64),
    /// Start (or, while connecting, fail with) the closing handshake.
    Close(Option<CloseFrame>),
    /// Write a ping with this payload.
    Ping(Vec<u8>),
    /// The guest closed a socket it had not seen open: fail the connection,
    /// even if the handshake has finished meanwhile (its open event is then
    /// never delivered), as the browser does.
    Fail,
}

/// The host side of a guest's `websocket` resource.
///
/// ```no_run
/// # use wasmtime::component::{Resource, ResourceTable};
/// # use wit_websocket_host::socket::WebSocket;
/// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
/// // An embedder looking at a socket a guest holds (e.g. one lent to a callback).
/// let socket: &WebSocket = table.get(socket)?;
/// println!("{} ({} buffered)", socket.url(), socket.buffered_amount());
/// # Ok(())
/// # }
/// ```
pub struct WebSocket {
    pub(crate) shared: Arc<SocketShared>,
    url: String,
    /// `None` once the guest destroyed the socket: dropping the sender tells
    /// the task to close with 1001 and stop.
    commands: Option<mpsc::UnboundedSender<Command>>,
    max_message_size: usize,
    max_buffered_amount: u64,
}

impl WebSocket {
    /// Creates the socket in the CONNECTING state and starts its I/O task.
    /// Must be called inside a tokio runtime.
    pub(crate) fn connect(
        id: u64,
        target: Target,
        tls: Option<ClientTls>,
        options: ConnectOptions,
        config: &WebSocketConfig,
        queue: Arc<EventQueue>,
        tasks: &SocketTasks,
    ) -> Self {
        let shared = Arc::new(SocketShared::new(id, config, queue));
        let (commands, receiver) = mpsc::unbounded_channel();
        let task = SocketTask {
            lookups: tasks.lookups.clone(),
            shared: shared.clone(),
            commands: receiver,
            close_timeout: config.close_timeout,
            policy: config.policy.clone(),
            max_queued_bytes: config.max_queued_bytes,
            keepalive: options
                .keepalive_interval_ms
                .filter(|&ms| ms > 0)
                .map(|ms| Duration::from_millis(ms.into())),
        };
        let compression = options.compression.unwrap_or(config.offer_compression);
        let connect_timeout = options
            .connect_timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(config.connect_timeout);
        let wire_config = WireConfig::default()
            .read_buffer_size(READ_BUFFER_SIZE)
            .max_message_size(Some(config.max_message_size))
            .max_frame_size(Some(config.max_frame_size));
        let url = target.url.to_string();
        let connection = ConnectionSettings {
            tls,
            wire_config,
            compression,
            proxy: config
                .proxy
                .for_target(&target.as_connect_target())
                .cloned(),
        };
        // A child of the guest's span, when the embedder keeps one.
        let span = tracing::info_span!("socket", id, host = %target.host, port = target.port);
        span.in_scope(|| tracing::info!(url = %target.url, "connecting"));
        tasks.spawn(
            shared.clone(),
            tracing::Instrument::instrument(
                task.run(target, options, connection, connect_timeout),
                span,
            ),
        );
        Self {
            shared,
            url,
            commands: Some(commands),
            max_message_size: config.max_message_size,
            max_buffered_amount: config.max_buffered_amount,
        }
    }

    /// The URL as parsed.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Resource, ResourceTable};
    /// # use wit_websocket_host::socket::WebSocket;
    /// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
    /// assert!(table.get(socket)?.url().starts_with("ws"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's chosen subprotocol, or empty.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Resource, ResourceTable};
    /// # use wit_websocket_host::socket::WebSocket;
    /// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
    /// let protocol = table.get(socket)?.protocol(); // e.g. "chat" once open
    /// # let _ = protocol;
    /// # Ok(())
    /// # }
    /// ```
    pub fn protocol(&self) -> String {
        self.shared.observed().protocol.clone()
    }

    /// The accepted extensions, or empty.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Resource, ResourceTable};
    /// # use wit_websocket_host::socket::WebSocket;
    /// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
    /// let compressed = table.get(socket)?.extensions().contains("permessage-deflate");
    /// # let _ = compressed;
    /// # Ok(())
    /// # }
    /// ```
    pub fn extensions(&self) -> String {
        self.shared.observed().extensions.clone()
    }

    /// Bytes accepted by `send` and not yet written.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Resource, ResourceTable};
    /// # use wit_websocket_host::socket::WebSocket;
    /// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
    /// if table.get(socket)?.buffered_amount() > 1 << 20 {
    ///     println!("this guest's peer is slow");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn buffered_amount(&self) -> u64 {
        self.shared.buffered.load(Ordering::Acquire)
    }

    /// Queues `message` (text or binary) for sending; see the WIT `send`.
    pub(crate) fn send(&self, message: WireMessage) -> Result<u64, ErrorCode> {
        self.shared.can_send()?;
        let len = message.len();
        if len > self.max_message_size {
            return Err(ErrorCode::MessageTooLarge(format!(
                "the message has {len} bytes; the host allows at most {}",
                self.max_message_size
            )));
        }
        let len = len as u64;
        let pending = self.shared.pending_sends.load(Ordering::Acquire);
        if pending >= self.shared.max_pending_sends {
            return Err(ErrorCode::LimitExceeded(format!(
                "{pending} messages wait to be written; the host allows {}: wait for buffered-amount to fall",
                self.shared.max_pending_sends
            )));
        }
        let buffered = self.shared.buffered.load(Ordering::Acquire);
        if buffered + len > self.max_buffered_amount {
            return Err(ErrorCode::LimitExceeded(format!(
                "buffered-amount would reach {} bytes; the host allows {}: wait for it to fall",
                buffered + len,
                self.max_buffered_amount
            )));
        }
        self.shared.buffered.fetch_add(len, Ordering::AcqRel);
        self.shared.pending_sends.fetch_add(1, Ordering::AcqRel);
        if self.command(Command::Send(message, len)).is_err() {
            self.shared.written(1, len);
            return Err(ErrorCode::InvalidState(
                "the connection has ended".to_string(),
            ));
        }
        Ok(len)
    }

    /// Starts the closing handshake; see the WIT `close`. `code` and
    /// `reason` were checked by [`crate::rules::check_close`].
    pub(crate) fn close(&self, code: Option<u16>, reason: String) {
        let mut observed = self.shared.observed();
        let command = match observed.ready_state {
            ReadyState::Closing | ReadyState::Closed => return,
            ReadyState::Connecting => Command::Fail,
            ReadyState::Open => Command::Close(code.map(|code| CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            })),
        };
        observed.ready_state = ReadyState::Closing;
        drop(observed);
        self.shared.request_stop();
        // A task that already ended has queued its close event: nothing to do.
        let _ = self.command(command);
    }

    /// `ping`: queues a ping; how many pongs had answered before it.
    pub(crate) fn ping(&self, payload: Vec<u8>) -> Result<u64, ErrorCode> {
        let answered = self.shared.queue_ping(payload.len())?;
        match self.command(Command::Ping(payload)) {
            Ok(()) => Ok(answered),
            Err(()) => {
                self.shared.ping_dequeued(None);
                Err(ErrorCode::InvalidState(
                    "the connection has ended".to_string(),
                ))
            }
        }
    }

    fn command(&self, command: Command) -> Result<(), ()> {
        match &self.commands {
            Some(sender) => sender.send(command).map_err(|_| ()),
            None => Err(()),
        }
    }

    /// Destroys the socket after its guest trapped: no more events, and a
    /// live connection closes with 1011 (internal error).
    pub(crate) fn abort(&mut self) {
        let frame = CloseFrame {
            code: CloseCode::from(INTERNAL_ERROR),
            reason: "the application failed".into(),
        };
        let _ = self.command(Command::Close(Some(frame)));
        self.destroy();
    }

    /// Destroys the socket: no more events, and a live connection closes with 1001.
    pub(crate) fn destroy(&mut self) {
        self.shared.observed().ready_state = ReadyState::Closed;
        self.shared.destroyed.store(true, Ordering::Release);
        self.shared.queue.purge(&self.shared);
        self.shared.request_stop();
        self.commands = None;
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// The I/O tasks of a guest's sockets, how many of them panicked, and their
/// DNS lookups.
#[derive(Clone)]
pub(crate) struct SocketTasks {
    pub(crate) tracker: TaskTracker,
    pub(crate) panics: Arc<std::sync::atomic::AtomicUsize>,
    lookups: Lookups,
}

impl SocketTasks {
    pub(crate) fn new(lookups: Lookups) -> Self {
        Self {
            tracker: TaskTracker::new(),
            panics: Arc::default(),
            lookups,
        }
    }

    /// Runs `task`, the I/O of `socket`. A panic in it is a host bug: the
    /// guest is told (an `io` error, then close 1006) rather than left with
    /// a socket that never ends, and the panic is counted, so that harnesses
    /// fail loudly.
    fn spawn(&self, socket: Arc<SocketShared>, task: impl Future<Output = ()> + Send + 'static) {
        let panics = self.panics.clone();
        let task = std::panic::AssertUnwindSafe(task);
        self.tracker.spawn(async move {
            let Err(panic) = futures_util::FutureExt::catch_unwind(task).await else {
                return;
            };
            panics.fetch_add(1, Ordering::AcqRel);
            tracing::error!(
                socket = socket.id,
                "the socket's task panicked (a host bug)"
            );
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let error = ErrorCode::Io(format!("host bug: the socket's task panicked: {what}"));
            socket.queue.push(&socket, Pending::Error(error));
            let info = CloseInfo {
                code: ABNORMAL_CLOSURE,
                reason: String::new(),
                was_clean: false,
            };
            socket.queue.push(&socket, Pending::Close(info));
        });
    }
}

/// How much tungstenite reads at once. Its default, 128 KiB, is zero-filled
/// before every read, so each connection that reads at all keeps 128 KiB
/// resident: with 10,000 sockets, 1.3 GB. Larger messages still arrive
/// whole (the buffer grows to a frame's length), and the transport beneath
/// reads ahead in larger pieces while they stream in ([`ReadAhead`]).
pub(crate) const READ_BUFFER_SIZE: usize = 16 << 10;

/// How many bytes of queued sends one flush may carry: enough to batch small
/// messages, small enough that reading is not held up for long.
const BURST_BYTES: usize = 256 << 10;

/// A data message larger than this whose bytes are the socket's alone is
/// written by [`write_masked`], not through tungstenite: beyond it, copying
/// the message into tungstenite's write buffer costs more than the write
/// call of its own it then needs (64 KiB messages: CPU per MiB 1.9x native
/// through tungstenite, 1.1-1.3x so).
const DIRECT_WRITE_BYTES: usize = 16 << 10;

/// A large text or binary message whose bytes nothing else holds (what a
/// guest's `send-binary` or `send` lifted), as the opcode and bytes
/// [`write_masked`] writes; any other message as it was.
fn large_and_ours(message: WireMessage) -> Result<(OpData, BytesMut), WireMessage> {
    let ours = match &message {
        WireMessage::Binary(bytes) => bytes.len() > DIRECT_WRITE_BYTES && bytes.is_unique(),
        WireMessage::Text(text) => {
            text.len() > DIRECT_WRITE_BYTES && AsRef::<Bytes>::as_ref(text).is_unique()
        }
        _ => false,
    };
    let (opcode, bytes) = match message {
        WireMessage::Binary(bytes) if ours => (OpData::Binary, bytes),
        WireMessage::Text(text) if ours => (OpData::Text, Bytes::from(text)),
        other => return Err(other),
    };
    // Unique, so this takes the buffer over rather than copying it.
    Ok((opcode, BytesMut::from(bytes)))
}

/// Writes one data frame straight to the transport: the header, then the
/// payload masked where it lies, in one vectored write. tungstenite would
/// copy the payload into its write buffer and mask it there: a second pass
/// over the bytes, and a buffer the size of the largest message ever sent,
/// kept for the connection's life. What tungstenite has buffered (a pong it
/// owes, earlier messages of the burst) is flushed first, so frames keep
/// their order.
async fn write_masked(
    stream: &mut Stream,
    opcode: OpData,
    mut payload: BytesMut,
) -> Result<(), tungstenite::Error> {
    stream.flush().await?;
    let key: [u8; 4] = rand::random();
    let header = FrameHeader {
        opcode: OpCode::Data(opcode),
        mask: Some(key),
        ..FrameHeader::default()
    };
    let mut head = Vec::with_capacity(14); // the largest header
    header.format(payload.len() as u64, &mut head)?;
    mask_in_place(&mut payload, key);
    let mut frame = head.as_slice().chain(&payload[..]);
    stream.get_mut().write_all_buf(&mut frame).await?;
    Ok(())
}

/// RFC 6455 §5.3 masking, eight bytes at a time.
fn mask_in_place(payload: &mut [u8], key: [u8; 4]) {
    let [a, b, c, d] = key;
    let word = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let masked = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so of 4: the key starts over.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

type Stream = WebSocketStream<compression::Transport<MaybeTlsStream<ReadAhead<TcpStream>>>>;

/// How a burst of sends ended.
enum BurstEnd {
    /// No more sends were queued, or the burst reached [`BURST_BYTES`].
    Drained,
    /// The guest's next command, taken from the channel: not a send, or
    /// `None` when the guest destroyed the socket.
    Next(Option<Command>),
}

/// How to open a connection, besides the guest's options.
struct ConnectionSettings {
    tls: Option<ClientTls>,
    wire_config: WireConfig,
    /// Offer permessage-deflate.
    compression: bool,
    /// The proxy the embedder set for this destination.
    proxy: Option<Proxy>,
}

/// An open connection and what its handshake agreed.
struct Connection {
    stream: Stream,
    protocol: String,
    extensions: String,
    /// Compresses what we send, when deflate was agreed.
    deflater: Option<MessageDeflater>,
}

/// How a connection ended, for the close event.
enum Ending {
    /// Both sides exchanged close frames.
    Clean(Option<CloseFrame>),
    /// It failed: report the error, then close with 1006.
    Failed(ErrorCode),
    /// The guest destroyed the socket: report nothing.
    Destroyed,
}

/// The I/O task of one socket.
struct SocketTask {
    /// The guest's DNS lookups.
    lookups: Lookups,
    shared: Arc<SocketShared>,
    commands: mpsc::UnboundedReceiver<Command>,
    close_timeout: Duration,
    keepalive: Option<Duration>,
    policy: Arc<dyn NetworkPolicy>,
    max_queued_bytes: u64,
}

impl SocketTask {
    async fn run(
        mut self,
        target: Target,
        options: ConnectOptions,
        settings: ConnectionSettings,
        connect_timeout: Duration,
    ) {
        // Boxed, and done with before the conversation starts: every open
        // socket's task would otherwise keep room for the connecting state
        // (DNS, proxy, TLS and HTTP handshakes) beside the conversation's.
        let connecting = Box::pin(tokio::time::timeout(
            connect_timeout,
            open_connection(&target, &*self.policy, &options, settings, &self.lookups),
        ));
        let connected = tokio::select! {
            connected = connecting => match connected {
                Ok(Ok(connection)) => Ok(connection),
                Ok(Err(error)) => Err(Ending::Failed(error)),
                Err(_) => Err(Ending::Failed(ErrorCode::Timeout(format!(
                    "the connection was not established within {connect_timeout:?}"
                )))),
            },
            command = self.commands.recv() => match command {
                // Send is refused while connecting, so only close or destroy reach here.
                Some(_) => Err(closed_while_connecting()),
                None => Err(Ending::Destroyed),
            },
        };
        // The conversation's state boxed too: the connection moves into it,
        // so the task keeps one copy of the stream (about 1.5 KB), not two.
        let ending = {
            let conversation = match connected {
                Ok(connection) => {
                    tracing::info!(protocol = %connection.protocol, extensions = %connection.extensions, "open");
                    if self
                        .shared
                        .opened(connection.protocol, connection.extensions)
                    {
                        self.shared.queue.push(&self.shared, Pending::Open);
                        Ok(Box::pin(
                            self.converse(connection.stream, connection.deflater),
                        ))
                    } else {
                        // The guest closed while the handshake finished.
                        Err(closed_while_connecting())
                    }
                }
                Err(ending) => Err(ending),
            };
            match conversation {
                Ok(conversation) => conversation.await,
                Err(ending) => ending,
            }
        };
        self.finish(ending);
    }

    fn finish(&self, ending: Ending) {
        self.shared.pings_ended();
        let info = match ending {
            Ending::Destroyed => {
                tracing::debug!("destroyed: the guest dropped the socket");
                return;
            }
            Ending::Clean(frame) => CloseInfo {
                code: frame.as_ref().map_or(NO_STATUS_RECEIVED, |f| f.code.into()),
                reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                was_clean: true,
            },
            Ending::Failed(error) => {
                tracing::info!(?error, "failed");
                self.shared.queue.push(&self.shared, Pending::Error(error));
                CloseInfo {
                    code: ABNORMAL_CLOSURE,
                    reason: String::new(),
                    was_clean: false,
                }
            }
        };
        tracing::info!(code = info.code, reason = %info.reason, clean = info.was_clean, "closed");
        self.shared.buffered.store(0, Ordering::Release);
        self.shared.pending_sends.store(0, Ordering::Release);
        self.shared.written.notify_waiters();
        self.shared.queue.push(&self.shared, Pending::Close(info));
    }

    /// Runs one write to the peer, bounded in time, so that a peer that stops
    /// reading cannot hold the socket (and its file descriptor) forever:
    /// once the guest closes or destroys the socket, the write has
    /// `close_timeout` left; with keepalive on, a write blocked for twice
    /// the interval fails as an unanswered ping would (the ping could not
    /// even be sent).
    async fn bounded<T>(
        &self,
        write: impl Future<Output = Result<T, tungstenite::Error>>,
    ) -> Result<T, Ending> {
        let shared = &self.shared;
        let stopped = async {
            wait_until(&shared.stop, || {
                shared.stop_requested.load(Ordering::Acquire)
            })
            .await;
            tokio::time::sleep(self.close_timeout).await;
        };
        let stalled = sleep_until(self.keepalive.map(|interval| Instant::now() + interval * 2));
        let stuck = |why: String| match shared.is_destroyed() {
            true => Ending::Destroyed,
            false => Ending::Failed(ErrorCode::Timeout(why)),
        };
        tokio::select! {
            result = write => result.map_err(|error| Ending::Failed(wire_error(error))),
            () = stopped => Err(stuck(format!(
                "the peer did not take our data within {:?} of the close",
                self.close_timeout
            ))),
            () = stalled => Err(stuck(format!(
                "the peer has not read our data for {:?} (keepalive)",
                self.keepalive.unwrap_or_default() * 2
            ))),
        }
    }

    /// Writes `first` and every send queued behind it (up to [`BURST_BYTES`]),
    /// then flushes once. After the peer's close frame nothing more may be
    /// sent: with `discard`, like the browser, the messages are dropped.
    async fn send_burst(
        &mut self,
        stream: &mut Stream,
        deflater: &mut Option<MessageDeflater>,
        first: (WireMessage, u64),
        discard: bool,
    ) -> Result<BurstEnd, Ending> {
        let mut next = Some(first);
        let (mut written, mut accounted, mut messages) = (0, 0, 0);
        let outcome = loop {
            let Some((message, len)) = next.take() else {
                break Ok(BurstEnd::Drained);
            };
            accounted += len;
            messages += 1;
            if !discard {
                let message = compress(deflater, message).await;
                written += message.len();
                let fed = match large_and_ours(message) {
                    Ok((opcode, payload)) => {
                        self.bounded(write_masked(stream, opcode, payload)).await
                    }
                    Err(message) => self.bounded(stream.feed(message)).await,
                };
                if let Err(ending) = fed {
                    break Err(ending);
                }
            }
            if written >= BURST_BYTES {
                break Ok(BurstEnd::Drained);
            }
            match self.commands.try_recv() {
                Ok(Command::Send(message, len)) => next = Some((message, len)),
                Ok(other) => break Ok(BurstEnd::Next(Some(other))),
                Err(TryRecvError::Empty) => break Ok(BurstEnd::Drained),
                Err(TryRecvError::Disconnected) => break Ok(BurstEnd::Next(None)),
            }
        };
        let outcome = match outcome {
            Ok(command) => self.bounded(stream.flush()).await.map(|()| command),
            Err(ending) => Err(ending),
        };
        self.shared.written(messages, accounted);
        outcome
    }

    /// The OPEN and CLOSING states: relays messages both ways until the
    /// connection ends.
    async fn converse(
        &mut self,
        mut stream: Stream,
        mut deflater: Option<MessageDeflater>,
    ) -> Ending {
        // Set once a close frame was received from the peer.
        let mut received_close: Option<Option<CloseFrame>> = None;
        // Set when the closing handshake started; the peer must finish by then.
        let mut close_deadline: Option<Instant> = None;
        let mut keepalive = self.keepalive.map(Keepalive::new);
        loop {
            // While the guest has not taken what it was sent, stop reading:
            // TCP then pushes back on the server. A destroyed socket's events
            // are dropped, so it reads on (to finish its closing handshake);
            // so does a closing one, dropping what does not fit, or the
            // peer's close frame would never be read and the close never clean.
            let full = self.shared.inbound_full(self.max_queued_bytes);
            let paused = full && !self.shared.is_destroyed() && close_deadline.is_none();
            let timer = match (close_deadline, &keepalive) {
                (Some(deadline), _) => Some(deadline),
                // Silence is ours while paused, not the peer's.
                (None, Some(keepalive)) if !paused => Some(keepalive.deadline()),
                (None, _) => None,
            };
            tokio::select! {
                command = self.commands.recv(), if close_deadline.is_none() => {
                    // Sends queued together are written together, with one
                    // flush: one write(2) for a burst instead of one each.
                    let command = match command {
                        Some(Command::Send(message, len)) => {
                            let discard = received_close.is_some();
                            match self.send_burst(&mut stream, &mut deflater, (message, len), discard).await {
                                Ok(BurstEnd::Drained) => continue,
                                Ok(BurstEnd::Next(command)) => command,
                                Err(ending) => return ending,
                            }
                        }
                        other => other,
                    };
                    match command {
                        None => {
                            // Destroyed: say goodbye, but do not wait long for the peer.
                            let goodbye = CloseFrame { code: CloseCode::from(GOING_AWAY), reason: "".into() };
                            let _ = tokio::time::timeout(self.close_timeout, async {
                                if stream.close(Some(goodbye)).await.is_ok() {
                                    while let Some(Ok(_)) = stream.next().await {}
                                }
                            }).await;
                            return Ending::Destroyed;
                        }
                        // A burst ends at the first command that is not a send.
                        Some(Command::Send(..)) => {}
                        Some(Command::Ping(payload)) if received_close.is_none() => {
                            if let Err(ending) = self.bounded(stream.send(WireMessage::Ping(payload.clone().into()))).await {
                                return ending;
                            }
                            self.shared.ping_dequeued(Some(payload));
                        }
                        Some(Command::Ping(_)) => self.shared.ping_dequeued(None),
                        Some(Command::Fail) => return closed_while_connecting(),
                        Some(Command::Close(frame)) => {
                            tracing::debug!(frame = ?frame, "the guest closes");
                            close_deadline = Some(Instant::now() + self.close_timeout);
                            if let Err(ending) = self.bounded(stream.close(frame)).await {
                                return ending;
                            }
                        }
                    }
                }
                () = self.shared.drained.notified(), if paused => {
                    if let Some(keepalive) = &mut keepalive {
                        keepalive.heard();
                    }
                }
                incoming = stream.next(), if !paused => {
                    if let Some(keepalive) = &mut keepalive {
                        keepalive.heard();
                    }
                    match incoming {
                        // Closing with the queue full: the guest has said goodbye.
                        Some(Ok(WireMessage::Text(_) | WireMessage::Binary(_))) if full && close_deadline.is_some() => {}
                        Some(Ok(WireMessage::Text(text))) => {
                            self.shared.queue.push(&self.shared, Pending::Message(Received::Text(text.as_str().to_string())));
                        }
                        Some(Ok(WireMessage::Binary(bytes))) => {
                            self.shared.queue.push(&self.shared, Pending::Message(Received::binary(bytes)));
                        }
                        Some(Ok(WireMessage::Close(frame))) => {
                            // tungstenite answers the peer's close frame itself;
                            // the connection ends when the peer drops TCP.
                            tracing::debug!(frame = ?frame, "the peer's close frame arrived");
                            received_close = Some(frame);
                            self.shared.peer_closing();
                            close_deadline.get_or_insert(Instant::now() + self.close_timeout);
                        }
                        Some(Ok(WireMessage::Pong(payload))) => self.shared.pong_received(&payload),
                        // tungstenite answers pings itself.
                        Some(Ok(WireMessage::Ping(_) | WireMessage::Frame(_))) => {}
                        Some(Err(tungstenite::Error::ConnectionClosed)) | None => {
                            return match received_close {
                                Some(frame) => Ending::Clean(frame),
                                None => Ending::Failed(ErrorCode::Io(
                                    "the connection ended without a closing handshake".to_string(),
                                )),
                            };
                        }
                        Some(Err(error)) => {
                            if let Some(frame) = received_close.take() && is_late_close_error(&error) {
                                return Ending::Clean(frame);
                            }
                            // Fail the connection (RFC 6455 §7.1.7), telling
                            // the peer why when the error has a close code.
                            if let Some(code) = failure_close_code(&error) {
                                let frame = CloseFrame { code: CloseCode::from(code), reason: "".into() };
                                let _ = tokio::time::timeout(self.close_timeout, stream.close(Some(frame))).await;
                            }
                            return Ending::Failed(wire_error(error));
                        }
                    }
                },
                () = sleep_until(timer) => {
                    if close_deadline.is_some() {
                        return match received_close {
                            // The peer sent its close frame and we answered: the
                            // handshake is complete even if it is slow to drop TCP.
                            Some(frame) => Ending::Clean(frame),
                            None => Ending::Failed(ErrorCode::Timeout(format!(
                                "the peer did not complete the closing handshake within {:?}",
                                self.close_timeout
                            ))),
                        };
                    }
                    if let Some(keepalive) = &mut keepalive {
                        if keepalive.ping_unanswered() {
                            return Ending::Failed(ErrorCode::Timeout(format!(
                                "no pong arrived within {:?} of a keepalive ping",
                                keepalive.interval
                            )));
                        }
                        keepalive.pinged();
                        if let Err(ending) = self.bounded(stream.send(WireMessage::Ping(Default::default()))).await {
                            return ending;
                        }
                    }
                }
            }
        }
    }
}

/// Keepalive pings: after `interval` without hearing from the peer, ping; if
/// another `interval` passes in silence, the connection is dead.
struct Keepalive {
    interval: Duration,
    last_heard: Instant,
    ping_sent: Option<Instant>,
}

impl Keepalive {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_heard: Instant::now(),
            ping_sent: None,
        }
    }

    /// When to ping, or when to give up waiting for the pong.
    fn deadline(&self) -> Instant {
        self.ping_sent.unwrap_or(self.last_heard) + self.interval
    }

    /// Any frame from the peer shows it is alive.
    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.ping_sent = None;
    }

    fn pinged(&mut self) {
        self.ping_sent = Some(Instant::now());
    }

    fn ping_unanswered(&self) -> bool {
        self.ping_sent.is_some()
    }
}

/// The browser fails a connection that is closed while connecting.
fn closed_while_connecting() -> Ending {
    Ending::Failed(ErrorCode::InvalidState(
        "the socket was closed before the connection was established".to_string(),
    ))
}

/// Resolves when `deadline` passes; never when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The close code that tells the peer why we fail the connection.
fn failure_close_code(error: &tungstenite::Error) -> Option<u16> {
    match error {
        tungstenite::Error::Capacity(_) => Some(1009),
        tungstenite::Error::Utf8(_) => Some(1007),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        tungstenite::Error::Protocol(_) => Some(1002),
        tungstenite::Error::Io(e) if compression::is_inflate_error(e) => Some(1002),
        _ => None,
    }
}

/// Errors after both close frames were exchanged that still make a clean close:
/// the peer dropped TCP abruptly once the handshake was done.
fn is_late_close_error(error: &tungstenite::Error) -> bool {
    matches!(
        error,
        tungstenite::Error::Io(_)
            | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
    )
}

/// DNS, TCP, TLS and the HTTP upgrade.
async fn open_connection(
    target: &Target,
    policy: &dyn NetworkPolicy,
    options: &ConnectOptions,
    settings: ConnectionSettings,
    lookups: &Lookups,
) -> Result<Connection, ErrorCode> {
    let request = build_request(target, options, settings.compression)?;
    let connect_target = target.as_connect_target();
    let tcp = match &settings.proxy {
        Some(proxy) => {
            tracing::debug!(%proxy, "through a proxy");
            proxy::tunnel(proxy, &connect_target, policy, lookups).await?
        }
        None => {
            let resolved = lookups.resolve(&target.host, target.port).await?;
            connect_any(&permitted(resolved, &connect_target, policy)?).await?
        }
    };
    // Messages are written whole; Nagle's algorithm would only add latency.
    tcp.set_nodelay(true)
        .map_err(|e| ErrorCode::Io(format!("setting TCP_NODELAY: {e}")))?;
    let transport = tls::secure(settings.tls, &target.host, ReadAhead::new(tcp)).await?;
    let max_frame_size = settings.wire_config.max_frame_size;
    let (mut stream, response) = tokio_tungstenite::client_async_with_config(
        request,
        compression::wrap(transport),
        Some(settings.wire_config),
    )
    .await
    .map_err(handshake_error)?;
    let headers = |name: &str| -> Vec<&str> {
        response
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    let extensions = headers("sec-websocket-extensions");
    let deflater = compression::accept(
        stream.get_mut(),
        &extensions,
        settings.compression,
        max_frame_size,
    )
    .map_err(|message| {
        ErrorCode::HandshakeRejected(HandshakeRejection {
            status: 101,
            message,
        })
    })?;
    let protocol = selected_protocol(&headers("sec-websocket-protocol"), &options.protocols)
        .map_err(|message| {
            ErrorCode::HandshakeRejected(HandshakeRejection {
                status: 101,
                message,
            })
        })?;
    Ok(Connection {
        protocol,
        extensions: extensions.join(", "),
        deflater,
        stream,
    })
}

/// The subprotocol the server's `Sec-WebSocket-Protocol` selected: at most
/// one header with one value, one of those offered (RFC 6455 §4.1: else the
/// client must fail the connection).
fn selected_protocol(values: &[&str], offered: &[String]) -> Result<String, String> {
    match values {
        [] => Ok(String::new()),
        [value] if offered.iter().any(|p| p == value) => Ok(value.to_string()),
        [value] => Err(format!(
            "the server selected the subprotocol {value:?}, which was not offered"
        )),
        _ => Err(format!(
            "the server selected {} subprotocols ({}); it must select one",
            values.len(),
            values.join(", ")
        )),
    }
}

/// Errors of the HTTP upgrade: a response that is not a valid
/// `101 Switching Protocols` (bad accept key, a subprotocol not offered, ...)
/// is a rejected handshake, as the browser fails it.
fn handshake_error(error: tungstenite::Error) -> ErrorCode {
    match error {
        tungstenite::Error::Protocol(e) => ErrorCode::HandshakeRejected(HandshakeRejection {
            status: 101,
            message: format!("the server's upgrade response is invalid: {e}"),
        }),
        other => wire_error(other),
    }
}

/// The addresses `policy` lets the guest reach; when it lets none, why not.
pub(crate) fn permitted(
    resolved: Vec<std::net::SocketAddr>,
    target: &crate::policy::ConnectTarget<'_>,
    policy: &dyn NetworkPolicy,
) -> Result<Vec<std::net::SocketAddr>, ErrorCode> {
    let mut refusal = None;
    let addresses: Vec<_> = resolved
        .into_iter()
        .filter(|address| match policy.check_address(target, address.ip()) {
            Ok(()) => true,
            Err(message) => {
                tracing::info!(%address, reason = %message, "not permitted");
                refusal.get_or_insert(message);
                false
            }
        })
        .collect();
    if addresses.is_empty() {
        return Err(match refusal {
            Some(message) => ErrorCode::NotPermitted(message),
            None => ErrorCode::DnsFailure(format!("{} has no addresses", target.host)),
        });
    }
    Ok(addresses)
}

/// Connects to the first address that accepts, as browsers try each in turn.
pub(crate) async fn connect_any(
    addresses: &[std::net::SocketAddr],
) -> Result<TcpStream, ErrorCode> {
    let mut failure = ErrorCode::DnsFailure("no address to connect to".to_string());
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                failure = ErrorCode::ConnectionRefused(format!("{address}: {error}"));
            }
            Err(error) => failure = ErrorCode::Io(format!("connecting to {address}: {error}")),
        }
    }
    Err(failure)
}

fn build_request(
    target: &Target,
    options: &ConnectOptions,
    compression: bool,
) -> Result<tungstenite::handshake::client::Request, ErrorCode> {
    let mut request = target
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| ErrorCode::InvalidUrl(e.to_string()))?;
    let headers = request.headers_mut();
    let invalid = |e: &dyn std::fmt::Display| ErrorCode::InvalidOptions(e.to_string());
    if !options.protocols.is_empty() {
        let value =
            HeaderValue::from_str(&options.protocols.join(", ")).map_err(|e| invalid(&e))?;
        headers.insert("sec-websocket-protocol", value);
    }
    if let Some(offer) = compression::offer(compression) {
        headers.insert("sec-websocket-extensions", HeaderValue::from_static(offer));
    }
    for (name, value) in &options.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(&e))?;
        let value = HeaderValue::from_str(value).map_err(|e| invalid(&e))?;
        headers.append(name, value);
    }
    Ok(request)
}

/// Maps tungstenite's error to the guest's.
fn wire_error(error: tungstenite::Error) -> ErrorCode {
    use tungstenite::Error as E;
    match error {
        E::ConnectionClosed | E::AlreadyClosed => {
            ErrorCode::Io("the connection is closed".to_string())
        }
        E::Io(e) if compression::is_inflate_error(&e) => {
            ErrorCode::ProtocolViolation(e.to_string())
        }
        E::Io(e) if tls::is_tls_error(&e) => ErrorCode::Tls(e.to_string()),
        E::Io(e) => ErrorCode::Io(e.to_string()),
        E::Tls(e) => ErrorCode::Tls(e.to_string()),
        E::Capacity(e) => ErrorCode::MessageTooLarge(e.to_string()),
        E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            ErrorCode::Io("the connection was reset without a closing handshake".to_string())
        }
        E::Protocol(e) => ErrorCode::ProtocolViolation(e.to_string()),
        E::WriteBufferFull(_) => {
            ErrorCode::LimitExceeded("the socket's write buffer is full".to_string())
        }
        E::Utf8(e) => ErrorCode::ProtocolViolation(format!("invalid UTF-8 in a text message: {e}")),
        E::AttackAttempt => {
            ErrorCode::ProtocolViolation("the peer's traffic looks like an attack".to_string())
        }
        E::Url(e) => ErrorCode::InvalidUrl(e.to_string()),
        E::Http(response) => {
            let status = response.status();
            ErrorCode::HandshakeRejected(HandshakeRejection {
                status: status.as_u16(),
                message: format!(
                    "the server answered {} instead of 101 Switching Protocols",
                    status
                ),
            })
        }
        E::HttpFormat(e) => ErrorCode::HandshakeRejected(HandshakeRejection {
            status: 0,
            message: format!("the server's HTTP response is malformed: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_in_place_is_rfc_6455_masking() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..=19 {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 + 5) as u8).collect();
            let mut masked = plain.clone();
            mask_in_place(&mut masked, key);
            let expected: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            assert_eq!(masked, expected, "{len} bytes");
        }
    }

    #[test]
    fn only_large_messages_no_one_else_holds_are_written_directly() {
        let large = vec![7u8; DIRECT_WRITE_BYTES + 1];
        assert!(large_and_ours(WireMessage::binary(large.clone())).is_ok());
        let text = String::from_utf8(vec![b'a'; DIRECT_WRITE_BYTES + 1]).unwrap();
        assert!(matches!(
            large_and_ours(WireMessage::text(text)),
            Ok((OpData::Text, _))
        ));
        assert!(large_and_ours(WireMessage::binary(vec![7u8; DIRECT_WRITE_BYTES])).is_err());
        // A slice of a shared buffer (send-messages) is not the socket's to mask.
        let shared = Bytes::from(large);
        let kept = shared.clone();
        assert_eq!(
            large_and_ours(WireMessage::Binary(shared)).unwrap_err(),
            WireMessage::Binary(kept)
        );
    }

    #[tokio::test]
    async fn a_large_message_written_directly_reaches_a_server_whole_and_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            // A server unmasks, and fails a frame that is not masked.
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut received = Vec::new();
            for _ in 0..3 {
                received.push(ws.next().await.unwrap().unwrap());
            }
            received
        });
        let tcp = TcpStream::connect(address).await.unwrap();
        let transport = compression::wrap(MaybeTlsStream::Plain(ReadAhead::new(tcp)));
        let (mut stream, _) =
            tokio_tungstenite::client_async(format!("ws://{address}/"), transport)
                .await
                .unwrap();
        // Buffered in tungstenite, not yet written: it must still go first.
        stream.feed(WireMessage::text("before")).await.unwrap();
        let large: Vec<u8> = (0..(1 << 20) + 3)
            .map(|i| (i * 7 + i / 256) as u8)
            .collect();
        let (opcode, payload) = large_and_ours(WireMessage::binary(large.clone())).unwrap();
        write_masked(&mut stream, opcode, payload).await.unwrap();
        stream.send(WireMessage::text("after")).await.unwrap();
        let received = server.await.unwrap();
        assert!(
            received[1] == WireMessage::binary(large),
            "the large message differs"
        );
        assert_eq!(received[0], WireMessage::text("before"));
        assert_eq!(received[2], WireMessage::text("after"));
    }

    #[tokio::test]
    async fn a_panicking_socket_task_is_counted_and_fails_the_socket() {
        let queue = Arc::new(EventQueue::new(Arc::new(Notify::new())));
        let socket = Arc::new(SocketShared::new(
            7,
            &WebSocketConfig::default(),
            queue.clone(),
        ));
        let tasks = SocketTasks::new(Lookups::new(Arc::new(crate::dns::SystemResolver), 1));
        tasks.spawn(socket, async { panic!("a test's panic") });
        tasks.tracker.close();
        tasks.tracker.wait().await;
        assert_eq!(tasks.panics.load(Ordering::Acquire), 1);
        let events: Vec<Pending> = queue.take_batch().into_iter().map(|e| e.kind).collect();
        match &events[..] {
            [Pending::Error(ErrorCode::Io(message)), Pending::Close(info)] => {
                assert!(message.contains("panicked: a test's panic"), "{message}");
                assert_eq!((info.code, info.was_clean), (1006, false));
            }
            other => panic!("{other:?}"),
        }
    }
}
