//! tungstenite with permessage-deflate in the guest: the host's deflate layer
//! (`host/src/deflate.rs`, the same file, compiled into the guest) beneath
//! tokio-tungstenite, over a blocking `wasi:sockets` TCP stream, with
//! zlib-rs for compression; see the library's docs.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[macro_use]
#[path = "../../../../../host/src/pass_through.rs"]
mod pass_through;
// The guest uses the layer's client half.
#[allow(dead_code)]
#[path = "../../../../../host/src/deflate.rs"]
mod deflate;

wit_websocket_guest::export_handler!();

/// A blocking stream as an async one: every poll completes.
struct Blocking<S>(S);

impl<S: Read + Unpin> AsyncRead for Blocking<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let read = self.get_mut().0.read(buf.initialize_unfilled())?;
        buf.advance(read);
        Poll::Ready(Ok(()))
    }
}

impl<S: Write + Unpin> AsyncWrite for Blocking<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.get_mut().0.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().0.flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs `future` to completion; over [`Blocking`] streams it never waits.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

type Stream = WebSocketStream<deflate::DeflateStream<Blocking<std::net::TcpStream>>>;

/// The connection with its compressor.
struct Deflating {
    ws: Stream,
    deflater: deflate::MessageDeflater,
}

impl bench_tungstenite::Connection for Deflating {
    fn send(&mut self, message: Message) {
        block_on(self.ws.send(self.deflater.deflate(message))).expect("send");
    }

    fn receive(&mut self) -> bool {
        match block_on(self.ws.next()) {
            Some(Ok(message)) => message.is_text() || message.is_binary(),
            other => panic!("read: {other:?}"),
        }
    }

    fn close(mut self) {
        let _ = block_on(self.ws.close(None));
        while let Some(Ok(_)) = block_on(self.ws.next()) {}
    }
}

fn main() {
    let args = bench_tungstenite::Args::from_env();
    let mut request = args
        .url
        .as_str()
        .into_client_request()
        .expect("a valid URL");
    request.headers_mut().insert(
        "sec-websocket-extensions",
        HeaderValue::from_static(deflate::CLIENT_OFFER),
    );
    let stream = deflate::DeflateStream::new(Blocking(args.connect()));
    let (mut ws, response) =
        block_on(tokio_tungstenite::client_async(request, stream)).expect("the handshake succeeds");
    let agreed = deflate::accept_response(&deflate::extension_headers(response.headers()), true)
        .expect("a valid answer")
        .expect("the server accepts permessage-deflate");
    ws.get_mut().negotiated(Some(&agreed), true, None);
    let deflater = agreed.client_deflater();
    bench_tungstenite::run(&args, Deflating { ws, deflater });
}
