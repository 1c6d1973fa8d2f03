//! Push mode: delivering queued events and ready watches to the guest's
//! exported callbacks.
//!
//! The component model forbids re-entering an instance, so the dispatcher
//! runs only between guest calls: an embedder calls it when the guest is
//! idle, as a browser runs tasks between tasks. What Turbulenz games did with
//! `networkDevice.update()` once per frame, the host does here; and like a
//! browser's event loop it runs timers too (pollables the guest passes to `network-device.watch`).

use std::pin::pin;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, Instance, InstancePre, Resource, TypedFunc};

use crate::bindings::exports::wit_websocket::client::handler::{
    Guest as Handler, GuestIndices as HandlerIndices,
};
use crate::bindings::exports::wit_websocket::client::watch_handler::{
    Guest as WatchHandler, GuestIndices as WatchHandlerIndices,
};
use crate::event::{Pending, Received};
use crate::queue::QueuedEvent;
use crate::socket::WebSocket;
use crate::{EPOCH_TICK, GetWebSocket, WebSocketView};

/// The callbacks a guest exports, as found in its component: `handler`, and
/// `watch-handler` when the component has it (components built against
/// `wit-websocket:client@0.1.0` do not; they cannot make watches either).
///
/// ```no_run
/// # use wasmtime::component::{Component, Linker, ResourceTable};
/// # use wasmtime::Store;
/// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
/// # struct State { table: ResourceTable, websockets: WebSocketCtx }
/// # impl WebSocketView for State {
/// #     fn websocket(&mut self) -> WebSocketCtxView<'_> {
/// #         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
/// #     }
/// # }
/// # async fn example(linker: Linker<State>, component: Component, mut store: Store<State>) -> wasmtime::Result<()> {
/// use wit_websocket_host::dispatch::{self, GuestCallbacksPre};
///
/// let pre = linker.instantiate_pre(&component)?;
/// let callbacks_pre = GuestCallbacksPre::new(&pre)?; // once per component
/// let instance = pre.instantiate_async(&mut store).await?;
/// let callbacks = callbacks_pre.load(&mut store, &instance)?; // once per instance
/// // … call the guest's exports, then, while it is idle:
/// dispatch::run_until_idle(&mut store, &callbacks).await?;
/// # Ok(())
/// # }
/// ```
pub struct GuestCallbacks {
    handler: Handler,
    /// `handler.on-message`, called with the message as it was queued
    /// (bindgen's `call_on_message` takes the WIT type, whose `list<u8>` is
    /// a `Vec`: a large message would be copied once more to make one).
    on_message: OnMessage,
    watch_handler: Option<WatchHandler>,
}

type OnMessage = TypedFunc<(Resource<WebSocket>, &'static Received), ()>;

/// The interface whose `on-message` [`GuestCallbacks`] calls itself; an
/// older minor version a component exports is found by it as well.
const HANDLER_INTERFACE: &str = "wit-websocket:client/handler@0.1.6";

/// Where a component's callbacks are, looked up once per component.
///
/// ```no_run
/// # use wasmtime::component::{Component, Linker, ResourceTable};
/// # use wasmtime::Store;
/// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
/// # struct State { table: ResourceTable, websockets: WebSocketCtx }
/// # impl WebSocketView for State {
/// #     fn websocket(&mut self) -> WebSocketCtxView<'_> {
/// #         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
/// #     }
/// # }
/// # fn example(linker: Linker<State>, component: Component) -> wasmtime::Result<()> {
/// use wit_websocket_host::dispatch::GuestCallbacksPre;
///
/// let pre = linker.instantiate_pre(&component)?;
/// let callbacks = GuestCallbacksPre::new(&pre)?; // Clone: share it between instances
/// # let _ = callbacks;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct GuestCallbacksPre {
    handler: HandlerIndices,
    on_message: ComponentExportIndex,
    watch_handler: Option<WatchHandlerIndices>,
}

