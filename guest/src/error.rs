//! The WIT's `error-code`, as the SDK's own type: wit-bindgen maps the WIT
//! type onto it (`with` in the bindings), so it can print messages people
//! read rather than its `Debug` form.

use crate::HandshakeRejection;

/// Why an operation or a connection failed: the WIT `error-code`, case for
/// case. Each case is precise enough for a program to act on; the string is
/// a message for people. `Display` prints both:
///
/// ```
/// use wit_websocket_guest::ErrorCode;
///
/// let error = ErrorCode::InvalidCloseCode(999);
/// assert_eq!(error.to_string(), "invalid close code 999: use 1000 or 3000-4999");
/// let error: Box<dyn std::error::Error> = Box::new(ErrorCode::Io("reset".into()));
/// assert_eq!(error.to_string(), "I/O error: reset");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The URL does not parse, is relative, has a fragment, or its scheme is
    /// not ws, wss, http or https.
    InvalidUrl(String),
    /// The host's network policy does not allow this guest to reach that
    /// host and port. The message names what would allow it.
    NotPermitted(String),
    /// The host name could not be resolved.
    DnsFailure(String),
    /// No server accepted the TCP connection.
    ConnectionRefused(String),
    /// TLS failed: the certificate is untrusted or for another host, or the
    /// TLS handshake broke off.
    Tls(String),
    /// The server answered the upgrade request with something other than a
    /// valid `101 Switching Protocols`.
    HandshakeRejected(HandshakeRejection),
    /// The peer broke RFC 6455.
    ProtocolViolation(String),
    /// A message is larger than the host allows (in either direction).
    MessageTooLarge(String),
    /// A host limit was reached: too many sockets, or too many bytes queued.
    LimitExceeded(String),
    /// The operation is not allowed in the socket's current state.
    InvalidState(String),
    /// A connect option is malformed.
    InvalidOptions(String),
    /// `send_utf8` was given bytes that are not valid UTF-8.
    InvalidUtf8(String),
    /// `close` was given a code other than 1000 or 3000..=4999 (the code given).
    InvalidCloseCode(u16),
    /// `close` was given a reason longer than 123 bytes of UTF-8 (its length).
    ReasonTooLong(u32),
    /// Connecting, the closing handshake or a keepalive ping took too long.
    Timeout(String),
    /// The connection broke: reset, unexpected end of stream, or another I/O error.
    Io(String),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Self::NotPermitted(why) => write!(f, "not permitted: {why}"),
            Self::DnsFailure(why) => write!(f, "DNS lookup failed: {why}"),
            Self::ConnectionRefused(why) => write!(f, "connection refused: {why}"),
            Self::Tls(why) => write!(f, "TLS failed: {why}"),
            Self::HandshakeRejected(rejection) => write!(
                f,
                "handshake rejected: HTTP {} {}",
                rejection.status, rejection.message
            ),
            Self::ProtocolViolation(why) => write!(f, "protocol violation: {why}"),
            Self::MessageTooLarge(why) => write!(f, "message too large: {why}"),
            Self::LimitExceeded(why) => write!(f, "limit exceeded: {why}"),
            Self::InvalidState(why) => write!(f, "invalid state: {why}"),
            Self::InvalidOptions(why) => write!(f, "invalid options: {why}"),
            Self::InvalidUtf8(why) => write!(f, "invalid UTF-8: {why}"),
            Self::InvalidCloseCode(code) => {
                write!(f, "invalid close code {code}: use 1000 or 3000-4999")
            }
            Self::ReasonTooLong(length) => {
                write!(
                    f,
                    "close reason too long: {length} bytes of UTF-8, at most 123"
                )
            }
            Self::Timeout(why) => write!(f, "timed out: {why}"),
            Self::Io(why) => write!(f, "I/O error: {why}"),
        }
    }
}

impl std::error::Error for ErrorCode {}
