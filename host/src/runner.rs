//! Running a whole guest app the way the `wit-websocket` CLI does: WASI and
//! WebSockets linked, `wasi:cli/run` called, then events dispatched until no
//! socket is live.
//!
//! ```no_run
//! # async fn example() -> wasmtime::Result<()> {
//! use wit_websocket_host::runner::{GuestRunner, GuestState};
//!
//! let runner = GuestRunner::new()?;
//! let component = runner.load_file("echo.wasm".as_ref())?;
//! let wasi = wasmtime_wasi::WasiCtx::builder()
//!     .inherit_stdio()
//!     .args(&["echo", "ws://127.0.0.1:9001/"])
//!     .build();
//! let mut guest = runner.instantiate(&component, GuestState::new(wasi, Default::default())).await?;
//! let status = guest.run().await?;
//! if status == 0 {
//!     guest.dispatch_until_idle().await?;
//! }
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

use crate::bindings::exports::wasi::cli::run::{Guest as Run, GuestIndices as RunIndices};
use crate::dispatch::{GuestCallbacks, GuestCallbacksPre};
use crate::{EPOCH_TICK, WebSocketCtx, WebSocketCtxView, WebSocketView, dispatch};

/// The store data of a guest run by [`GuestRunner`]: WASI, WebSockets and
/// the resource table they share.
///
/// ```
/// use wit_websocket_host::runner::GuestState;
/// use wit_websocket_host::{WebSocketConfig, WebSocketCtx};
///
/// let wasi = wasmtime_wasi::WasiCtx::builder().args(&["app", "ws://127.0.0.1:9001/"]).build();
/// let state = GuestState::new(wasi, WebSocketCtx::new(WebSocketConfig::default()))
///     .with_memory_limit(64 << 20);
/// assert_eq!(state.websockets().live_sockets(), 0);
/// ```
pub struct GuestState {
    wasi: WasiCtx,
    websockets: WebSocketCtx,
    #[cfg(feature = "http")]
    http: wasmtime_wasi_http::WasiHttpCtx,
    #[cfg(feature = "http")]
    http_hooks: crate::http::PolicyHooks,
    table: ResourceTable,
    limits: StoreLimits,
}

/// The default cap on a guest's linear memory: 256 MiB, room for the largest
/// message (64 MiB) several times over.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

impl GuestState {
    /// State for one guest with the given WASI context (arguments, stdio) and
    /// WebSocket context (limits).
    ///
    /// ```
    /// use wit_websocket_host::runner::GuestState;
    ///
    /// let state = GuestState::new(wasmtime_wasi::WasiCtx::builder().inherit_stdio().build(), Default::default());
    /// # let _ = state;
    /// ```
    pub fn new(wasi: WasiCtx, websockets: WebSocketCtx) -> Self {
        Self {
            wasi,
            #[cfg(feature = "http")]
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            #[cfg(feature = "http")]
            http_hooks: crate::http::PolicyHooks::new(websockets.config().policy.clone()),
            websockets,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(DEFAULT_MEMORY_LIMIT)
                .build(),
        }
    }

    /// Caps the guest's linear memory at `bytes`: a `memory.grow` beyond it
    /// fails (the guest sees an allocation failure and usually traps).
    ///
    /// ```
    /// use wit_websocket_host::runner::GuestState;
    ///
    /// let state = GuestState::new(wasmtime_wasi::WasiCtx::builder().build(), Default::default())
    ///     .with_memory_limit(32 << 20);
    /// # let _ = state;
    /// ```
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.limits = StoreLimitsBuilder::new().memory_size(bytes).build();
        self
    }

    /// The guest's WebSocket context (stats, live sockets).
    ///
    /// ```
    /// use wit_websocket_host::runner::GuestState;
    ///
    /// let state = GuestState::new(wasmtime_wasi::WasiCtx::builder().build(), Default::default());
    /// assert_eq!(state.websockets().stats().sockets_created, 0);
    /// ```
    pub fn websockets(&self) -> &WebSocketCtx {
        &self.websockets
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(feature = "http")]
impl wasmtime_wasi_http::WasiHttpView for GuestState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl WebSocketView for GuestState {
    fn websocket(&mut self) -> WebSocketCtxView<'_> {
        WebSocketCtxView {
            ctx: &mut self.websockets,
            table: &mut self.table,
        }
    }
}

