//! One device's event queue: socket tasks push events as they happen; the
//! guest takes them with `update` / `take-messages` (pull), or the
//! [`crate::dispatch`] dispatcher takes them for its callbacks (push).
//!
//! One queue per device keeps each socket's events in order. Owns the queue
//! and its batch limits; it charges each event to its socket's inbound count
//! ([`SocketShared::enqueued`]) but never reads or changes a socket's state.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::event::Pending;
use crate::socket_state::SocketShared;

/// The most events one `update` (or one round of the push dispatcher) takes
/// from a device: a guest that was idle through a flood gets it in bounded
/// pieces rather than one list as large as everything queued.
///
/// ```
/// use wit_websocket_host::device::MAX_EVENTS_PER_BATCH;
///
/// // A guest's `update()` returns at most this many events per call.
/// assert_eq!(MAX_EVENTS_PER_BATCH, 4096);
/// ```
pub const MAX_EVENTS_PER_BATCH: usize = 4096;

/// The most payload one `take-messages` packs: the packed list is one
/// allocation in the guest, so it stays modest however much is queued.
///
/// ```
/// use wit_websocket_host::device::MAX_PACKED_BYTES;
///
/// assert_eq!(MAX_PACKED_BYTES, 4 << 20);
/// ```
pub const MAX_PACKED_BYTES: usize = 4 << 20;

/// A message larger than this goes alone in its `take-messages` batch: its
/// payload is handed over as it is, not copied next to others.
///
/// ```
/// use wit_websocket_host::device::PACKED_MESSAGE_BYTES;
///
/// assert_eq!(PACKED_MESSAGE_BYTES, 64 << 10);
/// ```
pub const PACKED_MESSAGE_BYTES: usize = 64 << 10;

/// One event waiting for the guest.
pub(crate) struct QueuedEvent {
    pub(crate) socket: Arc<SocketShared>,
    pub(crate) kind: Pending,
}

/// The events of one device's sockets, oldest first.
pub(crate) struct EventQueue {
    events: Mutex<VecDeque<QueuedEvent>>,
    /// Sockets of this device that are still live; each socket holds the
    /// counter too, and takes itself off when it retires.
    pub(crate) live_sockets: Arc<AtomicUsize>,
    /// False when the guest takes this device's events only with `update`.
    pushed: AtomicBool,
    /// The guest-wide notifier: woken on every push, so pollables and the
    /// dispatcher re-check their condition.
    ready: Arc<Notify>,
}

impl EventQueue {
    pub(crate) fn new(ready: Arc<Notify>) -> Self {
        Self {
            events: Mutex::new(VecDeque::new()),
            live_sockets: Arc::default(),
            pushed: AtomicBool::new(true),
            ready,
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<QueuedEvent>> {
        // A panic while holding this lock would be a host bug; the queue's
        // contents stay consistent either way, so poisoning is ignored.
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `kind` for `socket`, unless the guest destroyed it.
    pub(crate) fn push(&self, socket: &Arc<SocketShared>, kind: Pending) {
        {
            let mut events = self.lock();
            if socket.is_destroyed() {
                return;
            }
            socket.enqueued(&kind);
            events.push_back(QueuedEvent {
                socket: socket.clone(),
                kind,
            });
        }
        self.ready.notify_waiters();
    }

    /// Removes and returns the oldest queued events, at most
    /// [`MAX_EVENTS_PER_BATCH`].
    pub(crate) fn take_batch(&self) -> Vec<QueuedEvent> {
        self.take_front(|queue| queue.len().min(MAX_EVENTS_PER_BATCH))
    }

    /// Removes and returns the messages at the head of the queue, up to the
    /// first other event, at most [`MAX_EVENTS_PER_BATCH`] of them and
    /// [`MAX_PACKED_BYTES`] of payload; a message over
    /// [`PACKED_MESSAGE_BYTES`] goes alone.
    pub(crate) fn take_messages(&self) -> Vec<QueuedEvent> {
        self.take_front(|queue| {
            let (mut count, mut bytes) = (0, 0);
            for event in queue.iter().take(MAX_EVENTS_PER_BATCH) {
                let Pending::Message(message) = &event.kind else {
                    break;
                };
                let len = message.len();
                let alone = len > PACKED_MESSAGE_BYTES;
                if count > 0 && (alone || bytes + len > MAX_PACKED_BYTES) {
                    break;
                }
                bytes += len;
                count += 1;
                if alone {
                    break;
                }
            }
            count
        })
    }

    /// Removes the first `count(queue)` events under one lock, and takes
    /// them off their sockets' inbound accounting.
    fn take_front(&self, count: impl FnOnce(&VecDeque<QueuedEvent>) -> usize) -> Vec<QueuedEvent> {
        let events: Vec<_> = {
            let mut queue = self.lock();
            let count = count(&queue);
            queue.drain(..count).collect()
        };
        for event in &events {
            event.socket.dequeued(&event.kind);
        }
        events
    }

    /// Drops the queued events of a destroyed socket.
    pub(crate) fn purge(&self, socket: &SocketShared) {
        self.lock().retain(|event| event.socket.id() != socket.id());
    }

    /// The notifier woken on every push.
    pub(crate) fn ready(&self) -> Arc<Notify> {
        self.ready.clone()
    }

    /// Whether the dispatcher delivers this device's events (`set-push`).
    pub(crate) fn is_pushed(&self) -> bool {
        self.pushed.load(Ordering::Acquire)
    }

    pub(crate) fn set_pushed(&self, pushed: bool) {
        self.pushed.store(pushed, Ordering::Release);
    }

    /// True when no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