impl GuestCallbacksPre {
    /// Finds the callbacks in a linked component; an error when it does not
    /// export `wit-websocket:client/handler`.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Component, Linker, ResourceTable};
    /// # use wasmtime::Store;
    /// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
    /// # struct State { table: ResourceTable, websockets: WebSocketCtx }
    /// # impl WebSocketView for State {
    /// #     fn websocket(&mut self) -> WebSocketCtxView<'_> {
    /// #         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
    /// #     }
    /// # }
    /// # fn example(linker: Linker<State>, component: Component) {
    /// use wit_websocket_host::dispatch::GuestCallbacksPre;
    ///
    /// match linker.instantiate_pre(&component).and_then(|pre| GuestCallbacksPre::new(&pre)) {
    ///     Ok(_) => println!("a wit-websocket guest"),
    ///     Err(error) => eprintln!("not a wit-websocket guest: {error}"),
    /// }
    /// # }
    /// ```
    pub fn new<T>(pre: &InstancePre<T>) -> wasmtime::Result<Self> {
        let handler = HandlerIndices::new(pre)?;
        let component = pre.component();
        let on_message = component
            .get_export_index(None, HANDLER_INTERFACE)
            .and_then(|interface| component.get_export_index(Some(&interface), "on-message"))
            .ok_or_else(|| wasmtime::format_err!("no export {HANDLER_INTERFACE}#on-message"))?;
        Ok(Self {
            handler,
            on_message,
            watch_handler: WatchHandlerIndices::new(pre).ok(),
        })
    }

    /// The callbacks of `instance`, an instance of the component.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Component, Linker, ResourceTable};
    /// # use wasmtime::Store;
    /// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
    /// # struct State { table: ResourceTable, websockets: WebSocketCtx }
    /// # impl WebSocketView for State {
    /// #     fn websocket(&mut self) -> WebSocketCtxView<'_> {
    /// #         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
    /// #     }
    /// # }
    /// # async fn example(pre: wasmtime::component::InstancePre<State>, mut store: Store<State>) -> wasmtime::Result<()> {
    /// use wit_websocket_host::dispatch::GuestCallbacksPre;
    ///
    /// let callbacks_pre = GuestCallbacksPre::new(&pre)?;
    /// let instance = pre.instantiate_async(&mut store).await?;
    /// let callbacks = callbacks_pre.load(&mut store, &instance)?;
    /// # let _ = callbacks;
    /// # Ok(())
    /// # }
    /// ```
    pub fn load<T: Send + 'static>(
        &self,
        store: &mut Store<T>,
        instance: &Instance,
    ) -> wasmtime::Result<GuestCallbacks> {
        let handler = self.handler.load(&mut *store, instance)?;
        let on_message = instance.get_typed_func(&mut *store, self.on_message)?;
        let watch_handler = match &self.watch_handler {
            Some(indices) => Some(indices.load(&mut *store, instance)?),
            None => None,
        };
        Ok(GuestCallbacks {
            handler,
            on_message,
            watch_handler,
        })
    }
}

/// Delivers every event pending on the guest's devices to its `handler`
/// exports, in order for each socket, then calls `watch-handler.on-ready` for
/// each watch that is ready now. Returns how many callbacks ran.
///
/// Events of a socket that a callback destroys are dropped, as the WIT
/// promises. An error is a trap in the guest; the events not yet delivered
/// are lost with it.
///
/// ```no_run
/// # use wasmtime::component::{Component, Linker, ResourceTable};
/// # use wasmtime::Store;
/// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
/// # struct State { table: ResourceTable, websockets: WebSocketCtx }
/// # impl WebSocketView for State {
/// #     fn websocket(&mut self) -> WebSocketCtxView<'_> {
/// #         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
/// #     }
/// # }
/// # async fn example(mut store: Store<State>, callbacks: wit_websocket_host::dispatch::GuestCallbacks) -> wasmtime::Result<()> {
/// use wit_websocket_host::dispatch;
///
/// // Once per frame of the embedder's own loop, as Turbulenz's update() was.
/// let ran = dispatch::dispatch_pending(&mut store, &callbacks).await?;
/// println!("{ran} callbacks ran");
/// # Ok(())
/// # }
/// ```
pub async fn dispatch_pending<T: WebSocketView + 'static>(
    store: &mut Store<T>,
    callbacks: &GuestCallbacks,
) -> wasmtime::Result<usize> {
    dispatch_pending_with(store, callbacks, T::websocket).await
}

