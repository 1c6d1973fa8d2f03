//! permessage-deflate (RFC 7692) for tungstenite, which has no extension
//! support of its own: the negotiation, a [`DeflateStream`] beneath
//! tungstenite that inflates compressed frames into plain ones, and a
//! [`MessageDeflater`] that turns outgoing messages into compressed frames.
//!
//! Inflating beneath tungstenite keeps all of its protocol checks
//! (fragmentation, UTF-8, control frames, frame and message size limits)
//! applying to the inflated data unchanged. The inflated bytes are made only
//! as tungstenite reads them, one chunk at a time, so a small frame that
//! inflates to gigabytes costs one chunk of memory before tungstenite's
//! `max_message_size` fails the connection (1009).

use std::io::{self, Cursor};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_tungstenite::tungstenite::Message as WireMessage;
use tokio_tungstenite::tungstenite::http::HeaderMap;
use tokio_tungstenite::tungstenite::protocol::frame::{
    Frame, FrameHeader,
    coding::{Data, OpCode},
};

/// The extension's token in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";
/// What a client offers, as browsers do: deflate, letting the server choose
/// the window the client compresses with.
pub const CLIENT_OFFER: &str = "permessage-deflate; client_max_window_bits";
/// The end of a sync flush, which the sender strips from every message and
/// the receiver appends again (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// Inflated bytes per frame handed to tungstenite.
const CHUNK: usize = 64 << 10;
/// Room for bytes read from the connection and not yet passed on, while
/// inflating.
const INPUT_CAPACITY: usize = 64 << 10;
/// The same during the HTTP upgrade, which passes bytes on as they come.
const HANDSHAKE_CAPACITY: usize = 4 << 10;

/// What both sides agreed for one connection.
///
/// ```
/// use wit_websocket_host::deflate::answer_offers;
///
/// let (params, _answer) = answer_offers(&["permessage-deflate; client_max_window_bits"]).unwrap();
/// assert_eq!((params.client_max_window_bits, params.server_max_window_bits), (15, 15));
/// assert!(!params.client_no_context_takeover);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server starts each message with an empty window.
    pub server_no_context_takeover: bool,
    /// The client starts each message with an empty window.
    pub client_no_context_takeover: bool,
    /// The largest window (as a power of two) the server compresses with.
    pub server_max_window_bits: u8,
    /// The largest window (as a power of two) the client compresses with.
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// The compressor for what the client sends.
    ///
    /// ```
    /// use tokio_tungstenite::tungstenite::Message;
    /// use wit_websocket_host::deflate::accept_response;
    ///
    /// let agreed = accept_response(&["permessage-deflate"], true)?.expect("deflate was agreed");
    /// let mut deflater = agreed.client_deflater();
    /// let frame = deflater.deflate(Message::text("hello ".repeat(100)));
    /// assert!(matches!(frame, Message::Frame(_)));
    /// # Ok::<(), String>(())
    /// ```
    pub fn client_deflater(&self) -> MessageDeflater {
        MessageDeflater::new(self.client_max_window_bits, self.client_no_context_takeover)
    }

    /// The compressor for what the server sends.
    ///
    /// ```
    /// use tokio_tungstenite::tungstenite::Message;
    /// use wit_websocket_host::deflate::answer_offers;
    ///
    /// let (agreed, _answer) = answer_offers(&["permessage-deflate"]).unwrap();
    /// let frame = agreed.server_deflater().deflate(Message::binary(vec![0; 4096]));
    /// assert!(frame.len() < 4096);
    /// ```
    pub fn server_deflater(&self) -> MessageDeflater {
        MessageDeflater::new(self.server_max_window_bits, self.server_no_context_takeover)
    }
}

/// The parameters of one extension in a `Sec-WebSocket-Extensions` value.
#[derive(Default)]
struct Parameters {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value, as a client may offer it.
    client_max_window_bits: Option<Option<u8>>,
}

impl Parameters {
    fn parse<'a>(params: impl Iterator<Item = &'a str>) -> Result<Self, String> {
        let mut parsed = Self::default();
        for param in params {
            let (name, value) = match param.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
                None => (param.trim(), None),
            };
            let duplicate = || format!("the parameter {name} appears twice");
            let bits = || -> Result<u8, String> {
                value
                    .and_then(|v| v.parse().ok())
                    .filter(|bits| (8..=15).contains(bits))
                    .ok_or_else(|| format!("{name} needs a value from 8 to 15, not {value:?}"))
            };
            match (name, value) {
                ("server_no_context_takeover", None) => {
                    if parsed.server_no_context_takeover {
                        return Err(duplicate());
                    }
                    parsed.server_no_context_takeover = true;
                }
                ("client_no_context_takeover", None) => {
                    if parsed.client_no_context_takeover {
                        return Err(duplicate());
                    }
                    parsed.client_no_context_takeover = true;
                }
                ("server_max_window_bits", _) => {
                    if parsed.server_max_window_bits.replace(bits()?).is_some() {
                        return Err(duplicate());
                    }
                }
                ("client_max_window_bits", _) => {
                    let bits = value.map(|_| bits()).transpose()?;
                    if parsed.client_max_window_bits.replace(bits).is_some() {
                        return Err(duplicate());
                    }
                }
                _ => return Err(format!("unknown parameter {param:?}")),
            }
        }
        Ok(parsed)
    }
}

