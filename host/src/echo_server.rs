//! A small native WebSocket echo server on loopback, for the demo, the tests
//! and the benchmarks: it echoes every text and binary message, accepts
//! permessage-deflate when offered, and completes the closing handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::deflate::{self, DeflateParams, DeflateStream};

/// A running echo server; it stops when dropped.
pub struct EchoServer {
    address: SocketAddr,
    accept_loop: JoinHandle<()>,
    compressed_messages: Arc<AtomicU64>,
}

impl EchoServer {
    /// Starts a server on `127.0.0.1` on a free port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("a valid socket address")).await
    }

    /// Starts a server on `address` (port 0 picks a free one).
    pub async fn start_on(address: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let compressed_messages = Arc::new(AtomicU64::new(0));
        let counter = compressed_messages.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(echo(tcp, counter.clone()));
            }
        });
        Ok(Self {
            address,
            accept_loop,
            compressed_messages,
        })
    }

    /// Compressed (permessage-deflate) messages received so far, over all
    /// connections: each is counted before its echo is sent.
    pub fn compressed_messages_received(&self) -> u64 {
        self.compressed_messages.load(Ordering::Acquire)
    }

    /// The `ws://` URL of the server.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.address)
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn echo(tcp: tokio::net::TcpStream, compressed_messages: Arc<AtomicU64>) {
    let _ = tcp.set_nodelay(true);
    let mut agreed: Option<DeflateParams> = None;
    #[allow(clippy::result_large_err)] // tungstenite's callback type, not ours
    let accept_deflate = |request: &Request, mut response: Response| {
        let offers: Vec<&str> = request
            .headers()
            .get_all("sec-websocket-extensions")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if let Some((params, answer)) = deflate::answer_offers(&offers)
            && let Ok(answer) = HeaderValue::from_str(&answer)
        {
            response
                .headers_mut()
                .insert("sec-websocket-extensions", answer);
            agreed = Some(params);
        }
        Ok(response)
    };
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async(DeflateStream::new(tcp), accept_deflate).await
    else {
        return;
    };
    ws.get_mut().negotiated(agreed.as_ref(), false, None);
    let mut deflater = agreed.map(|params| params.server_deflater());
    let mut counted = 0;
    while let Some(Ok(message)) = ws.next().await {
        // Counted before the echo goes out, so a client holding the echo
        // sees its message counted.
        let inflated = ws.get_ref().inflated_messages();
        compressed_messages.fetch_add(inflated - counted, Ordering::AcqRel);
        counted = inflated;
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => match &mut deflater {
                Some(deflater) => deflater.deflate(message),
                None => message,
            },
            // tungstenite answers pings and close frames by itself.
            _ => continue,
        };
        if ws.send(reply).await.is_err() {
            return;
        }
    }
}