/// An engine and a linker with WASI and WebSockets, ready to run `app` guests.
///
/// Run each [`RunningGuest`] in a task of its own (`tokio::spawn`), not in
/// `block_on` on a thread outside the runtime's workers: there, every event
/// a socket task queues for the guest, and every send the guest hands a
/// socket task, wakes another thread through a futex (measured: push mode at
/// 0.7x a native client's messages/s instead of 1.0x).
///
/// ```no_run
/// use wit_websocket_host::runner::{GuestRunner, GuestState};
/// use wit_websocket_host::{WebSocketConfig, WebSocketCtx, policy::AllowList};
///
/// # async fn example() -> wasmtime::Result<()> {
/// let runner = GuestRunner::with_compilation_cache()?;
/// let component = runner.load_file("app.wasm".as_ref())?;
/// let config = WebSocketConfig::with_policy(AllowList::deny_all().allow("127.0.0.1:9001").unwrap());
/// let wasi = wasmtime_wasi::WasiCtx::builder().inherit_stdio().args(&["app"]).build();
/// let state = GuestState::new(wasi, WebSocketCtx::new(config));
/// // In a task of its own, as the note above says.
/// let status = tokio::spawn(async move {
///     let mut guest = runner.instantiate(&component, state).await?;
///     let status = guest.run_to_completion().await?;
///     guest.shutdown().await;
///     wasmtime::Result::<i32>::Ok(status)
/// })
/// .await??;
/// println!("exit status {status}");
/// # Ok(())
/// # }
/// ```
pub struct GuestRunner {
    engine: Engine,
    linker: Linker<GuestState>,
}