/// The values of the `Sec-WebSocket-Extensions` headers in `headers` (a
/// request's offers or a response's answer), for [`accept_response`] and
/// [`answer_offers`].
///
/// ```
/// use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue};
/// use wit_websocket_host::deflate::extension_headers;
///
/// let mut headers = HeaderMap::new();
/// headers.append("sec-websocket-extensions", HeaderValue::from_static("permessage-deflate"));
/// headers.append("sec-websocket-extensions", HeaderValue::from_static("x-other"));
/// assert_eq!(extension_headers(&headers), ["permessage-deflate", "x-other"]);
/// ```
pub fn extension_headers(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("sec-websocket-extensions")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect()
}

/// The extensions of `Sec-WebSocket-Extensions` header values: each one's
/// name and its parameters.
fn extensions<'a>(
    values: &'a [&'a str],
) -> impl Iterator<Item = (&'a str, impl Iterator<Item = &'a str>)> {
    values
        .iter()
        .flat_map(|value| value.split(','))
        .filter(|extension| !extension.trim().is_empty())
        .map(|extension| {
            let mut parts = extension.split(';');
            let name = parts.next().unwrap_or_default().trim();
            (name, parts.filter(|p| !p.trim().is_empty()))
        })
}

/// Checks the server's `Sec-WebSocket-Extensions` answer: `Ok(None)` when it
/// accepted no extension, the agreed parameters when it accepted deflate.
/// An extension that was not offered, or deflate with parameters a client
/// cannot honour, fails the connection (RFC 6455 §4.1, RFC 7692 §5).
///
/// ```
/// use wit_websocket_host::deflate::accept_response;
///
/// assert_eq!(accept_response(&[], true)?, None);
/// let agreed = accept_response(&["permessage-deflate; server_no_context_takeover"], true)?;
/// assert!(agreed.unwrap().server_no_context_takeover);
/// // An answer to an offer that was not made fails the handshake.
/// assert!(accept_response(&["permessage-deflate"], false).is_err());
/// # Ok::<(), String>(())
/// ```
pub fn accept_response(values: &[&str], offered: bool) -> Result<Option<DeflateParams>, String> {
    let mut agreed = None;
    for (name, params) in extensions(values) {
        if !offered || !name.eq_ignore_ascii_case(NAME) {
            return Err(format!(
                "the server accepted the extension {name:?}, which was not offered"
            ));
        }
        if agreed.is_some() {
            return Err(format!("the server accepted {NAME} twice"));
        }
        let params = Parameters::parse(params).map_err(|e| format!("{NAME}: {e}"))?;
        let client_max_window_bits = match params.client_max_window_bits {
            None => 15,
            Some(Some(bits)) => bits,
            Some(None) => return Err(format!("{NAME}: client_max_window_bits needs a value")),
        };
        agreed = Some(DeflateParams {
            server_no_context_takeover: params.server_no_context_takeover,
            client_no_context_takeover: params.client_no_context_takeover,
            server_max_window_bits: params.server_max_window_bits.unwrap_or(15),
            client_max_window_bits,
        });
    }
    Ok(agreed)
}

/// A server's answer to a client's `Sec-WebSocket-Extensions` offers: the
/// first deflate offer it can honour, with the response header value.
///
/// ```
/// use wit_websocket_host::deflate::answer_offers;
///
/// let (_params, answer) = answer_offers(&["x-unknown, permessage-deflate"]).unwrap();
/// assert!(answer.starts_with("permessage-deflate"));
/// assert!(answer_offers(&["x-unknown"]).is_none());
/// ```
pub fn answer_offers(values: &[&str]) -> Option<(DeflateParams, String)> {
    extensions(values).find_map(|(name, params)| {
        if !name.eq_ignore_ascii_case(NAME) {
            return None;
        }
        let offer = Parameters::parse(params).ok()?;
        let server_max_window_bits = offer.server_max_window_bits.unwrap_or(15);
        // zlib cannot compress with a 256-byte window (RFC 7692 §7.1.2.1 lets
        // the server decline such an offer).
        if server_max_window_bits < 9 {
            return None;
        }
        let mut answer = NAME.to_string();
        if offer.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if let Some(bits) = offer.server_max_window_bits {
            answer.push_str(&format!("; server_max_window_bits={bits}"));
        }
        let params = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits: offer.client_max_window_bits.flatten().unwrap_or(15),
        };
        Some((params, answer))
    })
}

