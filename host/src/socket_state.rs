//! What the guest can observe of one socket, shared between its resource
//! ([`crate::socket`]) and its I/O task ([`crate::socket_task`]): the ready
//! state as the guest has seen it, what was negotiated, the send and
//! receive counts that bound memory, and the guest's pings.
//!
//! Owns the state and its transitions only: it does no I/O, queues no event
//! and never blocks (its locks are held for a few loads and stores).

use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::Instant;

use crate::bindings::{ErrorCode, ReadyState};
use crate::config::WebSocketConfig;
use crate::event::Pending;
use crate::wait::wait_until;

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
    /// What they cost: payload bytes plus
    /// [`EVENT_OVERHEAD`](crate::event::EVENT_OVERHEAD) each.
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
    /// The live-socket count of the device this socket reports to.
    device_live_sockets: Arc<AtomicUsize>,
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
    /// A socket in the CONNECTING state, counted live in its device's
    /// `device_live_sockets`.
    pub(crate) fn new(
        id: u64,
        config: &WebSocketConfig,
        device_live_sockets: Arc<AtomicUsize>,
    ) -> Self {
        device_live_sockets.fetch_add(1, Ordering::AcqRel);
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
            device_live_sockets,
        }
    }

    fn pings(&self) -> MutexGuard<'_, Pings> {
        self.pings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts a ping to write; how many pongs had answered before it.
    pub(crate) fn queue_ping(&self, payload_len: usize) -> Result<u64, ErrorCode> {
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
    pub(crate) fn ping_dequeued(&self, written: Option<Vec<u8>>) {
        let mut pings = self.pings();
        pings.queued = pings.queued.saturating_sub(1);
        if let Some(payload) = written {
            pings.outstanding = Some((payload, Instant::now()));
        }
    }

    /// A pong arrived: it answers the outstanding ping if it carries its payload.
    pub(crate) fn pong_received(&self, payload: &[u8]) {
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
            .fetch_add(kind.queued_cost(), Ordering::AcqRel);
    }

    pub(crate) fn dequeued(&self, kind: &Pending) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.queued_bytes
            .fetch_sub(kind.queued_cost(), Ordering::AcqRel);
        // A stored permit: the reader may not be waiting yet.
        self.drained.notify_one();
    }

    pub(crate) fn inbound_full(&self, limit: u64) -> bool {
        self.queued_bytes.load(Ordering::Acquire) >= limit
    }

    /// Payload bytes accepted by `send` and not yet written.
    pub(crate) fn buffered(&self) -> u64 {
        self.buffered.load(Ordering::Acquire)
    }

    /// Takes `messages` written messages of `len` bytes off the counts and
    /// wakes waiting writers.
    pub(crate) fn written(&self, messages: u64, len: u64) {
        self.pending_sends.fetch_sub(messages, Ordering::AcqRel);
        self.buffered.fetch_sub(len, Ordering::AcqRel);
        self.written.notify_waiters();
    }

    /// Counts a message of `len` bytes as accepted and not yet written,
    /// unless the socket's limits are reached: at most `max_pending_sends`
    /// messages and `max_buffered` bytes wait.
    pub(crate) fn reserve_send(&self, len: u64, max_buffered: u64) -> Result<(), ErrorCode> {
        let pending = self.pending_sends.load(Ordering::Acquire);
        if pending >= self.max_pending_sends {
            return Err(ErrorCode::LimitExceeded(format!(
                "{pending} messages wait to be written; the host allows {}: wait for buffered-amount to fall",
                self.max_pending_sends
            )));
        }
        let buffered = self.buffered.load(Ordering::Acquire);
        if buffered + len > max_buffered {
            return Err(ErrorCode::LimitExceeded(format!(
                "buffered-amount would reach {} bytes; the host allows {max_buffered}: wait for it to fall",
                buffered + len,
            )));
        }
        self.buffered.fetch_add(len, Ordering::AcqRel);
        self.pending_sends.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The connection ended: nothing waits to be written any more, and no
    /// pong will come; wakes the writers and pingers waiting.
    pub(crate) fn connection_ended(&self) {
        self.pings().ended = true;
        self.buffered.store(0, Ordering::Release);
        self.pending_sends.store(0, Ordering::Release);
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

    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// Marks the socket retired, no longer live on its device; true the
    /// first time only.
    pub(crate) fn retire(&self) -> bool {
        let first = !self.retired.swap(true, Ordering::AcqRel);
        if first {
            self.device_live_sockets.fetch_sub(1, Ordering::AcqRel);
        }
        first
    }

    /// Resolves once the guest closed or destroyed the socket.
    pub(crate) async fn stop_requested(&self) {
        wait_until(&self.stop, || self.stop_requested.load(Ordering::Acquire)).await;
    }

    /// Resolves when the guest next takes events (see `max_queued_bytes`).
    pub(crate) fn drained(&self) -> Notified<'_> {
        self.drained.notified()
    }

    /// The guest's `close`: the socket is closing from now on. The state it
    /// was in, when that was connecting or open; `None` when it was already
    /// closing or closed (then nothing is to be done).
    pub(crate) fn start_closing(&self) -> Option<ReadyState> {
        let mut observed = self.observed();
        let before = observed.ready_state;
        match before {
            ReadyState::Closing | ReadyState::Closed => None,
            ReadyState::Connecting | ReadyState::Open => {
                observed.ready_state = ReadyState::Closing;
                Some(before)
            }
        }
    }

    /// The guest dropped its handle: the socket is closed to it, and no
    /// event is queued from now on.
    pub(crate) fn mark_destroyed(&self) {
        self.observed().ready_state = ReadyState::Closed;
        self.destroyed.store(true, Ordering::Release);
    }

    /// The server's chosen subprotocol, or empty.
    pub(crate) fn protocol(&self) -> String {
        self.observed().protocol.clone()
    }

    /// The accepted extensions, or empty.
    pub(crate) fn extensions(&self) -> String {
        self.observed().extensions.clone()
    }

    /// The guest closed or destroyed the socket: bound the task's writes.
    pub(crate) fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::Release);
        self.stop.notify_waiters();
    }

    /// The peer's close frame arrived: nothing more may be sent, so the socket
    /// is closing: at once if the guest has handled its open event, else once
    /// it has (its open callback sees it open, as a browser's open task does).
    pub(crate) fn peer_closing(&self) {
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
    pub(crate) fn can_send(&self) -> Result<(), ErrorCode> {
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
    pub(crate) fn opened(&self, protocol: String, extensions: String) -> bool {
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
