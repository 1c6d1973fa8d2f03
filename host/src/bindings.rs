//! Generated bindings for the `wit-websocket:client` package (never edited by hand).
//!
//! The WIT resources map to the host's own types, and the WASI interfaces the
//! `app` world includes map to wasmtime-wasi's bindings, so an embedder links
//! WASI with `wasmtime_wasi::p2::add_to_linker_async` and WebSockets with
//! [`crate::add_to_linker`].

wasmtime::component::bindgen!({
    path: "wit",
    world: "wit-websocket:client/app",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "wasi": wasmtime_wasi::p2::bindings,
        "wit-websocket:client/network.network-device": crate::device::NetworkDevice,
        "wit-websocket:client/network.websocket": crate::socket::WebSocket,
    },
});

pub use wit_websocket::client::types::{
    CloseInfo, ConnectOptions, ErrorCode, Event, EventKind, HandshakeRejection, Message,
    MessageBatch, PackedMessages, Pong, ReadyState,
};
