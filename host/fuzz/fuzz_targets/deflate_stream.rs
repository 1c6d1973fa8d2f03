//! Fuzzes what a hostile server can send once permessage-deflate was agreed:
//! arbitrary bytes through the host's inflating stream layer
//! (`deflate::DeflateStream`) and tungstenite above it, as the socket task
//! reads them. Nothing may panic, and no message may pass the size limit.

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use wit_websocket_host::deflate::{DeflateParams, DeflateStream};

/// What the handshake agreed, and the bytes the peer sends after it.
#[derive(Arbitrary, Debug)]
struct Input {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_window: u8,
    client_window: u8,
    /// The host as a client (reading a server's frames) or as a server.
    as_client: bool,
    bytes: Vec<u8>,
}

const MAX_MESSAGE: usize = 1 << 20;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|input: Input| {
    let params = DeflateParams {
        server_no_context_takeover: input.server_no_context_takeover,
        client_no_context_takeover: input.client_no_context_takeover,
        server_max_window_bits: 8 + input.server_window % 8,
        client_max_window_bits: 8 + input.client_window % 8,
    };
    runtime().block_on(async {
        // What the peer sends to read; what the host writes (answers to
        // pings and close frames) goes nowhere.
        let peer = tokio::io::join(&input.bytes[..], tokio::io::sink());
        let mut stream = DeflateStream::new(peer);
        stream.negotiated(Some(&params), input.as_client, Some(MAX_MESSAGE));
        let role = if input.as_client {
            Role::Client
        } else {
            Role::Server
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let mut ws = WebSocketStream::from_raw_socket(stream, role, Some(config)).await;
        while let Some(Ok(message)) = ws.next().await {
            assert!(
                message.len() <= MAX_MESSAGE,
                "{} bytes passed the limit",
                message.len()
            );
        }
    });
});