impl GuestRunner {
    /// A runner with its own engine, with epoch interruption on and an
    /// epoch that advances every [`EPOCH_TICK`], so callbacks that run too
    /// long are interrupted (see [`WebSocketConfig::callback_time_limit`](crate::WebSocketConfig::callback_time_limit)).
    ///
    /// ```
    /// use wit_websocket_host::runner::GuestRunner;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wasmtime::Result<()> {
    /// let runner = GuestRunner::new()?;
    /// let engine = runner.engine().clone(); // for components and stores of its own
    /// # let _ = engine;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> wasmtime::Result<Self> {
        Self::from_config(Config::new())
    }

    /// As [`new`](Self::new), with wasmtime's on-disk compilation cache in
    /// its default place and settings (as the `wasmtime` CLI has): a
    /// component compiled once loads in a fraction of the time afterwards,
    /// which matters for the 14–18 MB components JavaScript and Python
    /// guests are.
    ///
    /// ```no_run
    /// use wit_websocket_host::runner::GuestRunner;
    ///
    /// # fn example() -> wasmtime::Result<()> {
    /// let runner = GuestRunner::with_compilation_cache()?;
    /// let component = runner.load_file("app.wasm".as_ref())?; // fast the second time
    /// # let _ = component;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_compilation_cache() -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.cache(Some(wasmtime::Cache::from_file(None)?));
        Self::from_config(config)
    }

    /// A runner with an engine made from `config` (e.g. with the pooling
    /// allocator), with epoch interruption turned on and ticked as in
    /// [`new`](Self::new).
    ///
    /// ```
    /// use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};
    /// use wit_websocket_host::runner::GuestRunner;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wasmtime::Result<()> {
    /// let mut pooling = PoolingAllocationConfig::default();
    /// pooling.total_component_instances(100).total_memories(100);
    /// let mut config = Config::new();
    /// config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    /// let runner = GuestRunner::with_config(config)?;
    /// # let _ = runner;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_config(config: Config) -> wasmtime::Result<Self> {
        Self::from_config(config)
    }

    fn from_config(mut config: Config) -> wasmtime::Result<Self> {
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        start_epoch_ticker(&engine);
        Self::with_engine(engine)
    }

    /// A runner on an engine of the embedder's. Callback time limits apply
    /// only if it has epoch interruption on and its epoch advances every
    /// [`EPOCH_TICK`].
    ///
    /// ```
    /// use wasmtime::{Config, Engine};
    /// use wit_websocket_host::runner::GuestRunner;
    ///
    /// # fn main() -> wasmtime::Result<()> {
    /// let mut config = Config::new();
    /// config.epoch_interruption(true);
    /// let engine = Engine::new(&config)?;
    /// // The embedder ticks the epoch itself, every EPOCH_TICK.
    /// let runner = GuestRunner::with_engine(engine.clone())?;
    /// # let _ = runner;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_engine(engine: Engine) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // wasi:http too (JavaScript's fetch): componentize-js components
        // import it unless built without, and the policy guards it as it
        // guards sockets, so linking it grants nothing the policy does not.
        #[cfg(feature = "http")]
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::add_to_linker(&mut linker)?;
        Ok(Self { engine, linker })
    }

    /// The engine components must be compiled with.
    ///
    /// ```no_run
    /// use wasmtime::component::Component;
    /// use wit_websocket_host::runner::GuestRunner;
    ///
    /// # fn example(bytes: &[u8]) -> wasmtime::Result<()> {
    /// let runner = GuestRunner::new()?;
    /// let component = Component::new(runner.engine(), bytes)?;
    /// # let _ = component;
    /// # Ok(())
    /// # }
    /// ```
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles the component in `path`.
    ///
    /// ```no_run
    /// use wit_websocket_host::runner::GuestRunner;
    ///
    /// # fn example() -> wasmtime::Result<()> {
    /// let runner = GuestRunner::new()?;
    /// let component = runner.load_file("target/wasm32-wasip2/release/app.wasm".as_ref())?;
    /// # let _ = component;
    /// # Ok(())
    /// # }
    /// ```
    pub fn load_file(&self, path: &Path) -> wasmtime::Result<Component> {
        Component::from_file(&self.engine, path)
            .with_context(|| format!("loading the component {}", path.display()))
    }

    /// Links `component` once, so that each of many instances of it costs
    /// only its own instantiation.
    ///
    /// ```no_run
    /// use wit_websocket_host::runner::{GuestRunner, GuestState};
    ///
    /// # async fn example() -> wasmtime::Result<()> {
    /// let runner = GuestRunner::new()?;
    /// let prepared = runner.prepare(&runner.load_file("app.wasm".as_ref())?)?;
    /// for tenant in ["alice", "bob"] {
    ///     let wasi = wasmtime_wasi::WasiCtx::builder().args(&["app", tenant]).build();
    ///     let mut guest = prepared.instantiate(GuestState::new(wasi, Default::default())).await?;
    ///     tokio::spawn(async move { guest.run_to_completion().await });
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn prepare(&self, component: &Component) -> wasmtime::Result<PreparedGuest> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .and_then(|pre| {
                let run = RunIndices::new(&pre)?;
                let callbacks = GuestCallbacksPre::new(&pre)?;
                Ok(PreparedGuest {
                    pre,
                    run,
                    callbacks,
                })
            })
            .context("linking the guest (does it target the wit-websocket:client/app world?)")?;
        Ok(pre)
    }

    /// Instantiates `component` with `state` as its store data.
    ///
    /// ```no_run
    /// use wit_websocket_host::runner::{GuestRunner, GuestState};
    ///
    /// # async fn example() -> wasmtime::Result<()> {
    /// let runner = GuestRunner::new()?;
    /// let component = runner.load_file("app.wasm".as_ref())?;
    /// let state = GuestState::new(wasmtime_wasi::WasiCtx::builder().build(), Default::default());
    /// let mut guest = runner.instantiate(&component, state).await?;
    /// let status = guest.run_to_completion().await?;
    /// # let _ = status;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn instantiate(
        &self,
        component: &Component,
        state: GuestState,
    ) -> wasmtime::Result<RunningGuest> {
        self.prepare(component)?.instantiate(state).await
    }
}

