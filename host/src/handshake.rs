//! Opening a connection: dialling, TLS and the HTTP upgrade (RFC 6455 §4.1),
//! and what the handshake agreed (subprotocol, extensions, compression).
//!
//! Owns the path from a checked URL to an open [`Stream`]. It queues no
//! event and touches no socket state: the I/O task ([`crate::socket_task`])
//! does that with what this returns.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{
    self,
    client::IntoClientRequest,
    http::{HeaderName, HeaderValue},
    protocol::WebSocketConfig as WireConfig,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::bindings::{ConnectOptions, ErrorCode, HandshakeRejection};
use crate::compression::{self, MessageDeflater};
use crate::config::{READ_BUFFER_SIZE, WebSocketConfig};
use crate::dial::dial;
use crate::dns::Lookups;
use crate::errors::handshake_error;
use crate::policy::NetworkPolicy;
use crate::proxy::Proxy;
use crate::read_ahead::ReadAhead;
use crate::rules::Target;
use crate::tls::{self, ClientTls};

/// An open connection's stream: TCP, read ahead, TLS when `wss`, the
/// permessage-deflate layer, and tungstenite.
pub(crate) type Stream =
    WebSocketStream<compression::Transport<MaybeTlsStream<ReadAhead<TcpStream>>>>;

/// How to open a connection, besides the guest's options.
pub(crate) struct ConnectionSettings {
    tls: Option<ClientTls>,
    wire_config: WireConfig,
    /// Offer permessage-deflate.
    compression: bool,
    /// The proxy the embedder set for this destination.
    proxy: Option<Proxy>,
    /// How long the whole of it may take.
    pub(crate) timeout: Duration,
}

impl ConnectionSettings {
    /// What the configuration and the guest's options ask for `target`.
    pub(crate) fn new(
        target: &Target,
        tls: Option<ClientTls>,
        options: &ConnectOptions,
        config: &WebSocketConfig,
    ) -> Self {
        Self {
            tls,
            wire_config: WireConfig::default()
                .read_buffer_size(READ_BUFFER_SIZE)
                .max_message_size(Some(config.max_message_size))
                .max_frame_size(Some(config.max_frame_size)),
            compression: options.compression.unwrap_or(config.offer_compression),
            proxy: config
                .proxy
                .for_target(&target.as_connect_target())
                .cloned(),
            timeout: options
                .connect_timeout_ms
                .map(|ms| Duration::from_millis(ms.into()))
                .unwrap_or(config.connect_timeout),
        }
    }
}

/// An open connection and what its handshake agreed.
pub(crate) struct Connection {
    pub(crate) stream: Stream,
    pub(crate) protocol: String,
    pub(crate) extensions: String,
    /// Compresses what we send, when deflate was agreed.
    pub(crate) deflater: Option<MessageDeflater>,
}

/// Dials `target`, secures the connection and upgrades it.
pub(crate) async fn open(
    target: &Target,
    policy: &dyn NetworkPolicy,
    options: &ConnectOptions,
    settings: ConnectionSettings,
    lookups: &Lookups,
) -> Result<Connection, ErrorCode> {
    let request = build_request(target, options, settings.compression)?;
    let tcp = dial(
        &target.as_connect_target(),
        settings.proxy.as_ref(),
        policy,
        lookups,
    )
    .await?;
    let transport = tls::secure(settings.tls, &target.host, ReadAhead::new(tcp)).await?;
    let max_frame_size = settings.wire_config.max_frame_size;
    let (mut stream, response) = tokio_tungstenite::client_async_with_config(
        request,
        compression::wrap(transport),
        Some(settings.wire_config),
    )
    .await
    .map_err(handshake_error)?;
    let headers = |name: &str| -> Vec<&str> {
        response
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    let extensions = headers("sec-websocket-extensions");
    let deflater = compression::accept(
        stream.get_mut(),
        &extensions,
        settings.compression,
        max_frame_size,
    )
    .map_err(|message| {
        ErrorCode::HandshakeRejected(HandshakeRejection {
            status: 101,
            message,
        })
    })?;
    let protocol = selected_protocol(&headers("sec-websocket-protocol"), &options.protocols)
        .map_err(|message| {
            ErrorCode::HandshakeRejected(HandshakeRejection {
                status: 101,
                message,
            })
        })?;
    Ok(Connection {
        protocol,
        extensions: extensions.join(", "),
        deflater,
        stream,
    })
}

/// The subprotocol the server's `Sec-WebSocket-Protocol` selected: at most
/// one header with one value, one of those offered (RFC 6455 §4.1: else the
/// client must fail the connection).
fn selected_protocol(values: &[&str], offered: &[String]) -> Result<String, String> {
    match values {
        [] => Ok(String::new()),
        [value] if offered.iter().any(|p| p == value) => Ok(value.to_string()),
        [value] => Err(format!(
            "the server selected the subprotocol {value:?}, which was not offered"
        )),
        _ => Err(format!(
            "the server selected {} subprotocols ({}); it must select one",
            values.len(),
            values.join(", ")
        )),
    }
}

/// The upgrade request: the URL, the subprotocols and extension offered, and
/// the guest's headers (which [`crate::rules::check_options`] checked).
fn build_request(
    target: &Target,
    options: &ConnectOptions,
    compression: bool,
) -> Result<tungstenite::handshake::client::Request, ErrorCode> {
    let mut request = target
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| ErrorCode::InvalidUrl(e.to_string()))?;
    let headers = request.headers_mut();
    let invalid = |e: &dyn std::fmt::Display| ErrorCode::InvalidOptions(e.to_string());
    if !options.protocols.is_empty() {
        let value =
            HeaderValue::from_str(&options.protocols.join(", ")).map_err(|e| invalid(&e))?;
        headers.insert("sec-websocket-protocol", value);
    }
    if let Some(offer) = compression::offer(compression) {
        headers.insert("sec-websocket-extensions", HeaderValue::from_static(offer));
    }
    for (name, value) in &options.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(&e))?;
        let value = HeaderValue::from_str(value).map_err(|e| invalid(&e))?;
        headers.append(name, value);
    }
    Ok(request)
}
