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

    /// Messages at least this large are compressed on tokio's blocking pool: a
    /// 64 MiB message takes a second of CPU, which would hold up every other
    /// task on the worker.
    const COMPRESS_ASIDE_BYTES: usize = 256 << 10;

    /// `message` compressed with `deflater`, if deflate was agreed.
    pub(crate) async fn compress(
        deflater: &mut Option<MessageDeflater>,
        message: WireMessage,
    ) -> WireMessage {
        match deflater.take() {
            None => message,
            Some(mut small) if message.len() < COMPRESS_ASIDE_BYTES => {
                let message = small.deflate(message);
                *deflater = Some(small);
                message
            }
            Some(mut large) => {
                let (back, message) = tokio::task::spawn_blocking(move || {
                    let message = large.deflate(message);
                    (large, message)
                })
                .await
                .expect("compressing does not panic");
                *deflater = Some(back);
                message
            }
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