/// A component linked by [`GuestRunner::prepare`], ready to instantiate.
///
/// ```no_run
/// # use wit_websocket_host::runner::{GuestRunner, GuestState};
/// # async fn example(runner: GuestRunner, component: wasmtime::component::Component) -> wasmtime::Result<()> {
/// let prepared = runner.prepare(&component)?;
/// let state = GuestState::new(wasmtime_wasi::WasiCtx::builder().build(), Default::default());
/// let mut guest = prepared.instantiate(state).await?;
/// # let _ = guest.run().await?;
/// # Ok(())
/// # }
/// ```
pub struct PreparedGuest {
    pre: InstancePre<GuestState>,
    run: RunIndices,
    callbacks: GuestCallbacksPre,
}

impl PreparedGuest {
    /// A new instance with `state` as its store data.
    ///
    /// ```no_run
    /// # use wit_websocket_host::runner::{GuestState, PreparedGuest};
    /// # async fn example(prepared: PreparedGuest) -> wasmtime::Result<()> {
    /// let state = GuestState::new(wasmtime_wasi::WasiCtx::builder().build(), Default::default());
    /// let mut guest = prepared.instantiate(state).await?;
    /// guest.run_to_completion().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn instantiate(&self, state: GuestState) -> wasmtime::Result<RunningGuest> {
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        // Instantiation runs guest code too; it yields, as `run` does.
        store.epoch_deadline_async_yield_and_update(1);
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .context("instantiating the guest")?;
        let run = self.run.load(&mut store, &instance)?;
        let callbacks = self.callbacks.load(&mut store, &instance)?;
        static GUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let guest = GUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(RunningGuest {
            store,
            run,
            callbacks,
            span: tracing::info_span!("guest", guest),
        })
    }
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("wit-websocket-epoch".to_string())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        // Without the ticker callbacks are just not time-limited.
        .unwrap_or_default();
}

/// An instantiated guest app.
///
/// ```no_run
/// # use wit_websocket_host::runner::RunningGuest;
/// # async fn example(mut guest: RunningGuest) -> wasmtime::Result<()> {
/// // What run_to_completion does, step by step.
/// let status = guest.run().await?;
/// if status == 0 {
///     guest.dispatch_until_idle().await?;
/// }
/// let stats = guest.state().websockets().stats();
/// println!("{} sockets, {} messages in", stats.sockets_created, stats.messages_received);
/// guest.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct RunningGuest {
    store: Store<GuestState>,
    run: Run,
    callbacks: GuestCallbacks,
    /// The parent of the guest's sockets' spans, numbered in this process.
    span: tracing::Span,
}

