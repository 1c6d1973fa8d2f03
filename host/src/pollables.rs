//! The `wasi:io/poll.pollable`s this host hands out: a device's events, a
//! socket's events, room to send on a socket, and a pong.
//!
//! Each is a table entry of its own, owned by its pollable (not a child of
//! the device or socket), so a guest may drop a socket whose pollable it gave
//! to `network-device.watch` without the table refusing.

use std::sync::Arc;

use tokio::sync::Notify;
use wasmtime_wasi_io::poll::Pollable;

use crate::bindings::ReadyState;
use crate::queue::EventQueue;
use crate::socket_state::SocketShared;
use crate::wait::wait_until;

/// Ready while an event is queued on the device (`network-device.subscribe`).
pub(crate) struct DeviceEvents(pub(crate) Arc<EventQueue>);

#[async_trait::async_trait]
impl Pollable for DeviceEvents {
    async fn ready(&mut self) {
        let queue = &self.0;
        wait_until(&queue.ready(), || !queue.is_empty()).await;
    }
}

/// Ready while an event for the socket is queued (`websocket.subscribe`).
pub(crate) struct SocketEvents {
    pub(crate) socket: Arc<SocketShared>,
    /// Its device's notifier, woken on every event queued.
    pub(crate) queued: Arc<Notify>,
}

#[async_trait::async_trait]
impl Pollable for SocketEvents {
    async fn ready(&mut self) {
        let socket = &self.socket;
        wait_until(&self.queued, || socket.has_pending()).await;
    }
}

/// Ready while the socket's `buffered-amount` is at most the low-water mark
/// (and at most half the allowed messages wait), or the socket is not open
/// (`websocket.subscribe-writable`).
pub(crate) struct Writable {
    pub(crate) socket: Arc<SocketShared>,
    pub(crate) low_water_mark: u64,
}

#[async_trait::async_trait]
impl Pollable for Writable {
    async fn ready(&mut self) {
        let socket = &self.socket;
        let low_water_mark = self.low_water_mark;
        wait_until(socket.written_notify(), || {
            (socket.buffered() <= low_water_mark && socket.sends_have_room())
                || !matches!(socket.ready_state(), ReadyState::Open)
        })
        .await;
    }
}

/// Ready once a pong answered the ping made when `answered` pongs had, or
/// the socket is not open (`websocket.ping`).
pub(crate) struct PongReady {
    pub(crate) socket: Arc<SocketShared>,
    pub(crate) answered: u64,
}

#[async_trait::async_trait]
impl Pollable for PongReady {
    async fn ready(&mut self) {
        let socket = &self.socket;
        let answered = self.answered;
        wait_until(socket.written_notify(), || {
            socket.pong_settled(answered) || !matches!(socket.ready_state(), ReadyState::Open)
        })
        .await;
    }
}
