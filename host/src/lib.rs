//! WebSockets for WebAssembly components: the host side of `wit-websocket:client`.
//!
//! A guest imports `wit-websocket:client/network` and calls
//! `create-websocket`, `send` and `close`; this crate does the real socket I/O
//! natively (tokio + tungstenite) and reports what happened as events. The
//! events wait in one queue per `network-device`, and reach the guest either
//! pushed, through its exported `handler` callbacks (see [`dispatch`]), or
//! pulled, when the guest calls `network-device.update`.
//!
//! # Embedding
//!
//! The crate is wired in like `wasmtime-wasi-http`: keep a [`WebSocketCtx`]
//! and a [`ResourceTable`] in the store data, implement [`WebSocketView`] to
//! hand them out, and call [`add_to_linker`]:
//!
//! ```no_run
//! use wasmtime::component::{Linker, ResourceTable};
//! use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
//!
//! struct State {
//!     table: ResourceTable,
//!     websockets: WebSocketCtx,
//! }
//!
//! impl WebSocketView for State {
//!     fn websocket(&mut self) -> WebSocketCtxView<'_> {
//!         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
//!     }
//! }
//!
//! # fn main() -> wasmtime::Result<()> {
//! let engine = wasmtime::Engine::default();
//! let mut linker = Linker::<State>::new(&engine);
//! wit_websocket_host::add_to_linker(&mut linker)?;
//! # Ok(())
//! # }
//! ```
//!
//! The store must run inside a tokio runtime: each socket's I/O is a tokio task.
//! [`runner::GuestRunner`] does the whole job (WASI, instantiation, `run`,
//! dispatch) for hosts that want the CLI's behaviour.
//!
//! # Cargo features
//!
//! Both on by default; an embedder that needs neither builds with
//! `default-features = false` and leaves rustls, ring and zlib-rs out.
//!
//! - `tls`: `wss://` with rustls (ring) and the webpki roots, plus
//!   [`WebSocketConfig::extra_root_certificates`]. Without it a `wss://` URL
//!   fails at `create-websocket` with a `tls` error.
//! - `deflate`: permessage-deflate (RFC 7692) and the [`deflate`] module.
//!   Without it no compression is offered, and a server that answers with an
//!   extension anyway fails the handshake.
//! - `http`: `wasi:http` (outgoing requests: JavaScript's `fetch`, Rust's
//!   `wstd::http`) linked by [`runner::GuestRunner`] under the same policy,
//!   and [`http::PolicyHooks`] for embedders that link `wasmtime-wasi-http`.

#![warn(missing_docs)]

// Before the modules that use its macro.
#[macro_use]
mod pass_through;

#[allow(missing_docs)] // Generated: the docs are in the WIT.
pub mod bindings;
mod compression;
pub mod config;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod device;
mod dial;
mod direct_write;
pub mod dispatch;
pub mod dns;
mod errors;
mod event;
mod handshake;
#[cfg(feature = "http")]
pub mod http;
mod network_impl;
pub mod policy;
mod pollables;
pub mod proxy;
mod queue;
mod read_ahead;
pub mod rules;
pub mod runner;
pub mod socket;
mod socket_state;
mod socket_task;
mod tasks;
pub mod tls;
mod wait;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Weak;

use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use wasmtime::component::{HasData, Linker, ResourceTable};

pub use config::{EPOCH_TICK, WebSocketConfig};
use queue::EventQueue;
use socket_state::SocketShared;

/// The per-guest state of the WebSocket host: configuration, the guest's
/// devices and how many of its sockets are still live.
///
/// ```
/// use wit_websocket_host::policy::AllowList;
/// use wit_websocket_host::{WebSocketConfig, WebSocketCtx};
///
/// // One per guest (per store): its limits, sockets, watches and counters.
/// let ctx = WebSocketCtx::new(WebSocketConfig::with_policy(AllowList::allow_all()));
/// assert!(ctx.is_idle());
/// ```
pub struct WebSocketCtx {
    config: WebSocketConfig,
    /// Woken whenever any device of this guest queues an event.
    events_ready: Arc<Notify>,
    /// Every device this guest created, for the push dispatcher. A device's
    /// queue outlives the guest's handle while its sockets still report.
    devices: Vec<Weak<EventQueue>>,
    next_socket_id: u64,
    /// The table entry of each socket the guest holds, by id: the push
    /// dispatcher lends the guest its own handle from it.
    socket_reps: HashMap<u64, u32>,
    /// Sockets created and neither destroyed nor past their `close` event.
    live_sockets: usize,
    /// The sockets' I/O tasks, so a host can let closing handshakes finish
    /// before it exits (see [`WebSocketCtx::tasks`]), and their panic count.
    tasks: tasks::SocketTasks,
    /// Pollables the guest asked to be told about (timers and the like).
    watches: watch::Watches,
    /// Built at the first `wss://` connection, then shared by all: one per
    /// client certificate used (by its index in the configuration), and one
    /// without.
    tls: HashMap<Option<usize>, tls::ClientTls>,
    stats: Stats,
}

