//! An event as it waits for the guest: open, a received message, an error,
//! a close; and what each costs while it waits.
//!
//! Owns the event values only: it knows nothing of queues, sockets or the
//! guest, so every other module can name an event without a loop.

use tokio_tungstenite::tungstenite::Bytes;
use wasmtime::component::{ComponentType, Lower};

use crate::bindings::{CloseInfo, ErrorCode, EventKind, Message};
use crate::config::READ_BUFFER_SIZE;

/// What one queued event costs beyond its payload: the queue entry, the
/// payload's allocation and the bookkeeping around them (measured at about
/// 100 bytes; rounded up). Charged so that a flood of empty messages is
/// bounded as a flood of large ones is.
///
/// ```
/// use wit_websocket_host::device::EVENT_OVERHEAD;
///
/// // 10,000 empty messages count as 1.25 MB against `max_queued_bytes`.
/// assert_eq!(10_000 * EVENT_OVERHEAD, 1_280_000);
/// ```
pub const EVENT_OVERHEAD: u64 = 128;

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
    /// What this event costs while it waits in the queue: payload plus
    /// [`EVENT_OVERHEAD`].
    pub(crate) fn queued_cost(&self) -> u64 {
        EVENT_OVERHEAD
            + match self {
                Self::Message(message) => message.len() as u64,
                _ => 0,
            }
    }

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
        if bytes.len() > READ_BUFFER_SIZE {
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