/// Compresses outgoing messages into frames with RSV1 set.
///
/// ```
/// use tokio_tungstenite::tungstenite::Message;
/// use wit_websocket_host::deflate::answer_offers;
///
/// let (agreed, _) = answer_offers(&["permessage-deflate"]).unwrap();
/// let mut deflater = agreed.server_deflater();
/// // Each text or binary message becomes one compressed frame; others pass.
/// assert!(matches!(deflater.deflate(Message::text("{\"a\": 1}")), Message::Frame(_)));
/// assert!(matches!(deflater.deflate(Message::Ping(vec![].into())), Message::Ping(_)));
/// ```
pub struct MessageDeflater {
    /// `None` when the agreed window is one zlib cannot compress with (8
    /// bits): messages then go uncompressed, which RFC 7692 allows.
    compress: Option<Compress>,
    no_context_takeover: bool,
}

impl MessageDeflater {
    fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        let compress = (window_bits >= 9)
            .then(|| Compress::new_with_window_bits(Compression::default(), false, window_bits));
        Self {
            compress,
            no_context_takeover,
        }
    }

    /// The message to write for `message`: text and binary messages as one
    /// compressed frame, anything else unchanged.
    ///
    /// ```
    /// use tokio_tungstenite::tungstenite::Message;
    /// use wit_websocket_host::deflate::answer_offers;
    ///
    /// let (agreed, _) = answer_offers(&["permessage-deflate"]).unwrap();
    /// let compressed = agreed.client_deflater().deflate(Message::text("abc".repeat(1000)));
    /// assert!(compressed.len() < 3000);
    /// ```
    pub fn deflate(&mut self, message: WireMessage) -> WireMessage {
        match self.start(message) {
            Ok(mut deflation) => {
                deflation.step(usize::MAX);
                deflation.finish()
            }
            Err(unchanged) => unchanged,
        }
    }

    /// Starts compressing `message` a slice at a time, so that a caller on
    /// an async runtime can yield between slices; `Err` gives back a message
    /// that goes unchanged (not text or binary, or no compressor).
    ///
    /// ```
    /// use tokio_tungstenite::tungstenite::Message;
    /// use wit_websocket_host::deflate::answer_offers;
    ///
    /// let (agreed, _) = answer_offers(&["permessage-deflate"]).unwrap();
    /// let mut deflater = agreed.client_deflater();
    /// let Ok(mut deflation) = deflater.start(Message::text("abc".repeat(1000))) else {
    ///     unreachable!("a text message is compressed");
    /// };
    /// while !deflation.step(1000) {}
    /// assert!(deflation.finish().len() < 3000);
    /// ```
    pub fn start(&mut self, message: WireMessage) -> Result<Deflation<'_>, WireMessage> {
        let opcode = match &message {
            WireMessage::Text(_) => Data::Text,
            WireMessage::Binary(_) => Data::Binary,
            _ => return Err(message),
        };
        let Some(compress) = self.compress.as_mut() else {
            return Err(message);
        };
        let capacity = message.len() / 2 + 64;
        Ok(Deflation {
            start: compress.total_in(),
            compress,
            no_context_takeover: self.no_context_takeover,
            opcode,
            message,
            out: Vec::with_capacity(capacity),
            failed: false,
        })
    }
}

/// A message being compressed: [`MessageDeflater::start`] makes one,
/// [`step`](Self::step) feeds it, [`finish`](Self::finish) ends it.
pub struct Deflation<'a> {
    compress: &'a mut Compress,
    no_context_takeover: bool,
    opcode: Data,
    message: WireMessage,
    /// `compress.total_in()` when the message began.
    start: u64,
    out: Vec<u8>,
    /// zlib refused the stream (cannot happen with a well-formed one): the
    /// message goes uncompressed.
    failed: bool,
}