impl RunningGuest {
    /// Calls the guest's `wasi:cli/run` and returns its exit status: 0 for
    /// success, 1 for `run` returning an error, or the code passed to `exit`.
    /// An error is a trap.
    ///
    /// ```no_run
    /// # use wit_websocket_host::runner::RunningGuest;
    /// # async fn example(mut guest: RunningGuest) -> wasmtime::Result<()> {
    /// match guest.run().await {
    ///     Ok(0) => guest.dispatch_until_idle().await?,
    ///     Ok(status) => eprintln!("the guest exited with {status}"),
    ///     Err(trap) => {
    ///         eprintln!("the guest trapped: {trap:?}");
    ///         guest.abort().await;
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run(&mut self) -> wasmtime::Result<i32> {
        // `run` may legitimately last (a pull-mode loop): it is not cut off,
        // only made to yield to other tasks every tick.
        self.store.epoch_deadline_async_yield_and_update(1);
        let span = self.span.clone();
        let called = tracing::Instrument::instrument(self.run.call_run(&mut self.store), span);
        match called.await {
            Ok(Ok(())) => Ok(0),
            Ok(Err(())) => Ok(1),
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(error),
            },
        }
    }

    /// Runs the guest as the CLI does: [`run`](Self::run), then, if that
    /// succeeded, [`dispatch_until_idle`](Self::dispatch_until_idle). Returns
    /// the exit status; a guest that calls `exit` in a callback ends there,
    /// with that status (its sockets close with 1001 when it is shut down).
    /// An error is a trap.
    ///
    /// ```no_run
    /// # use wit_websocket_host::runner::RunningGuest;
    /// # async fn example(mut guest: RunningGuest) -> wasmtime::Result<()> {
    /// let status = guest.run_to_completion().await?;
    /// guest.shutdown().await;
    /// std::process::exit(status);
    /// # }
    /// ```
    pub async fn run_to_completion(&mut self) -> wasmtime::Result<i32> {
        let status = self.run().await?;
        if status != 0 {
            return Ok(status);
        }
        match self.dispatch_until_idle().await {
            Ok(()) => Ok(0),
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(error),
            },
        }
    }

    /// Delivers pending events and fires watches until no socket is live and
    /// no watch is pending. See [`dispatch::run_until_idle`].
    ///
    /// ```no_run
    /// # use wit_websocket_host::runner::RunningGuest;
    /// # async fn example(mut guest: RunningGuest) -> wasmtime::Result<()> {
    /// if guest.run().await? == 0 {
    ///     guest.dispatch_until_idle().await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dispatch_until_idle(&mut self) -> wasmtime::Result<()> {
        let span = self.span.clone();
        let dispatch = dispatch::run_until_idle(&mut self.store, &self.callbacks);
        tracing::Instrument::instrument(dispatch, span).await
    }

    /// Delivers the events pending now. See [`dispatch::dispatch_pending`].
    ///
    /// ```no_run
    /// # use wit_websocket_host::runner::RunningGuest;
    /// # async fn example(mut guest: RunningGuest) -> wasmtime::Result<()> {
    /// // A host with a frame loop of its own, as a Turbulenz game had.
    /// loop {
    ///     let delivered = guest.dispatch_pending().await?;
    ///     if delivered == 0 && guest.state().websockets().is_idle() {
    ///         break;
    ///     }
    ///     tokio::time::sleep(std::time::Duration::from_millis(16)).await;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dispatch_pending(&mut self) -> wasmtime::Result<usize> {
        let span = self.span.clone();
        let dispatch = dispatch::dispatch_pending(&mut self.store, &self.callbacks);
        tracing::Instrument::instrument(dispatch, span).await
    }

    /// After a trap: destroys the guest's sockets, closing live connections
    /// with 1011, then shuts down as [`shutdown`](Self::shutdown) does.
    ///
    /// ```no_run
    /// # use wit_websocket_host::runner::RunningGuest;
    /// # async fn example(mut guest: RunningGuest) {
    /// if let Err(trap) = guest.run_to_completion().await {
    ///     eprintln!("{trap:?}");
    ///     guest.abort().await; // its peers see 1011
    /// }
    /// # }
    /// ```
    pub async fn abort(mut self) {
        let state = self.store.data_mut();
        state.websockets.abort_sockets(&mut state.table);
        self.shutdown().await;
    }

    /// Ends the guest: drops its instance, which closes its remaining
    /// sockets with 1001, and waits (bounded by the close timeout) for their
    /// closing handshakes, so a process can exit without cutting them off.
    ///
    /// ```no_run
    /// # use wit_websocket_host::runner::RunningGuest;
    /// # async fn example(mut guest: RunningGuest) -> wasmtime::Result<()> {
    /// guest.run_to_completion().await?;
    /// guest.shutdown().await; // closing handshakes finish before the process exits
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shutdown(self) {
        let websockets = self.store.data().websockets();
        let tasks = websockets.tasks();
        let limit = websockets.config().close_timeout;
        drop(self.store);
        tasks.close();
        // Past the limit the tasks are cut off; nothing is left to report to.
        let _ = tokio::time::timeout(limit, tasks.wait()).await;
    }

    /// The guest's store data.
    ///
    /// ```no_run
    /// # use wit_websocket_host::runner::RunningGuest;
    /// # fn example(guest: &RunningGuest) {
    /// println!("{} live sockets", guest.state().websockets().live_sockets());
    /// # }
    /// ```
    pub fn state(&self) -> &GuestState {
        self.store.data()
    }
}