/// As [`dispatch_pending`], for a store whose data gives the WebSocket state
/// through `get` rather than [`WebSocketView`] (see
/// [`add_to_linker_with`](crate::add_to_linker_with)).
///
/// ```no_run
/// # use wasmtime::Store;
/// # use wasmtime::component::ResourceTable;
/// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView};
/// # struct PlatformState { table: ResourceTable, websockets: WebSocketCtx }
/// # async fn example(mut store: Store<PlatformState>, callbacks: wit_websocket_host::dispatch::GuestCallbacks) -> wasmtime::Result<()> {
/// use wit_websocket_host::dispatch;
///
/// let ran = dispatch::dispatch_pending_with(&mut store, &callbacks, |state| WebSocketCtxView {
///     ctx: &mut state.websockets,
///     table: &mut state.table,
/// })
/// .await?;
/// # let _ = ran;
/// # Ok(())
/// # }
/// ```
pub async fn dispatch_pending_with<T: Send + 'static>(
    store: &mut Store<T>,
    callbacks: &GuestCallbacks,
    get: GetWebSocket<T>,
) -> wasmtime::Result<usize> {
    let events = get(store.data_mut()).ctx.take_all_events();
    let mut delivered = 0;
    let mut watches_checked = Instant::now();
    for event in events {
        delivered += deliver_event(store, callbacks, event, get).await?;
        // A long batch of events must not hold a due timer back for long.
        if watches_checked.elapsed() >= WATCH_CHECK_INTERVAL {
            delivered += fire_ready_watches(store, callbacks, get).await?;
            watches_checked = Instant::now();
        }
    }
    Ok(delivered + fire_ready_watches(store, callbacks, get).await?)
}

/// How long a batch of events may run before ready watches are fired
/// between them: a timer is then at most this late for the batch's sake.
const WATCH_CHECK_INTERVAL: Duration = Duration::from_millis(1);

/// Fires the watches that are ready now.
async fn fire_ready_watches<T: Send + 'static>(
    store: &mut Store<T>,
    callbacks: &GuestCallbacks,
    get: GetWebSocket<T>,
) -> wasmtime::Result<usize> {
    let view = get(store.data_mut());
    let ready = view.ctx.watches.ready_now(view.table)?;
    fire_watches(store, callbacks, ready, get).await
}

/// Delivers one event to the guest's `handler`; 0 when it was dropped.
async fn deliver_event<T: Send + 'static>(
    store: &mut Store<T>,
    callbacks: &GuestCallbacks,
    event: QueuedEvent,
    get: GetWebSocket<T>,
) -> wasmtime::Result<usize> {
    let view = get(store.data_mut());
    // A callback earlier in this batch may have destroyed the socket.
    let Some(&rep) = view.ctx.socket_reps.get(&event.socket.id()) else {
        return Ok(0);
    };
    if event.socket.is_destroyed() {
        return Ok(0);
    }
    if !view.ctx.note_delivery(&event.socket, &event.kind) {
        return Ok(0);
    }
    set_callback_deadline(store, get);
    let socket = Resource::<WebSocket>::new_borrow(rep);
    let handler = &callbacks.handler;
    match &event.kind {
        Pending::Open => {
            handler.call_on_open(&mut *store, socket).await?;
            event.socket.open_settled();
        }
        Pending::Message(message) => {
            callbacks
                .on_message
                .call_async(&mut *store, (socket, message))
                .await?
        }
        Pending::Error(error) => handler.call_on_error(&mut *store, socket, error).await?,
        Pending::Close(info) => handler.call_on_close(&mut *store, socket, info).await?,
    }
    Ok(1)
}

/// Ends each of the `ready` watches (but lasting ones) and tells the guest,
/// in id order. A watch a callback earlier in the batch cancelled is skipped.
async fn fire_watches<T: Send + 'static>(
    store: &mut Store<T>,
    callbacks: &GuestCallbacks,
    ready: Vec<u64>,
    get: GetWebSocket<T>,
) -> wasmtime::Result<usize> {
    let mut fired = 0;
    for id in ready {
        let view = get(store.data_mut());
        if !view.ctx.watches.fire(view.table, id)? {
            continue;
        }
        if let Some(watch_handler) = &callbacks.watch_handler {
            set_callback_deadline(store, get);
            watch_handler.call_on_ready(&mut *store, id).await?;
            fired += 1;
        }
    }
    Ok(fired)
}