impl Deflation<'_> {
    /// Compresses up to `max_bytes` more of the payload; `true` once all of
    /// it went in.
    pub fn step(&mut self, max_bytes: usize) -> bool {
        let payload = data_payload(&self.message);
        let consumed = |compress: &Compress| (compress.total_in() - self.start) as usize;
        let end = consumed(self.compress)
            .saturating_add(max_bytes)
            .min(payload.len());
        while !self.failed && consumed(self.compress) < end {
            if self.out.len() == self.out.capacity() {
                self.out.reserve(self.out.capacity().max(64));
            }
            let input = &payload[consumed(self.compress)..end];
            self.failed = self
                .compress
                .compress_vec(input, &mut self.out, FlushCompress::None)
                .is_err();
        }
        self.failed || end == payload.len()
    }

    /// The message to write: all of the payload (what [`step`](Self::step)
    /// left is compressed now) as one compressed frame, sync-flushed,
    /// without the flush's tail.
    pub fn finish(mut self) -> WireMessage {
        self.step(usize::MAX);
        loop {
            if self.failed {
                // Start afresh; this message goes uncompressed.
                self.compress.reset();
                return self.message;
            }
            self.failed = self
                .compress
                .compress_vec(&[], &mut self.out, FlushCompress::Sync)
                .is_err();
            // The flush is complete once it left room in the output.
            if !self.failed && self.out.len() < self.out.capacity() {
                break;
            }
            self.out.reserve(self.out.capacity().max(64));
        }
        let mut out = self.out;
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.is_empty() {
            // Nothing was pending (an empty message right after a flush): an
            // empty stored block's first byte, which the tail completes
            // (RFC 7692 §7.2.3.6); an empty payload is not valid deflate data.
            out.push(0x00);
        }
        if self.no_context_takeover {
            self.compress.reset();
        }
        let mut frame = Frame::message(out, OpCode::Data(self.opcode), true);
        frame.header_mut().rsv1 = true;
        WireMessage::Frame(frame)
    }
}

/// A text or binary message's bytes.
fn data_payload(message: &WireMessage) -> &[u8] {
    match message {
        WireMessage::Text(text) => text.as_bytes(),
        WireMessage::Binary(bytes) => bytes,
        _ => unreachable!("only text and binary messages are compressed"),
    }
}

/// The error a [`DeflateStream`] reports for a message that does not inflate.
///
/// ```
/// use wit_websocket_host::deflate::InflateError;
///
/// /// What went wrong inflating, when that is what `error` (from a read) is.
/// fn inflate_failure(error: &std::io::Error) -> Option<String> {
///     Some(error.get_ref()?.downcast_ref::<InflateError>()?.to_string())
/// }
/// assert_eq!(inflate_failure(&std::io::Error::other("reset")), None);
/// ```
#[derive(Debug)]
pub struct InflateError(String);

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a compressed message does not inflate: {}", self.0)
    }
}

impl std::error::Error for InflateError {}

/// A transport that hands tungstenite the HTTP upgrade and then, once
/// [`negotiated`](Self::negotiated) says deflate was agreed, inflates every
/// compressed message into plain frames. Writes pass through unchanged.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use tokio::net::TcpListener;
/// use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
/// use tokio_tungstenite::tungstenite::http::HeaderValue;
/// use wit_websocket_host::deflate::{DeflateStream, answer_offers, extension_headers};
///
/// # async fn serve() -> std::io::Result<()> {
/// // A server that accepts permessage-deflate: negotiate in the handshake
/// // callback, then tell the stream what was agreed before reading.
/// let (tcp, _) = TcpListener::bind("127.0.0.1:0").await?.accept().await?;
/// let mut agreed = None;
/// let callback = |request: &Request, mut response: Response| {
///     if let Some((params, answer)) = answer_offers(&extension_headers(request.headers())) {
///         let answer = HeaderValue::from_str(&answer).expect("a valid header");
///         response.headers_mut().insert("sec-websocket-extensions", answer);
///         agreed = Some(params);
///     }
///     Ok(response)
/// };
/// let mut ws = tokio_tungstenite::accept_hdr_async(DeflateStream::new(tcp), callback)
///     .await
///     .map_err(std::io::Error::other)?;
/// ws.get_mut().negotiated(agreed.as_ref(), false, None);
/// let mut deflater = agreed.map(|params| params.server_deflater());
/// while let Some(Ok(message)) = ws.next().await {
///     if message.is_text() || message.is_binary() {
///         let reply = match &mut deflater {
///             Some(deflater) => deflater.deflate(message),
///             None => message,
///         };
///         ws.send(reply).await.map_err(std::io::Error::other)?;
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct DeflateStream<S> {
    inner: S,
    mode: Mode,
    /// Bytes read from `inner` and not yet passed on: `input[start..end]`.
    input: Box<[u8]>,
    start: usize,
    end: usize,
    /// Bytes made here (frame headers, inflated payloads) for the reader:
    /// `output[given..]`.
    output: Vec<u8>,
    given: usize,
    inflated_messages: u64,
}

enum Mode {
    /// The HTTP upgrade: bytes pass up to the blank line that ends the
    /// headers (`matched` bytes of it seen so far) and no further, so frames
    /// that follow in the same read are not handed on before the mode is set.
    Handshake { matched: usize },
    /// No extension: bytes pass through.
    Plain,
    /// Deflate agreed: compressed frames are inflated.
    Inflating(Box<Inflater>),
    /// A message failed to inflate; the connection is to be failed.
    Broken(String),
}

