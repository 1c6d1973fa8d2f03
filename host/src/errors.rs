//! How failures reach the guest and the peer: tungstenite's errors as the
//! guest's `error-code`, and the close codes the host sends and reports
//! (RFC 6455 §7.4.1).
//!
//! Pure mapping: no I/O, no state. The close codes a guest may send are
//! checked in [`crate::rules`].

use tokio_tungstenite::tungstenite::{self, error::ProtocolError};

use crate::bindings::{ErrorCode, HandshakeRejection};
use crate::compression;
use crate::tls;

/// The close code reported when a connection ended without a closing
/// handshake (RFC 6455 §7.1.5).
pub(crate) const ABNORMAL_CLOSURE: u16 = 1006;
/// The close code reported when the peer's close frame had no code.
pub(crate) const NO_STATUS_RECEIVED: u16 = 1005;
/// The close code sent when the guest destroys a live socket.
pub(crate) const GOING_AWAY: u16 = 1001;
/// The close code sent when the guest trapped.
pub(crate) const INTERNAL_ERROR: u16 = 1011;

/// The close code that tells the peer why we fail the connection.
pub(crate) fn failure_close_code(error: &tungstenite::Error) -> Option<u16> {
    match error {
        tungstenite::Error::Capacity(_) => Some(1009),
        tungstenite::Error::Utf8(_) => Some(1007),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        tungstenite::Error::Protocol(_) => Some(1002),
        tungstenite::Error::Io(e) if compression::is_inflate_error(e) => Some(1002),
        _ => None,
    }
}

/// Errors after both close frames were exchanged that still make a clean close:
/// the peer dropped TCP abruptly once the handshake was done.
pub(crate) fn is_late_close_error(error: &tungstenite::Error) -> bool {
    matches!(
        error,
        tungstenite::Error::Io(_)
            | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
    )
}

/// Errors of the HTTP upgrade: a response that is not a valid
/// `101 Switching Protocols` (bad accept key, a subprotocol not offered, ...)
/// is a rejected handshake, as the browser fails it.
pub(crate) fn handshake_error(error: tungstenite::Error) -> ErrorCode {
    match error {
        tungstenite::Error::Protocol(e) => ErrorCode::HandshakeRejected(HandshakeRejection {
            status: 101,
            message: format!("the server's upgrade response is invalid: {e}"),
        }),
        other => wire_error(other),
    }
}

/// Maps tungstenite's error to the guest's.
pub(crate) fn wire_error(error: tungstenite::Error) -> ErrorCode {
    use tungstenite::Error as E;
    match error {
        E::ConnectionClosed | E::AlreadyClosed => {
            ErrorCode::Io("the connection is closed".to_string())
        }
        E::Io(e) if compression::is_inflate_error(&e) => {
            ErrorCode::ProtocolViolation(e.to_string())
        }
        E::Io(e) if tls::is_tls_error(&e) => ErrorCode::Tls(e.to_string()),
        E::Io(e) => ErrorCode::Io(e.to_string()),
        E::Tls(e) => ErrorCode::Tls(e.to_string()),
        E::Capacity(e) => ErrorCode::MessageTooLarge(e.to_string()),
        E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            ErrorCode::Io("the connection was reset without a closing handshake".to_string())
        }
        E::Protocol(e) => ErrorCode::ProtocolViolation(e.to_string()),
        E::WriteBufferFull(_) => {
            ErrorCode::LimitExceeded("the socket's write buffer is full".to_string())
        }
        E::Utf8(e) => ErrorCode::ProtocolViolation(format!("invalid UTF-8 in a text message: {e}")),
        E::AttackAttempt => {
            ErrorCode::ProtocolViolation("the peer's traffic looks like an attack".to_string())
        }
        E::Url(e) => ErrorCode::InvalidUrl(e.to_string()),
        E::Http(response) => {
            let status = response.status();
            ErrorCode::HandshakeRejected(HandshakeRejection {
                status: status.as_u16(),
                message: format!(
                    "the server answered {} instead of 101 Switching Protocols",
                    status
                ),
            })
        }
        E::HttpFormat(e) => ErrorCode::HandshakeRejected(HandshakeRejection {
            status: 0,
            message: format!("the server's HTTP response is malformed: {e}"),
        }),
    }
}
