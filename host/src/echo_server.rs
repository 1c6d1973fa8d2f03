//! A small native WebSocket echo server on loopback, for the demo, the tests
//! and the benchmarks: it echoes every text and binary message and completes
//! the closing handshake.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A running echo server; it stops when dropped.
pub struct EchoServer {
    address: SocketAddr,
    accept_loop: JoinHandle<()>,
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
        let accept_loop = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(echo(tcp));
            }
        });
        Ok(Self {
            address,
            accept_loop,
        })
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

async fn echo(tcp: tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            // tungstenite answers pings and close frames by itself.
            _ => continue,
        };
        if ws.send(reply).await.is_err() {
            return;
        }
    }
}