struct Inflater {
    decompress: Decompress,
    max_frame_size: u64,
    /// Reset the window after each message.
    no_context_takeover: bool,
    frame: FrameState,
    /// The compressed message being inflated, if one is.
    message: Option<CompressedMessage>,
    scratch: Vec<u8>,
}

enum FrameState {
    /// Between frames.
    Header,
    /// A frame tungstenite reads as it is: this many bytes of it are left.
    Raw { remaining: u64 },
    /// Payload of a compressed message's frame.
    Compressed {
        remaining: u64,
        is_final: bool,
        mask: Option<[u8; 4]>,
        /// Payload bytes consumed so far, for the mask's phase.
        offset: u64,
        /// Bytes at the start of the input already unmasked.
        unmasked: usize,
    },
}

struct CompressedMessage {
    opcode: Data,
    /// Whether a frame of it has been handed on (later ones continue it).
    started: bool,
    /// Frames handed on carry a (zero) mask when the peer's did: a server's
    /// tungstenite requires masked frames from clients.
    masked: bool,
    /// The deflate stream ended (a block with BFINAL): the rest is ignored.
    ended: bool,
    /// Whether any compressed byte of it arrived. An empty compressed
    /// payload is an empty message: the tail alone would inflate as the
    /// start of a stored block and garble the messages after it.
    fed: bool,
}

impl<S> DeflateStream<S> {
    /// Wraps `inner` before the HTTP upgrade is read from it.
    ///
    /// ```
    /// use wit_websocket_host::deflate::DeflateStream;
    ///
    /// let stream = DeflateStream::new(tokio::io::empty());
    /// assert_eq!(stream.inflated_messages(), 0);
    /// ```
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            mode: Mode::Handshake { matched: 0 },
            input: vec![0; HANDSHAKE_CAPACITY].into_boxed_slice(),
            start: 0,
            end: 0,
            output: Vec::new(),
            given: 0,
            inflated_messages: 0,
        }
    }

    /// Sets what the handshake agreed; call it before reading any message.
    /// Only a connection that inflates keeps a read buffer: without deflate,
    /// reads go straight to the transport once what was read ahead is passed on.
    /// `max_frame_size` is tungstenite's: a compressed frame announcing more
    /// is handed on as it is, for tungstenite to refuse (1009).
    ///
    /// ```
    /// use wit_websocket_host::deflate::{DeflateStream, accept_response};
    ///
    /// let mut stream = DeflateStream::new(tokio::io::empty());
    /// let agreed = accept_response(&["permessage-deflate"], true)?;
    /// stream.negotiated(agreed.as_ref(), true, Some(16 << 20));
    /// # Ok::<(), String>(())
    /// ```
    pub fn negotiated(
        &mut self,
        deflate: Option<&DeflateParams>,
        role_is_client: bool,
        max_frame_size: Option<usize>,
    ) {
        let read_ahead = self.end - self.start;
        let capacity = match deflate {
            Some(_) => INPUT_CAPACITY.max(read_ahead),
            None => read_ahead,
        };
        let mut input = vec![0; capacity].into_boxed_slice();
        input[..read_ahead].copy_from_slice(&self.input[self.start..self.end]);
        self.input = input;
        self.start = 0;
        self.end = read_ahead;
        self.mode = match deflate {
            None => Mode::Plain,
            Some(params) => Mode::Inflating(Box::new(Inflater {
                max_frame_size: max_frame_size.map_or(u64::MAX, |size| size as u64),
                decompress: Decompress::new(false),
                no_context_takeover: if role_is_client {
                    params.server_no_context_takeover
                } else {
                    params.client_no_context_takeover
                },
                frame: FrameState::Header,
                message: None,
                scratch: Vec::with_capacity(CHUNK),
            })),
        };
    }

    /// Compressed messages inflated so far.
    ///
    /// ```
    /// use wit_websocket_host::deflate::DeflateStream;
    ///
    /// let stream = DeflateStream::new(tokio::io::empty());
    /// assert_eq!(stream.inflated_messages(), 0);
    /// ```
    pub fn inflated_messages(&self) -> u64 {
        self.inflated_messages
    }
}

impl<S: AsyncRead + Unpin> DeflateStream<S> {
    /// Reads more from `inner`; `Ok(0)` at the end of the stream.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.input.len() {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let mut read = ReadBuf::new(&mut self.input[self.end..]);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }

    /// Passes at most `limit` buffered input bytes to `buf`.
    fn pass_input(&mut self, buf: &mut ReadBuf<'_>, limit: u64) -> usize {
        pass(&self.input[..self.end], &mut self.start, buf, limit)
    }

