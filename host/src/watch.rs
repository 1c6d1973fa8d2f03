//! Watches: the pollables a guest hands to `network-device.watch`, reported
//! back to it (push mode) when they are ready. With the monotonic clock's
//! `subscribe-duration` a watch is a timer; with a stream's `subscribe`,
//! input; with `websocket.subscribe-writable`, room to send.
//!
//! The pollables stay in the guest's resource table, owned by the host until
//! the watch fires or is cancelled; readiness is asked of them with
//! wasi:io/poll's own `poll`, so any pollable any linked interface makes works.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use futures_util::FutureExt as _;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_io::bindings::wasi::io::poll::{Host as _, HostPollable as _};
use wasmtime_wasi_io::poll::DynPollable;

use crate::queue::EventQueue;

/// One pending watch.
struct Watch {
    pollable: Resource<DynPollable>,
    /// The device it was made on: dropping the device cancels it.
    device: Weak<EventQueue>,
    /// Fires each time its pollable is ready, until cancelled
    /// (`watch-events`), rather than once.
    lasting: bool,
}

/// A guest's pending watches, by id (ids grow, so id order is the order
/// they were made in).
#[derive(Default)]
pub(crate) struct Watches {
    next_id: u64,
    pending: BTreeMap<u64, Watch>,
}

impl Watches {
    /// How many watches are pending.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Records a watch of `pollable` for `device`; returns its id. A
    /// `lasting` one fires whenever `pollable` is ready, until cancelled.
    pub(crate) fn add(
        &mut self,
        device: &Arc<EventQueue>,
        pollable: Resource<DynPollable>,
        lasting: bool,
    ) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let device = Arc::downgrade(device);
        self.pending.insert(
            id,
            Watch {
                pollable,
                device,
                lasting,
            },
        );
        id
    }

    /// The watch `id` is ready and is about to be reported: it ends, unless
    /// it is lasting. False when it is no longer pending.
    pub(crate) fn fire(&mut self, table: &mut ResourceTable, id: u64) -> wasmtime::Result<bool> {
        match self.pending.get(&id) {
            Some(watch) if watch.lasting => Ok(true),
            Some(_) => self.finish(table, id),
            None => Ok(false),
        }
    }

    /// Ends the watch `id` of `device`, dropping its pollable; false when
    /// there was no such pending watch.
    pub(crate) fn cancel(
        &mut self,
        table: &mut ResourceTable,
        device: &Arc<EventQueue>,
        id: u64,
    ) -> wasmtime::Result<bool> {
        let Some(watch) = self.pending.get(&id) else {
            return Ok(false);
        };
        if !std::ptr::eq(watch.device.as_ptr(), Arc::as_ptr(device)) {
            return Ok(false);
        }
        self.finish(table, id)
    }

    /// Cancels every watch made on `device` (which is being dropped).
    pub(crate) fn cancel_device(
        &mut self,
        table: &mut ResourceTable,
        device: &Arc<EventQueue>,
    ) -> wasmtime::Result<()> {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, watch)| std::ptr::eq(watch.device.as_ptr(), Arc::as_ptr(device)))
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.finish(table, id)?;
        }
        Ok(())
    }

    /// Removes the watch `id` and drops its pollable; false when it was
    /// not pending.
    pub(crate) fn finish(&mut self, table: &mut ResourceTable, id: u64) -> wasmtime::Result<bool> {
        match self.pending.remove(&id) {
            Some(watch) => {
                table.drop(watch.pollable)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The pending pollables, in id order, as borrows for `poll`.
    fn poll_list(&self) -> (Vec<u64>, Vec<Resource<DynPollable>>) {
        self.pending
            .iter()
            .map(|(&id, watch)| (id, Resource::new_borrow(watch.pollable.rep())))
            .unzip()
    }

    /// The ids of the watches that are ready now, in id order; never waits.
    pub(crate) fn ready_now(&self, table: &mut ResourceTable) -> wasmtime::Result<Vec<u64>> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        match Self::ready(self.poll_list(), table).now_or_never() {
            Some(ready) => ready,
            None => Ok(Vec::new()),
        }
    }

    /// A future of the ids of the watches ready first (at least one), in id
    /// order. Never resolves when there are no watches.
    pub(crate) fn wait_ready<'a>(
        &self,
        table: &'a mut ResourceTable,
    ) -> impl Future<Output = wasmtime::Result<Vec<u64>>> + Send + 'a {
        let list = self.poll_list();
        async move {
            if list.0.is_empty() {
                return std::future::pending().await;
            }
            Self::ready(list, table).await
        }
    }

    async fn ready(
        (ids, pollables): (Vec<u64>, Vec<Resource<DynPollable>>),
        table: &mut ResourceTable,
    ) -> wasmtime::Result<Vec<u64>> {
        let ready = table.poll(pollables).await?;
        // `poll` lists the ready ones in table order, not ours.
        let mut ready: Vec<u64> = ready.into_iter().map(|index| ids[index as usize]).collect();
        ready.sort_unstable();
        Ok(ready)
    }
}