/// Each callback gets its own time budget; past it, it traps.
fn set_callback_deadline<T: 'static>(store: &mut Store<T>, get: GetWebSocket<T>) {
    let limit = get(store.data_mut()).ctx.config().callback_time_limit;
    store.epoch_deadline_trap();
    store.set_epoch_deadline(ticks(limit));
}

/// `limit` in epoch ticks, at least one.
fn ticks(limit: std::time::Duration) -> u64 {
    (limit.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64
}

/// Runs the guest's event loop: dispatches events and fires watches as they
/// come until nothing can call the guest back any more (no live socket, no
/// pending event, no pending watch), as a browser tab's or Node's loop.
///
/// ```no_run
/// # use wasmtime::component::{Component, Linker, ResourceTable};
/// # use wasmtime::Store;
/// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
/// # struct State { table: ResourceTable, websockets: WebSocketCtx }
/// # impl WebSocketView for State {
/// #     fn websocket(&mut self) -> WebSocketCtxView<'_> {
/// #         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
/// #     }
/// # }
/// # async fn example(mut store: Store<State>, callbacks: wit_websocket_host::dispatch::GuestCallbacks) -> wasmtime::Result<()> {
/// use wit_websocket_host::dispatch;
///
/// // After the guest's `run` returned: its sockets and timers live on.
/// dispatch::run_until_idle(&mut store, &callbacks).await?;
/// assert!(store.data_mut().websocket().ctx.is_idle());
/// # Ok(())
/// # }
/// ```
pub async fn run_until_idle<T: WebSocketView + 'static>(
    store: &mut Store<T>,
    callbacks: &GuestCallbacks,
) -> wasmtime::Result<()> {
    run_until_idle_with(store, callbacks, T::websocket).await
}

/// As [`run_until_idle`], for a store whose data gives the WebSocket state
/// through `get` (see [`add_to_linker_with`](crate::add_to_linker_with)).
///
/// ```no_run
/// # use wasmtime::Store;
/// # use wasmtime::component::ResourceTable;
/// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView};
/// # struct PlatformState { table: ResourceTable, websockets: WebSocketCtx }
/// # async fn example(mut store: Store<PlatformState>, callbacks: wit_websocket_host::dispatch::GuestCallbacks) -> wasmtime::Result<()> {
/// use wit_websocket_host::dispatch;
///
/// dispatch::run_until_idle_with(&mut store, &callbacks, |state| WebSocketCtxView {
///     ctx: &mut state.websockets,
///     table: &mut state.table,
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
pub async fn run_until_idle_with<T: Send + 'static>(
    store: &mut Store<T>,
    callbacks: &GuestCallbacks,
    get: GetWebSocket<T>,
) -> wasmtime::Result<()> {
    let events_ready = get(store.data_mut()).ctx.events_ready();
    loop {
        // Registered before dispatching, so an event queued meanwhile wakes us.
        let mut notified = pin!(events_ready.notified());
        notified.as_mut().enable();
        let delivered = dispatch_pending_with(store, callbacks, get).await?;
        let view = get(store.data_mut());
        if view.ctx.is_idle() {
            return Ok(());
        }
        if delivered == 0 {
            let ready = {
                let waiting = view.ctx.watches.wait_ready(view.table);
                tokio::select! {
                    () = notified => None,
                    ready = waiting => Some(ready?),
                }
            };
            if let Some(ready) = ready {
                fire_watches(store, callbacks, ready, get).await?;
            }
        }
        // A guest that keeps a watch ready (a zero timer set again in each
        // callback) never lets this loop wait: counted against the task's
        // cooperative budget, it yields to the runtime's other tasks (sockets,
        // other guests) once that is spent, rather than every turn, which
        // would cost each round trip a trip through the scheduler.
        tokio::task::coop::consume_budget().await;
    }
}