    fn poll_handshake(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        mut matched: usize,
    ) -> Poll<io::Result<()>> {
        const END: &[u8; 4] = b"\r\n\r\n";
        if self.start == self.end && ready!(self.fill(cx))? == 0 {
            return Poll::Ready(Ok(()));
        }
        let available = &self.input[self.start..self.end];
        let mut n = 0;
        while n < available.len().min(buf.remaining()) && matched < END.len() {
            matched = match available[n] {
                byte if byte == END[matched] => matched + 1,
                b'\r' => 1,
                _ => 0,
            };
            n += 1;
        }
        self.pass_input(buf, n as u64);
        self.mode = if matched == END.len() {
            Mode::Plain
        } else {
            Mode::Handshake { matched }
        };
        Poll::Ready(Ok(()))
    }

    fn poll_inflating(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.given < self.output.len() {
                let n = (self.output.len() - self.given).min(buf.remaining());
                buf.put_slice(&self.output[self.given..self.given + n]);
                self.given += n;
                if self.given == self.output.len() {
                    self.output.clear();
                    self.given = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let Mode::Inflating(inflater) = &mut self.mode else {
                unreachable!("poll_inflating runs in the inflating mode only");
            };
            match &mut inflater.frame {
                FrameState::Header => {
                    let mut cursor = Cursor::new(&self.input[self.start..self.end]);
                    match FrameHeader::parse(&mut cursor) {
                        Ok(Some((header, length))) => {
                            let header_len = cursor.position();
                            // RFC 6455 §5.4: a message's fragments are not
                            // interleaved with another data message's. Caught
                            // here: the compressed message may have handed
                            // tungstenite nothing yet, so it could not tell.
                            if inflater.message.is_some()
                                && matches!(header.opcode, OpCode::Data(Data::Text | Data::Binary))
                            {
                                let message = "a new data message began inside a fragmented compressed message".to_string();
                                self.mode = Mode::Broken(message.clone());
                                return Poll::Ready(Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    InflateError(message),
                                )));
                            }
                            inflater.frame = if length <= inflater.max_frame_size
                                && inflater.starts_compressed(&header)
                            {
                                self.start += header_len as usize;
                                FrameState::Compressed {
                                    remaining: length,
                                    is_final: header.is_final,
                                    mask: header.mask,
                                    offset: 0,
                                    unmasked: 0,
                                }
                            } else {
                                FrameState::Raw {
                                    remaining: header_len.saturating_add(length),
                                }
                            };
                        }
                        Ok(None) => {
                            if ready!(self.fill(cx))? == 0 {
                                // A truncated header: tungstenite reports it.
                                self.pass_input(buf, u64::MAX);
                                return Poll::Ready(Ok(()));
                            }
                        }
                        // A header tungstenite rejects (a reserved opcode):
                        // let it see the bytes and say so.
                        Err(_) => {
                            inflater.frame = FrameState::Raw {
                                remaining: u64::MAX,
                            }
                        }
                    }
                }
                FrameState::Raw { .. } => {
                    if self.start == self.end && ready!(self.fill(cx))? == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    let Mode::Inflating(inflater) = &mut self.mode else {
                        unreachable!();
                    };
                    let FrameState::Raw { remaining } = &mut inflater.frame else {
                        unreachable!();
                    };
                    *remaining -=
                        pass(&self.input[..self.end], &mut self.start, buf, *remaining) as u64;
                    if *remaining == 0 {
                        inflater.frame = FrameState::Header;
                    }
                    return Poll::Ready(Ok(()));
                }
                FrameState::Compressed { remaining, .. } => {
                    if *remaining > 0 && self.start == self.end && ready!(self.fill(cx))? == 0 {
                        // The stream ended mid-frame: tungstenite reports it.
                        return Poll::Ready(Ok(()));
                    }
                    if let Err(error) = self.inflate_frame_payload() {
                        let message = error.to_string();
                        self.mode = Mode::Broken(message.clone());
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            InflateError(message),
                        )));
                    }
                }
            }
        }
    }

    /// Inflates the buffered payload of the current compressed frame into
    /// frames in `output`; at the end of the message, finishes it.
    fn inflate_frame_payload(&mut self) -> Result<(), flate2::DecompressError> {
        let Mode::Inflating(inflater) = &mut self.mode else {
            unreachable!("inflating only in the inflating mode");
        };
        let FrameState::Compressed {
            remaining,
            is_final,
            mask,
            offset,
            unmasked,
        } = &mut inflater.frame
        else {
            unreachable!("inflate_frame_payload runs on compressed frames only");
        };
        let available =
            (self.end - self.start).min(usize::try_from(*remaining).unwrap_or(usize::MAX));
        let payload = &mut self.input[self.start..self.start + available];
        if let Some(mask) = mask {
            for (i, byte) in payload.iter_mut().enumerate().skip(*unmasked) {
                *byte ^= mask[((*offset + i as u64) % 4) as usize];
            }
            *unmasked = available;
        }
        let message = inflater
            .message
            .as_mut()
            .expect("a compressed frame belongs to a message");
        message.fed |= available > 0;
        let consumed = if message.ended {
            available
        } else {
            inflater.scratch.clear();
            let before = inflater.decompress.total_in();
            let status = inflater.decompress.decompress_vec(
                payload,
                &mut inflater.scratch,
                FlushDecompress::None,
            )?;
            message.ended = status == Status::StreamEnd;
            if message.ended {
                available
            } else {
                (inflater.decompress.total_in() - before) as usize
            }
        };
        self.start += consumed;
        *remaining -= consumed as u64;
        *offset += consumed as u64;
        *unmasked -= consumed.min(*unmasked);
        let finished = *remaining == 0;
        let is_final = *is_final;
        if !inflater.scratch.is_empty() {
            emit(&mut self.output, message, &inflater.scratch, false);
        }
        if finished {
            inflater.frame = FrameState::Header;
            if is_final {
                inflater.finish_message(&mut self.output)?;
                self.inflated_messages += 1;
            }
        }
        Ok(())
    }
}

