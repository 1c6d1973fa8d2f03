//! Limits and timeouts the host enforces on every guest.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use crate::dns::{Resolve, SystemResolver};
use crate::policy::{AllowList, NetworkPolicy};
use crate::proxy::ProxyConfig;
use crate::tls::ClientCertificate;

/// How often the epoch of an engine running guests should advance: the unit
/// of [`WebSocketConfig::callback_time_limit`].
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How much tungstenite reads at once. Its default, 128 KiB, is zero-filled
/// before every read, so each connection that reads at all keeps 128 KiB
/// resident: with 10,000 sockets, 1.3 GB. Larger messages still arrive
/// whole (the buffer grows to a frame's length), and the transport beneath
/// reads ahead in larger pieces while they stream in (`ReadAhead`). A
/// received message larger than this keeps the buffer it was read into.
pub(crate) const READ_BUFFER_SIZE: usize = 16 << 10;

/// What a guest may do with its WebSockets. Each field documents its default
/// and why.
///
/// ```
/// use std::time::Duration;
/// use wit_websocket_host::WebSocketConfig;
/// use wit_websocket_host::policy::AllowList;
///
/// // The defaults, a policy of the embedder's, and tighter limits for this tenant.
/// let config = WebSocketConfig {
///     max_sockets: 16,
///     max_message_size: 1 << 20,
///     connect_timeout: Duration::from_secs(10),
///     ..WebSocketConfig::with_policy(AllowList::deny_all().allow("*.example.com:443")?)
/// };
/// assert_eq!(config.max_queued_bytes, 8 << 20);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone)]
pub struct WebSocketConfig {
    /// Sockets a guest may have live at once. Default 256: far more than an
    /// app needs, few enough that a runaway loop cannot exhaust the host's
    /// file descriptors.
    pub max_sockets: usize,
    /// Sockets one `network-device` may have live at once. Default 256 (no
    /// tighter than `max_sockets`); lower it to split a guest's budget.
    pub max_sockets_per_device: usize,
    /// Socket handles a guest may hold at once, live or closed: a closed
    /// socket's handle still holds its URL and state until the guest drops
    /// it. Default 1,024 (four times `max_sockets`); past it
    /// `create-websocket` fails with `limit-exceeded`.
    pub max_held_sockets: usize,
    /// Network devices a guest may hold at once. Default 256; creating more
    /// traps (a device's constructor cannot fail in the WIT), as running out
    /// of any other resource would.
    pub max_devices: usize,
    /// DNS lookups one guest may have running at once, each on a thread of
    /// tokio's blocking pool (getaddrinfo blocks): more wait their turn, so a
    /// guest creating and destroying sockets cannot fill the pool and stall
    /// everyone else's. A lookup keeps its place until the resolver answers,
    /// even when the socket that asked is destroyed. Default 8.
    pub max_dns_lookups: usize,
    /// How host names become addresses. Default [`SystemResolver`]
    /// (getaddrinfo); see [`Resolve`] to use another.
    pub resolver: Arc<dyn Resolve>,
    /// Bytes of received messages a socket may hold for the guest before the
    /// host stops reading it, so TCP pushes back on the server instead of the
    /// host's memory growing. Each message counts its payload plus
    /// [`EVENT_OVERHEAD`](crate::device::EVENT_OVERHEAD) bytes, so empty
    /// messages are bounded too (65,536 of them at the default). Default
    /// 8 MiB. A single message larger than this (up to `max_message_size`)
    /// is still delivered, alone.
    pub max_queued_bytes: u64,
    /// The most `buffered-amount` may reach: a `send` that would exceed it is
    /// refused with `limit-exceeded` and nothing already accepted is dropped.
    /// Default 64 MiB, so any message the size limit allows fits when the
    /// socket is drained.
    pub max_buffered_amount: u64,
    /// The most messages a socket may have accepted and not yet written,
    /// whatever their size: past it `send` is refused with `limit-exceeded`,
    /// so a flood of empty sends is bounded as one of large ones is.
    /// Default 65,536.
    pub max_pending_sends: u64,
    /// How long one pushed callback (`on-open`, `on-message`, ...) may run
    /// before it is interrupted and the guest treated as trapped. Default 10 s,
    /// about when a browser offers to stop an unresponsive page. It takes
    /// effect when the engine has epoch interruption on and its epoch advances
    /// every [`EPOCH_TICK`] (as [`crate::runner::GuestRunner`] sets up).
    pub callback_time_limit: Duration,
    /// Watches (`network-device.watch`: timers and other wake-ups) a guest
    /// may have pending at once; past it `watch` fails with `limit-exceeded`.
    /// Default 1024: the SDKs keep one for all their timers, so this leaves
    /// room for per-socket writability and input, and bounds the host's
    /// per-wake-up work.
    pub max_watches: usize,
    /// Largest message, in bytes, in either direction. Default 64 MiB, as
    /// tungstenite's default: larger messages fail the connection (1009).
    pub max_message_size: usize,
    /// Largest single frame, in bytes. Default 16 MiB, as tungstenite's.
    pub max_frame_size: usize,
    /// How long DNS, TCP and the upgrade may take together when the guest
    /// sets no `connect-timeout-ms`. Default 30 s, about what browsers allow.
    pub connect_timeout: Duration,
    /// How long to wait for the peer to finish a closing handshake (or for a
    /// destroyed socket to close) before dropping the TCP connection.
    /// Default 5 s: long enough for a slow peer, short enough not to leak.
    pub close_timeout: Duration,
    /// Whether to offer permessage-deflate (RFC 7692) when the guest's
    /// connect options do not say. Default true, as browsers offer it.
    pub offer_compression: bool,
    /// Certificate authorities trusted for `wss://` besides the webpki roots
    /// (Mozilla's). Default none. See [`crate::tls::load_ca_file`]. Used with
    /// the `tls` feature; without it `wss://` fails with a `tls` error.
    pub extra_root_certificates: Vec<CertificateDer<'static>>,
    /// Client certificates presented to the servers they are for (mutual
    /// TLS), the first that matches the URL's host. Default none.
    pub client_certificates: Vec<ClientCertificate>,
    /// The proxies connections go through (HTTP `CONNECT`, SOCKS5). Default
    /// none: connections are direct. See [`ProxyConfig::from_env`].
    pub proxy: ProxyConfig,
    /// Which hosts and ports the guest may reach. Default: none, as
    /// wasmtime-wasi's sockets; the embedder decides (see [`AllowList`]).
    pub policy: Arc<dyn NetworkPolicy>,
}

impl WebSocketConfig {
    /// The default configuration with `policy` instead of deny-all.
    ///
    /// ```
    /// use wit_websocket_host::WebSocketConfig;
    /// use wit_websocket_host::policy::AllowList;
    ///
    /// let config = WebSocketConfig::with_policy(AllowList::allow_all().deny_private(true));
    /// assert_eq!(config.max_sockets, WebSocketConfig::default().max_sockets);
    /// ```
    pub fn with_policy(policy: impl NetworkPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            ..Self::default()
        }
    }
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            max_sockets: 256,
            max_sockets_per_device: 256,
            max_held_sockets: 1024,
            max_devices: 256,
            max_dns_lookups: 8,
            resolver: Arc::new(SystemResolver),
            max_queued_bytes: 8 << 20,
            max_buffered_amount: 64 << 20,
            max_pending_sends: 65_536,
            callback_time_limit: Duration::from_secs(10),
            max_watches: 1024,
            max_message_size: 64 << 20,
            max_frame_size: 16 << 20,
            connect_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            offer_compression: true,
            extra_root_certificates: Vec::new(),
            client_certificates: Vec::new(),
            proxy: ProxyConfig::default(),
            policy: Arc::new(AllowList::deny_all()),
        }
    }
}
