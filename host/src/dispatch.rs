//! Push mode: delivering queued events to the guest's exported `handler`.
//!
//! The component model forbids re-entering an instance, so the dispatcher
//! runs only between guest calls: an embedder calls it when the guest is
//! idle, as a browser runs event handlers between tasks. What Turbulenz games
//! did with `networkDevice.update()` once per frame, the host does here.

use std::pin::pin;

use wasmtime::Store;
use wasmtime::component::Resource;

use crate::bindings::EventKind;
use crate::bindings::exports::wit_websocket::client::handler::Guest as Handler;
use crate::socket::WebSocket;
use crate::{EPOCH_TICK, WebSocketView};

/// Delivers every event pending on the guest's devices to its `handler`
/// exports, in order for each socket. Returns how many were delivered.
///
/// Events of a socket that a callback destroys are dropped, as the WIT
/// promises. An error is a trap in the guest; the events not yet delivered
/// are lost with it.
pub async fn dispatch_pending<T: WebSocketView + 'static>(
    store: &mut Store<T>,
    handler: &Handler,
) -> wasmtime::Result<usize> {
    let events = store.data_mut().websocket().ctx.take_all_events();
    let mut delivered = 0;
    for event in events {
        let view = store.data_mut().websocket();
        // A callback earlier in this batch may have destroyed the socket.
        let Some(&rep) = view.ctx.socket_reps.get(&event.socket.id()) else {
            continue;
        };
        if event.socket.is_destroyed() {
            continue;
        }
        if !view.ctx.note_delivery(&event.socket, &event.kind) {
            continue;
        }
        let limit = view.ctx.config().callback_time_limit;
        // Each callback gets its own time budget; past it, it traps.
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks(limit));
        let socket = Resource::<WebSocket>::new_borrow(rep);
        match &event.kind {
            EventKind::Open => handler.call_on_open(&mut *store, socket).await?,
            EventKind::Message(message) => {
                handler
                    .call_on_message(&mut *store, socket, message)
                    .await?
            }
            EventKind::Error(error) => handler.call_on_error(&mut *store, socket, error).await?,
            EventKind::Close(info) => handler.call_on_close(&mut *store, socket, info).await?,
        }
        delivered += 1;
    }
    Ok(delivered)
}

/// `limit` in epoch ticks, at least one.
fn ticks(limit: std::time::Duration) -> u64 {
    (limit.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64
}

/// Dispatches events as they come until the guest has no live socket left
/// and nothing is pending: a browser tab's (or Node's) event loop.
pub async fn run_until_idle<T: WebSocketView + 'static>(
    store: &mut Store<T>,
    handler: &Handler,
) -> wasmtime::Result<()> {
    let events_ready = store.data_mut().websocket().ctx.events_ready();
    loop {
        // Registered before dispatching, so an event queued meanwhile wakes us.
        let mut notified = pin!(events_ready.notified());
        notified.as_mut().enable();
        let delivered = dispatch_pending(store, handler).await?;
        let ctx = &*store.data_mut().websocket().ctx;
        if ctx.live_sockets() == 0 && !ctx.has_pending_events() {
            return Ok(());
        }
        if delivered == 0 {
            notified.await;
        }
    }
}