impl Inflater {
    /// Whether the frame with `header` is (part of) a compressed message.
    /// Anything unusual (RSV1 on a control or continuation frame, a new
    /// message before the last one ended) is left raw for tungstenite to
    /// reject as the protocol violation it is.
    fn starts_compressed(&mut self, header: &FrameHeader) -> bool {
        match (header.opcode, header.rsv1, &self.message) {
            (OpCode::Data(opcode @ (Data::Text | Data::Binary)), true, None) => {
                self.message = Some(CompressedMessage {
                    opcode,
                    started: false,
                    masked: header.mask.is_some(),
                    ended: false,
                    fed: false,
                });
                true
            }
            (OpCode::Data(Data::Continue), false, Some(_)) => true,
            _ => false,
        }
    }

    /// Appends the tail, hands on what remains, and ends the message with a
    /// final frame.
    fn finish_message(&mut self, output: &mut Vec<u8>) -> Result<(), flate2::DecompressError> {
        let mut message = self.message.take().expect("a message to finish");
        let mut tail: &[u8] = &TAIL;
        while !message.ended && message.fed {
            self.scratch.clear();
            let before = self.decompress.total_in();
            let status =
                self.decompress
                    .decompress_vec(tail, &mut self.scratch, FlushDecompress::Sync)?;
            tail = &tail[(self.decompress.total_in() - before) as usize..];
            message.ended = status == Status::StreamEnd;
            if !self.scratch.is_empty() {
                emit(output, &mut message, &self.scratch, false);
            }
            // Done once the tail is in and the output had room to spare.
            if tail.is_empty() && self.scratch.len() < self.scratch.capacity() {
                break;
            }
        }
        emit(output, &mut message, &[], true);
        if self.no_context_takeover || message.ended {
            self.decompress.reset(false);
        }
        Ok(())
    }
}

/// Moves at most `limit` bytes of `input[*start..]` to `buf`.
fn pass(input: &[u8], start: &mut usize, buf: &mut ReadBuf<'_>, limit: u64) -> usize {
    let n = (input.len() - *start)
        .min(buf.remaining())
        .min(usize::try_from(limit).unwrap_or(usize::MAX));
    buf.put_slice(&input[*start..*start + n]);
    *start += n;
    n
}

/// Appends a plain frame of `message` carrying `payload`.
fn emit(output: &mut Vec<u8>, message: &mut CompressedMessage, payload: &[u8], is_final: bool) {
    let opcode = if message.started {
        Data::Continue
    } else {
        message.opcode
    };
    message.started = true;
    let header = FrameHeader {
        is_final,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Data(opcode),
        mask: message.masked.then_some([0; 4]),
    };
    // Formatting into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, output);
    output.extend_from_slice(payload);
}

impl<S: AsyncRead + Unpin> AsyncRead for DeflateStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &this.mode {
            Mode::Handshake { matched } => {
                let matched = *matched;
                this.poll_handshake(cx, buf, matched)
            }
            Mode::Plain if this.start < this.end => {
                this.pass_input(buf, u64::MAX);
                Poll::Ready(Ok(()))
            }
            Mode::Plain => Pin::new(&mut this.inner).poll_read(cx, buf),
            Mode::Inflating(_) => this.poll_inflating(cx, buf),
            Mode::Broken(message) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                InflateError(message.clone()),
            ))),
        }
    }
}

writes_pass_through!(DeflateStream);