/// Counters over a guest's lifetime: a snapshot an embedder can export to
/// its metrics (with [`WebSocketCtx::live_sockets`] for the gauge).
///
/// ```
/// # let ctx = wit_websocket_host::WebSocketCtx::default();
/// let stats = ctx.stats();
/// println!(
///     "{} sockets, {} B out, {} B in, {} refused connections",
///     stats.sockets_created,
///     stats.bytes_sent,
///     stats.bytes_received,
///     stats.errors.get("connection-refused").unwrap_or(&0)
/// );
/// ```
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Sockets `create-websocket` made.
    pub sockets_created: u64,
    /// Messages the guest handed to `send` that were accepted.
    pub messages_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Messages delivered to the guest (pushed or pulled).
    pub messages_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
    /// Failed connections (`error` events delivered), by error-code case
    /// (`"connection-refused"`, `"timeout"`, …).
    pub errors: std::collections::BTreeMap<&'static str, u64>,
    /// Calls the host refused (`create-websocket`, `send`), by error-code
    /// case (`"not-permitted"`, `"limit-exceeded"`, …).
    pub refusals: std::collections::BTreeMap<&'static str, u64>,
    /// The close information of the last `close` event delivered.
    pub last_close: Option<bindings::CloseInfo>,
}

impl bindings::ErrorCode {
    /// The WIT case's name, e.g. `"connection-refused"`: a label for logs and metrics.
    ///
    /// ```
    /// use wit_websocket_host::bindings::ErrorCode;
    ///
    /// let error = ErrorCode::NotPermitted("run with --allow-net".to_string());
    /// assert_eq!(error.kind(), "not-permitted");
    /// ```
    pub fn kind(&self) -> &'static str {
        use bindings::ErrorCode as E;
        match self {
            E::InvalidUrl(_) => "invalid-url",
            E::NotPermitted(_) => "not-permitted",
            E::DnsFailure(_) => "dns-failure",
            E::ConnectionRefused(_) => "connection-refused",
            E::Tls(_) => "tls",
            E::HandshakeRejected(_) => "handshake-rejected",
            E::ProtocolViolation(_) => "protocol-violation",
            E::MessageTooLarge(_) => "message-too-large",
            E::LimitExceeded(_) => "limit-exceeded",
            E::InvalidState(_) => "invalid-state",
            E::InvalidOptions(_) => "invalid-options",
            E::InvalidUtf8(_) => "invalid-utf8",
            E::InvalidCloseCode(_) => "invalid-close-code",
            E::ReasonTooLong(_) => "reason-too-long",
            E::Timeout(_) => "timeout",
            E::Io(_) => "io",
        }
    }
}

impl Default for WebSocketCtx {
    fn default() -> Self {
        Self::new(WebSocketConfig::default())
    }
}

