//! The `network-device` resource: the guest's handle on one event queue
//! (the `queue` module), and the limits on what one `update` or
//! `take-messages` hands over.
//!
//! Owns the resource only; the queue, the events and the sockets live in
//! their own modules.

use std::sync::Arc;

pub use crate::event::EVENT_OVERHEAD;
use crate::queue::EventQueue;
pub use crate::queue::{MAX_EVENTS_PER_BATCH, MAX_PACKED_BYTES, PACKED_MESSAGE_BYTES};

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