/// Whether `error` (from reading a [`DeflateStream`]) is a message that did
/// not inflate.
///
/// ```
/// use wit_websocket_host::deflate::is_inflate_error;
///
/// assert!(!is_inflate_error(&std::io::Error::other("connection reset")));
/// ```
pub fn is_inflate_error(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<InflateError>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    #[test]
    fn responses_are_checked_against_the_offer() {
        let agreed = accept_response(
            &["permessage-deflate; server_no_context_takeover; client_max_window_bits=10"],
            true,
        )
        .unwrap()
        .unwrap();
        assert!(agreed.server_no_context_takeover);
        assert!(!agreed.client_no_context_takeover);
        assert_eq!(
            (agreed.server_max_window_bits, agreed.client_max_window_bits),
            (15, 10)
        );
        assert_eq!(accept_response(&[], true), Ok(None));
        for bad in [
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; mystery",
        ] {
            assert!(accept_response(&[bad], true).is_err(), "{bad}");
        }
        assert!(accept_response(&["permessage-deflate"], false).is_err());
    }

    #[test]
    fn offers_are_answered_with_what_the_server_honours() {
        let (params, answer) =
            answer_offers(&["permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover; client_max_window_bits"]).unwrap();
        assert_eq!(answer, "permessage-deflate; server_no_context_takeover");
        assert!(params.server_no_context_takeover);
        assert!(answer_offers(&["x-other"]).is_none());
    }

    /// A client and a server over an in-memory pipe, both with the deflate
    /// layer, exchange messages of every shape both ways: the client's
    /// compressed whole, the server's in slices.
    #[tokio::test]
    async fn messages_round_trip_compressed() {
        for params in [
            DeflateParams {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            },
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 9,
                client_max_window_bits: 9,
            },
        ] {
            let (a, b) = tokio::io::duplex(1 << 20);
            let mut client_io = DeflateStream::new(a);
            let mut server_io = DeflateStream::new(b);
            client_io.negotiated(Some(&params), true, None);
            server_io.negotiated(Some(&params), false, None);
            let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
            let mut server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
            let mut client_deflater = params.client_deflater();
            let mut server_deflater = params.server_deflater();
            let big: String = "the quick brown fox ".repeat(20_000);
            let messages = [
                WireMessage::text(""),
                WireMessage::text("héllo"),
                WireMessage::binary(Vec::new()),
                WireMessage::text(""),
                WireMessage::text("after empty ones"),
                WireMessage::text(big.clone()),
                WireMessage::binary((0..=255u8).cycle().take(300_000).collect::<Vec<u8>>()),
                WireMessage::text(big),
            ];
            for message in &messages {
                client
                    .send(client_deflater.deflate(message.clone()))
                    .await
                    .unwrap();
                let received = server.next().await.unwrap().unwrap();
                assert_eq!(&received, message);
                // The server compresses a slice at a time, as a socket task does.
                let Ok(mut deflation) = server_deflater.start(received) else {
                    panic!("text and binary messages are compressed");
                };
                while !deflation.step(7_777) {}
                server.send(deflation.finish()).await.unwrap();
                assert_eq!(&client.next().await.unwrap().unwrap(), message);
            }
            assert_eq!(server.get_ref().inflated_messages(), messages.len() as u64);
            assert_eq!(client.get_ref().inflated_messages(), messages.len() as u64);
        }
    }

    #[tokio::test]
    async fn an_empty_compressed_payload_is_an_empty_message() {
        // As some peers send an empty message: RSV1, no payload at all.
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let (a, mut b) = tokio::io::duplex(1024);
        let mut io = DeflateStream::new(a);
        io.negotiated(Some(&params), true, None);
        let mut client = WebSocketStream::from_raw_socket(io, Role::Client, None).await;
        let mut deflater = params.server_deflater();
        let after = deflater.deflate(WireMessage::text("after"));
        tokio::io::AsyncWriteExt::write_all(&mut b, &[0xc1, 0x00])
            .await
            .unwrap();
        let mut server = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
        server.send(after).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap(), WireMessage::text(""));
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            WireMessage::text("after")
        );
    }

    #[tokio::test]
    async fn garbage_fails_to_inflate() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut io = DeflateStream::new(a);
        io.negotiated(
            Some(&DeflateParams {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            }),
            true,
            None,
        );
        let mut client = WebSocketStream::from_raw_socket(io, Role::Client, None).await;
        // A final text frame, RSV1 set, with an invalid block type (0b11).
        tokio::io::AsyncWriteExt::write_all(&mut b, &[0xc1, 0x02, 0xff, 0xff])
            .await
            .unwrap();
        match client.next().await {
            Some(Err(tokio_tungstenite::tungstenite::Error::Io(e))) => {
                assert!(is_inflate_error(&e), "{e}")
            }
            other => panic!("expected an inflate error, got {other:?}"),
        }
    }
}
