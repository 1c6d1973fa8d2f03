//! The `wit-websocket` command-line tool, beside the host library
//! (`wit-websocket-host`) as `wasmtime-cli` sits beside `wasmtime-wasi-http`.
//!
//! The library holds what the binary and the repository's tests share and the
//! host library must not carry: the echo server (with the test CA its
//! `wss://` side presents) and the benchmark.

pub mod bench;
pub mod echo_server;

/// Where the build script put the workspace's guest components (`echo.wasm`,
/// `probe.wasm`, the bench guests), compiled for wasm32-wasip2: the demo and
/// the bench embed some, the tests run the rest.
pub const BUILT_GUESTS_DIR: &str = env!("WIT_WEBSOCKET_GUESTS_DIR");