impl WebSocketCtx {
    /// A context with the given configuration and no sockets.
    ///
    /// ```
    /// use wit_websocket_host::{WebSocketConfig, WebSocketCtx};
    ///
    /// let ctx = WebSocketCtx::new(WebSocketConfig { max_sockets: 4, ..Default::default() });
    /// assert_eq!(ctx.config().max_sockets, 4);
    /// ```
    pub fn new(config: WebSocketConfig) -> Self {
        Self {
            tasks: tasks::SocketTasks::new(dns::Lookups::new(
                config.resolver.clone(),
                config.max_dns_lookups,
            )),
            config,
            events_ready: Arc::new(Notify::new()),
            devices: Vec::new(),
            next_socket_id: 1,
            socket_reps: HashMap::new(),
            live_sockets: 0,
            watches: watch::Watches::default(),
            tls: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration this context enforces.
    ///
    /// ```
    /// use wit_websocket_host::WebSocketCtx;
    ///
    /// let ctx = WebSocketCtx::default();
    /// assert_eq!(ctx.config().max_sockets, 256);
    /// ```
    pub fn config(&self) -> &WebSocketConfig {
        &self.config
    }

    /// How many sockets may still produce events: created, not destroyed,
    /// and whose `close` event has not been delivered yet.
    ///
    /// ```
    /// use wit_websocket_host::WebSocketCtx;
    ///
    /// // The gauge beside the counters of `stats()`.
    /// let ctx = WebSocketCtx::default();
    /// assert_eq!(ctx.live_sockets(), 0);
    /// ```
    pub fn live_sockets(&self) -> usize {
        self.live_sockets
    }

    /// The TLS client configuration, built on first use.
    pub(crate) fn tls_config(&mut self, host: &str) -> Result<tls::ClientTls, bindings::ErrorCode> {
        let client = self
            .config
            .client_certificates
            .iter()
            .position(|certificate| certificate.matches(host));
        if let Some(config) = self.tls.get(&client) {
            return Ok(config.clone());
        }
        let certificate = client.map(|index| &self.config.client_certificates[index]);
        let config = tls::client_config(&self.config.extra_root_certificates, certificate)?;
        self.tls.insert(client, config.clone());
        Ok(config)
    }

    /// The I/O tasks of this guest's sockets. A task ends once its
    /// connection is closed; a destroyed socket's task first sends its 1001
    /// close frame (bounded by [`WebSocketConfig::close_timeout`]). To let
    /// them finish after dropping the store: `tasks.close(); tasks.wait().await`.
    ///
    /// ```no_run
    /// # async fn example(mut store: wasmtime::Store<wit_websocket_host::runner::GuestState>) {
    /// let tasks = store.data().websockets().tasks();
    /// drop(store); // closes the guest's sockets with 1001
    /// tasks.close();
    /// tasks.wait().await; // their closing handshakes, each bounded by the close timeout
    /// # }
    /// ```
    pub fn tasks(&self) -> TaskTracker {
        self.tasks.tracker.clone()
    }

    /// How many of this guest's socket tasks panicked: a host bug, always 0
    /// unless something is wrong. The guest saw each such socket fail (an
    /// `io` error, then close 1006); the CLI exits non-zero and the tests
    /// fail when this is not 0.
    ///
    /// ```
    /// use wit_websocket_host::WebSocketCtx;
    ///
    /// let ctx = WebSocketCtx::default();
    /// assert_eq!(ctx.socket_task_panics(), 0, "report it: a socket task panicked");
    /// ```
    pub fn socket_task_panics(&self) -> usize {
        self.tasks.panics.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many watches (`network-device.watch`) are pending: each keeps a
    /// push-mode guest running, as a pending timer keeps Node running.
    ///
    /// ```
    /// use wit_websocket_host::WebSocketCtx;
    ///
    /// assert_eq!(WebSocketCtx::default().pending_watches(), 0);
    /// ```
    pub fn pending_watches(&self) -> usize {
        self.watches.len()
    }

    /// True when nothing can call the guest back any more: no live socket,
    /// no pending event, no pending watch.
    ///
    /// ```
    /// use wit_websocket_host::WebSocketCtx;
    ///
    /// // A guest that made no socket and no timer is done once `run` returns.
    /// assert!(WebSocketCtx::default().is_idle());
    /// ```
    pub fn is_idle(&self) -> bool {
        self.live_sockets == 0 && self.watches.is_empty() && !self.has_pending_events()
    }

    /// How many socket handles the guest holds (destroyed ones excluded).
    ///
    /// ```
    /// use wit_websocket_host::WebSocketCtx;
    ///
    /// let ctx = WebSocketCtx::default();
    /// assert!(ctx.held_sockets() <= ctx.config().max_held_sockets);
    /// ```
    pub fn held_sockets(&self) -> usize {
        self.socket_reps.len()
    }

    /// The counters so far.
    ///
    /// ```
    /// use wit_websocket_host::WebSocketCtx;
    ///
    /// let ctx = WebSocketCtx::default();
    /// let stats = ctx.stats();
    /// assert_eq!((stats.messages_sent, stats.messages_received), (0, 0));
    /// ```
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Woken whenever an event is queued on any of this guest's devices.
    ///
    /// ```no_run
    /// # async fn example(ctx: &wit_websocket_host::WebSocketCtx) {
    /// // A host with its own loop waits for the guest's next event.
    /// let ready = ctx.events_ready();
    /// while !ctx.has_pending_events() {
    ///     ready.notified().await;
    /// }
    /// # }
    /// ```
    pub fn events_ready(&self) -> Arc<Notify> {
        self.events_ready.clone()
    }

    /// True when some pushed device has an event waiting for the dispatcher
    /// (events of a device the guest pulls wait for its `update`).
    ///
    /// ```
    /// use wit_websocket_host::WebSocketCtx;
    ///
    /// assert!(!WebSocketCtx::default().has_pending_events());
    /// ```
    pub fn has_pending_events(&self) -> bool {
        self.devices
            .iter()
            .filter_map(Weak::upgrade)
            .any(|queue| queue.is_pushed() && !queue.is_empty())
    }

    /// Takes the pending events of every pushed device, device by device
    /// (each device's in order, at most [`device::MAX_EVENTS_PER_BATCH`] each).
    pub(crate) fn take_all_events(&mut self) -> Vec<queue::QueuedEvent> {
        self.devices.retain(|queue| queue.strong_count() > 0);
        self.devices
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|queue| queue.is_pushed())
            .flat_map(|queue| queue.take_batch())
            .collect()
    }

    /// The refusal of one more watch, when the guest has as many as the
    /// configuration allows.
    pub(crate) fn watch_limit_reached(&self) -> Option<bindings::ErrorCode> {
        let limit = self.config.max_watches;
        (self.watches.len() >= limit).then(|| {
            bindings::ErrorCode::LimitExceeded(format!(
                "this guest already has {limit} pending watches, the most the host allows"
            ))
        })
    }

    /// Records that an event is being delivered to the guest; false when the
    /// guest must not see it (see [`SocketShared::deliver_state`]).
    #[must_use]
    pub(crate) fn note_delivery(&mut self, socket: &SocketShared, kind: &event::Pending) -> bool {
        if !socket.deliver_state(kind) {
            return false;
        }
        match kind {
            event::Pending::Message(message) => {
                self.stats.messages_received += 1;
                self.stats.bytes_received += message.len() as u64;
            }
            event::Pending::Close(info) => {
                self.stats.last_close = Some(info.clone());
                self.retire(socket);
            }
            event::Pending::Error(error) => {
                *self.stats.errors.entry(error.kind()).or_default() += 1;
            }
            event::Pending::Open => {}
        }
        true
    }

    /// The socket will produce no more events for the guest.
    pub(crate) fn retire(&mut self, socket: &SocketShared) {
        if socket.retire() {
            self.live_sockets -= 1;
        }
    }

    /// After the guest trapped: destroys every socket it still holds,
    /// closing live connections with 1011. Its events are dropped.
    ///
    /// ```no_run
    /// # use wasmtime::component::ResourceTable;
    /// # use wit_websocket_host::WebSocketCtx;
    /// # fn example(ctx: &mut WebSocketCtx, table: &mut ResourceTable) {
    /// // After a trap, the guest's instance is unusable: close its connections.
    /// ctx.abort_sockets(table);
    /// # }
    /// ```
    pub fn abort_sockets(&mut self, table: &mut ResourceTable) {
        let reps: Vec<u32> = self.socket_reps.drain().map(|(_, rep)| rep).collect();
        for rep in reps {
            let resource = wasmtime::component::Resource::<socket::WebSocket>::new_own(rep);
            if let Ok(socket) = table.get_mut(&resource) {
                socket.abort();
                self.retire(&socket.shared);
            }
        }
    }
}

/// What the host's `network` implementation borrows from the store data.
///
/// ```
/// use wasmtime::component::ResourceTable;
/// use wit_websocket_host::{WebSocketCtx, WebSocketCtxView};
///
/// let (mut ctx, mut table) = (WebSocketCtx::default(), ResourceTable::new());
/// let view = WebSocketCtxView { ctx: &mut ctx, table: &mut table };
/// assert_eq!(view.ctx.live_sockets(), 0);
/// ```
pub struct WebSocketCtxView<'a> {
    /// The guest's WebSocket state.
    pub ctx: &'a mut WebSocketCtx,
    /// The table holding the guest's resources (shared with WASI).
    pub table: &'a mut ResourceTable,
}

/// Implemented by the store data of an embedder to give the WebSocket host
/// its state, as `wasmtime_wasi::WasiView` does for WASI.
///
/// ```
/// use wasmtime::component::ResourceTable;
/// use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
///
/// struct State {
///     table: ResourceTable,
///     websockets: WebSocketCtx,
/// }
///
/// impl WebSocketView for State {
///     fn websocket(&mut self) -> WebSocketCtxView<'_> {
///         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
///     }
/// }
/// ```
pub trait WebSocketView: Send {
    /// The WebSocket context and resource table of this store.
    ///
    /// ```
    /// # use wasmtime::component::ResourceTable;
    /// # use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
    /// # struct State { table: ResourceTable, websockets: WebSocketCtx }
    /// # impl WebSocketView for State {
    /// #     fn websocket(&mut self) -> WebSocketCtxView<'_> {
    /// #         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
    /// #     }
    /// # }
    /// let mut state = State { table: ResourceTable::new(), websockets: WebSocketCtx::default() };
    /// assert_eq!(state.websocket().ctx.stats().sockets_created, 0);
    /// ```
    fn websocket(&mut self) -> WebSocketCtxView<'_>;
}

struct HasWebSocket;

impl HasData for HasWebSocket {
    type Data<'a> = WebSocketCtxView<'a>;
}

/// Adds `wit-websocket:client/network` (and its `types`) to `linker`.
///
/// WASI (`wasi:io/poll` for the pollables, and the `wasi:cli` imports of the
/// `app` world) is linked separately, e.g. with
/// `wasmtime_wasi::p2::add_to_linker_async`.
///
/// ```
/// use wasmtime::component::{Linker, ResourceTable};
/// use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
/// use wit_websocket_host::{WebSocketCtx, WebSocketCtxView, WebSocketView};
///
/// struct State {
///     table: ResourceTable,
///     wasi: WasiCtx,
///     websockets: WebSocketCtx,
/// }
///
/// impl WasiView for State {
///     fn ctx(&mut self) -> WasiCtxView<'_> {
///         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
///     }
/// }
///
/// impl WebSocketView for State {
///     fn websocket(&mut self) -> WebSocketCtxView<'_> {
///         WebSocketCtxView { ctx: &mut self.websockets, table: &mut self.table }
///     }
/// }
///
/// # fn main() -> wasmtime::Result<()> {
/// let mut config = wasmtime::Config::new();
/// config.async_support(true);
/// let engine = wasmtime::Engine::new(&config)?;
/// let mut linker = Linker::<State>::new(&engine);
/// wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
/// wit_websocket_host::add_to_linker(&mut linker)?;
/// # Ok(())
/// # }
/// ```
pub fn add_to_linker<T: WebSocketView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    add_to_linker_with(linker, T::websocket)
}

