//! The `network-device` resource and its event queue.
//!
//! Socket tasks queue events here as they happen; the guest takes them with
//! `update` (pull) or the [`crate::dispatch`] dispatcher delivers them to its
//! exported callbacks (push). One queue per device keeps each socket's events
//! in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Bytes;
use wasmtime::component::{ComponentType, Lower};

use crate::bindings::{CloseInfo, ErrorCode, EventKind, Message};
use crate::socket::SocketShared;

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

/// An event as it waits in the queue: the WIT `event-kind`, with a received
/// message as [`Received`].
#[derive(Debug)]
pub(crate) enum Pending {
    Open,
    Message(Received),
    Error(ErrorCode),
    Close(CloseInfo),
}

impl Pending {
    /// The WIT event, for `update`.
    pub(crate) fn into_event_kind(self) -> EventKind {
        match self {
            Self::Open => EventKind::Open,
            Self::Message(message) => EventKind::Message(message.into_message()),
            Self::Error(error) => EventKind::Error(error),
            Self::Close(info) => EventKind::Close(info),
        }
    }
}

/// A received message; lowered into a guest as the WIT `message` (`text` or
/// `binary`). A binary message larger than the socket's read buffer keeps
/// the bytes tungstenite read it into: the dispatcher lowers it into the
/// guest's memory from there and `take-messages` hands it over as it is (a
/// 1 MiB message was copied once more before). tungstenite reads such a
/// frame into room reserved for it, so it keeps alive at most about twice
/// its size, or the buffer tungstenite itself kept from a larger message.
/// A smaller one is copied out: many of them share a read buffer, and one
/// left in the queue would keep the whole buffer alive, so the queue could
/// hold far more than its limits count.
#[derive(ComponentType, Lower, Debug)]
#[component(variant)]
pub(crate) enum Received {
    #[component(name = "text")]
    Text(String),
    #[component(name = "binary")]
    Binary(Bytes),
}

impl Received {
    /// A binary message as tungstenite read it.
    pub(crate) fn binary(bytes: Bytes) -> Self {
        if bytes.len() > crate::socket::READ_BUFFER_SIZE {
            Self::Binary(bytes)
        } else {
            Self::Binary(Bytes::copy_from_slice(&bytes))
        }
    }

    /// The payload's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.payload().len()
    }

    pub(crate) fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    pub(crate) fn payload(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(bytes) => bytes,
        }
    }

    /// The payload, without a copy where its buffer is its own.
    pub(crate) fn into_payload(self) -> Vec<u8> {
        match self {
            Self::Text(text) => text.into_bytes(),
            Self::Binary(bytes) => bytes.into(),
        }
    }

    /// The WIT message, for `update`.
    pub(crate) fn into_message(self) -> Message {
        match self {
            Self::Text(text) => Message::Text(text),
            Self::Binary(bytes) => Message::Binary(bytes.into()),
        }
    }
}

/// The events of one device's sockets, oldest first.
pub(crate) struct EventQueue {
    events: Mutex<VecDeque<QueuedEvent>>,
    /// Sockets of this device that are still live.
    pub(crate) live_sockets: AtomicUsize,
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
            live_sockets: AtomicUsize::new(0),
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

/// The host side of a guest's `network-device`.
///
/// ```no_run
/// # use wasmtime::component::{Resource, ResourceTable};
/// # fn example(table: &ResourceTable, device: &Resource<wit_websocket_host::device::NetworkDevice>) -> wasmtime::Result<()> {
/// use wit_websocket_host::device::NetworkDevice;
///
/// // The guest's handle names an entry of its resource table.
/// let device: &NetworkDevice = table.get(device)?;
/// # let _ = device;
/// # Ok(())
/// # }
/// ```
pub struct NetworkDevice {
    pub(crate) queue: Arc<EventQueue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read buffer as tungstenite fills it: frames back to back.
    fn read_buffer(len: usize) -> Bytes {
        Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>())
    }

    #[test]
    fn a_small_message_is_copied_out_of_the_read_buffer() {
        let buffer = read_buffer(256 << 10);
        let frame = buffer.slice(10..10 + 100);
        let Received::Binary(kept) = Received::binary(frame.clone()) else {
            unreachable!()
        };
        assert_eq!(kept, frame);
        // Its own allocation: the 256 KiB buffer is not kept alive by it.
        assert_ne!(kept.as_ptr(), frame.as_ptr());
        assert!(kept.is_unique());
    }

    #[test]
    fn a_large_message_keeps_its_bytes_and_is_handed_over_whole() {
        let buffer = read_buffer((1 << 20) + 14);
        let frame = buffer.slice(14..);
        let message = Received::binary(frame.clone());
        let Received::Binary(kept) = &message else {
            unreachable!()
        };
        assert_eq!(kept.as_ptr(), frame.as_ptr(), "not copied");
        assert_eq!(message.len(), 1 << 20);
        drop((buffer, frame));
        let payload = message.into_payload();
        assert_eq!(payload.len(), 1 << 20);
        assert_eq!(payload[0], 14);
    }
}
