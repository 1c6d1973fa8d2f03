//! What a socket task asks of permessage-deflate: the one place that knows
//! whether the `deflate` feature is on. Without it nothing is offered, and a
//! server that answers with an extension anyway fails the handshake, as
//! RFC 6455 §4.1 requires of any extension the client did not offer.

use tokio_tungstenite::tungstenite::Message as WireMessage;

#[cfg(feature = "deflate")]
pub(crate) use enabled::*;

#[cfg(not(feature = "deflate"))]
pub(crate) use disabled::*;

#[cfg(feature = "deflate")]
mod enabled {
    use super::WireMessage;
    use crate::deflate::{self, DeflateStream};

    pub(crate) use crate::deflate::{MessageDeflater, is_inflate_error};

    /// The transport beneath tungstenite: inflates compressed frames as they are read.
    pub(crate) type Transport<S> = DeflateStream<S>;

    pub(crate) fn wrap<S>(inner: S) -> Transport<S> {
        DeflateStream::new(inner)
    }

    /// The `Sec-WebSocket-Extensions` offer, when compression is wanted.
    pub(crate) fn offer(compression: bool) -> Option<&'static str> {
        compression.then_some(deflate::CLIENT_OFFER)
    }

    /// Checks the server's answer and sets the transport up for what was agreed.
    pub(crate) fn accept<S>(
        transport: &mut Transport<S>,
        answer: &[&str],
        offered: bool,
        max_frame_size: Option<usize>,
    ) -> Result<Option<MessageDeflater>, String> {
        let agreed = deflate::accept_response(answer, offered)?;
        transport.negotiated(agreed.as_ref(), true, max_frame_size);
        Ok(agreed.map(|params| params.client_deflater()))
    }

    /// How much of a message is compressed at a time, between looks at the
    /// clock.
    const COMPRESS_SLICE_BYTES: usize = 64 << 10;

    /// How long compressing may hold the worker before it yields to the
    /// runtime: a 64 MiB message takes a second of CPU, which must not hold
    /// up every other task on the worker. By time, not bytes: a yield costs
    /// a fifth of the throughput at 1 MiB (the task and its compressor's
    /// state may move to the other worker), as did handing each large
    /// message to the blocking pool before.
    const COMPRESS_BUDGET: std::time::Duration = std::time::Duration::from_millis(2);

    /// `message` compressed with `deflater`, if deflate was agreed.
    pub(crate) async fn compress(
        deflater: &mut Option<MessageDeflater>,
        message: WireMessage,
    ) -> WireMessage {
        let Some(deflater) = deflater else {
            return message;
        };
        match deflater.start(message) {
            Ok(mut deflation) => {
                let mut since = std::time::Instant::now();
                while !deflation.step(COMPRESS_SLICE_BYTES) {
                    if since.elapsed() >= COMPRESS_BUDGET {
                        tokio::task::yield_now().await;
                        since = std::time::Instant::now();
                    }
                }
                deflation.finish()
            }
            Err(unchanged) => unchanged,
        }
    }
}

#[cfg(not(feature = "deflate"))]
mod disabled {
    use super::WireMessage;

    /// Never made: nothing is ever agreed.
    pub(crate) enum MessageDeflater {}

    pub(crate) type Transport<S> = S;

    pub(crate) fn wrap<S>(inner: S) -> Transport<S> {
        inner
    }

    pub(crate) fn offer(_compression: bool) -> Option<&'static str> {
        None
    }

    pub(crate) fn accept<S>(
        _transport: &mut Transport<S>,
        answer: &[&str],
        _offered: bool,
        _max_frame_size: Option<usize>,
    ) -> Result<Option<MessageDeflater>, String> {
        match answer.iter().find(|value| !value.trim().is_empty()) {
            Some(extension) => Err(format!(
                "the server accepted the extension {extension:?}, which was not offered"
            )),
            None => Ok(None),
        }
    }

    pub(crate) fn is_inflate_error(_error: &std::io::Error) -> bool {
        false
    }

    pub(crate) async fn compress(
        _deflater: &mut Option<MessageDeflater>,
        message: WireMessage,
    ) -> WireMessage {
        message
    }
}