/// How to get the WebSocket state from a store's data: for stores whose data
/// type cannot implement [`WebSocketView`] (a platform's own type, in a crate
/// that can implement no trait of this one for it: the orphan rule).
///
/// ```
/// use wit_websocket_host::{GetWebSocket, WebSocketCtxView};
///
/// struct PlatformState {
///     table: wasmtime::component::ResourceTable,
///     websockets: wit_websocket_host::WebSocketCtx,
/// }
///
/// let get: GetWebSocket<PlatformState> =
///     |state| WebSocketCtxView { ctx: &mut state.websockets, table: &mut state.table };
/// # let _ = get;
/// ```
pub type GetWebSocket<T> = fn(&mut T) -> WebSocketCtxView<'_>;

/// As [`add_to_linker`], with `get` handing out the WebSocket state: the
/// shape of wasmtime-wasi's `add_to_linker` with `HasData` and a getter, for
/// a store data type the embedder cannot implement [`WebSocketView`] for.
/// Deliver events with [`dispatch::run_until_idle_with`].
///
/// ```no_run
/// use wasmtime::component::{Linker, ResourceTable};
/// use wit_websocket_host::{WebSocketCtx, WebSocketCtxView};
///
/// // A platform's store data, from a crate of its own.
/// struct PlatformState {
///     table: ResourceTable,
///     websockets: WebSocketCtx,
/// }
///
/// # fn main() -> wasmtime::Result<()> {
/// let engine = wasmtime::Engine::default();
/// let mut linker = Linker::<PlatformState>::new(&engine);
/// wit_websocket_host::add_to_linker_with(&mut linker, |state| WebSocketCtxView {
///     ctx: &mut state.websockets,
///     table: &mut state.table,
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn add_to_linker_with<T: 'static>(
    linker: &mut Linker<T>,
    get: GetWebSocket<T>,
) -> wasmtime::Result<()> {
    bindings::wit_websocket::client::types::add_to_linker::<T, HasWebSocket>(linker, get)?;
    bindings::wit_websocket::client::network::add_to_linker::<T, HasWebSocket>(linker, get)
}
