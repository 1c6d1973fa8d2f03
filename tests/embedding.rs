//! Embedding the host in a store the platform owns: linked with
//! `add_to_linker_with` and a getter (no `WebSocketView` impl), the guest's
//! callbacks found with `GuestCallbacksPre`, its events delivered with
//! `run_until_idle_with`. The real echo guest against a real server.

mod support;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wit_websocket_cli::BUILT_GUESTS_DIR;
use wit_websocket_host::bindings::exports::wasi::cli::run::GuestIndices as RunIndices;
use wit_websocket_host::dispatch::{GuestCallbacksPre, run_until_idle_with};
use wit_websocket_host::{WebSocketCtx, WebSocketCtxView};

use support::{allow_all, echo_journaling, serve};

/// A platform's store data: its own fields, its own layout.
struct PlatformState {
    tenant: &'static str,
    wasi: WasiCtx,
    resources: ResourceTable,
    sockets: WebSocketCtx,
}

impl WasiView for PlatformState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.resources,
        }
    }
}

fn websockets(state: &mut PlatformState) -> WebSocketCtxView<'_> {
    WebSocketCtxView {
        ctx: &mut state.sockets,
        table: &mut state.resources,
    }
}

#[tokio::test]
async fn a_store_the_platform_owns_links_with_a_getter_and_runs_the_event_loop() {
    let server = serve(echo_journaling).await;
    let engine = Engine::new(&Config::new()).unwrap();
    let mut linker = Linker::<PlatformState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wit_websocket_host::add_to_linker_with(&mut linker, websockets).unwrap();
    let component = Component::from_file(&engine, format!("{BUILT_GUESTS_DIR}/echo.wasm")).unwrap();
    let pre = linker.instantiate_pre(&component).unwrap();
    let (run, callbacks) = (
        RunIndices::new(&pre).unwrap(),
        GuestCallbacksPre::new(&pre).unwrap(),
    );

    let stdout = MemoryOutputPipe::new(1 << 16);
    let url = server.url();
    let state = PlatformState {
        tenant: "tenant-a",
        wasi: WasiCtx::builder()
            .args(&["echo", &url, "2"])
            .stdout(stdout.clone())
            .build(),
        resources: ResourceTable::new(),
        sockets: WebSocketCtx::new(allow_all()),
    };
    let mut store = Store::new(&engine, state);
    let instance = pre.instantiate_async(&mut store).await.unwrap();
    let run = run.load(&mut store, &instance).unwrap();
    let callbacks = callbacks.load(&mut store, &instance).unwrap();
    assert_eq!(run.call_run(&mut store).await.unwrap(), Ok(()));
    run_until_idle_with(&mut store, &callbacks, websockets)
        .await
        .unwrap();

    let printed = String::from_utf8_lossy(&stdout.contents()).to_string();
    assert!(printed.contains("echoed: message 2 of 2"), "{printed}");
    let state = store.data();
    assert_eq!(state.tenant, "tenant-a");
    assert_eq!(state.sockets.live_sockets(), 0);
    assert_eq!(state.sockets.stats().messages_received, 2);
}
