//! Proxies: the host reaches servers through an HTTP `CONNECT` or SOCKS5
//! proxy when the embedder configures one ([`ProxyConfig`], the CLI's
//! `--proxy` and `--proxy-from-env`). The guest never chooses or sees it.
//!
//! The network policy still judges the destination the guest asked for; the
//! proxy's own address is the embedder's choice and is not checked. Where the
//! proxy resolves names (`http://` and `socks5h://`), the policy's address
//! checks apply to addresses written in the URL only; with `socks5://` the
//! host resolves and checks every address first. TLS (`wss://`) runs end to
//! end through the tunnel.
//!
//! Owns the proxy configuration and the two tunnel protocols spoken over a
//! connection to the proxy; reaching the proxy (DNS, policy, TCP) is
//! the `dial` module's.

use std::fmt;
use std::net::SocketAddr;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bindings::{ErrorCode, HandshakeRejection};
use crate::policy::ConnectTarget;

/// The port a proxy URL without one gets, as curl gives it.
const DEFAULT_PROXY_PORT: u16 = 1080;

/// The longest `CONNECT` response head the host reads.
const MAX_RESPONSE_HEAD: usize = 16 << 10;

/// How the host talks to a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP `CONNECT` (`http://`): the proxy resolves the destination's name.
    HttpConnect,
    /// SOCKS5 (`socks5://`: the host resolves the name; `socks5h://`: the proxy does).
    Socks5 {
        /// The proxy resolves the destination's name (`socks5h://`).
        remote_dns: bool,
    },
}

/// One proxy: where it is, how to talk to it, and the credentials it wants.
///
/// ```
/// use wit_websocket_host::proxy::{Proxy, ProxyKind};
///
/// let proxy = Proxy::parse("http://alice:s%3Acret@proxy.internal:3128")?;
/// assert_eq!(proxy.kind(), ProxyKind::HttpConnect);
/// assert_eq!(proxy.to_string(), "http://alice@proxy.internal:3128"); // no password
/// let socks = Proxy::parse("socks5h://127.0.0.1")?;
/// assert_eq!(socks.kind(), ProxyKind::Socks5 { remote_dns: true });
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    pub(crate) host: String,
    pub(crate) port: u16,
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// Parses a proxy URL as curl takes one: `http://`, `socks5://` or
    /// `socks5h://`, with optional `USER:PASSWORD@` (percent-encoded) and
    /// port (default 1080). A URL without a scheme is an HTTP proxy.
    ///
    /// ```
    /// use wit_websocket_host::proxy::Proxy;
    ///
    /// assert!(Proxy::parse("socks5://[::1]:1080").is_ok());
    /// assert!(Proxy::parse("proxy.internal:3128").is_ok()); // http://
    /// assert!(Proxy::parse("ftp://proxy.internal").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid proxy URL {input:?}: {why}");
        let with_scheme = match input.contains("://") {
            true => input.to_string(),
            false => format!("http://{input}"),
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        let kind = match url.scheme() {
            "http" => ProxyKind::HttpConnect,
            "socks5" => ProxyKind::Socks5 { remote_dns: false },
            "socks5h" => ProxyKind::Socks5 { remote_dns: true },
            other => {
                return Err(bad(&format!(
                    "{other}:// is not http://, socks5:// or socks5h://"
                )));
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(address)) => address.to_string(),
            Some(host) => host.to_string(),
            None => return Err(bad("no host")),
        };
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| bad("credentials are not UTF-8"))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some((decode(user)?, decode(password.unwrap_or_default())?)),
        };
        Ok(Self {
            kind,
            host,
            port: url.port().unwrap_or(DEFAULT_PROXY_PORT),
            credentials,
        })
    }

    /// How the host talks to this proxy.
    ///
    /// ```
    /// use wit_websocket_host::proxy::{Proxy, ProxyKind};
    ///
    /// assert_eq!(Proxy::parse("socks5://127.0.0.1:1080")?.kind(), ProxyKind::Socks5 { remote_dns: false });
    /// # Ok::<(), String>(())
    /// ```
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's `host:port`, as the host connects to it.
    ///
    /// ```
    /// use wit_websocket_host::proxy::Proxy;
    ///
    /// assert_eq!(Proxy::parse("http://[::1]:3128")?.address(), "[::1]:3128");
    /// # Ok::<(), String>(())
    /// ```
    pub fn address(&self) -> String {
        authority(&self.host, self.port)
    }
}

/// The URL without the password: what logs and error messages show.
impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.kind {
            ProxyKind::HttpConnect => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        };
        let user = match &self.credentials {
            Some((user, _)) => format!("{user}@"),
            None => String::new(),
        };
        write!(f, "{scheme}://{user}{}", self.address())
    }
}

/// Never shows the password.
impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self})")
    }
}

/// Which proxy, if any, each connection goes through: one for `ws://`, one
/// for `wss://`, and the hosts reached directly (curl's `NO_PROXY`).
///
/// ```
/// use wit_websocket_host::WebSocketConfig;
/// use wit_websocket_host::proxy::{Proxy, ProxyConfig};
///
/// let config = WebSocketConfig {
///     proxy: ProxyConfig::all(Proxy::parse("socks5h://127.0.0.1:1080")?),
///     ..WebSocketConfig::default()
/// };
/// # let _ = config;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// The proxy for `ws://` URLs.
    pub ws: Option<Proxy>,
    /// The proxy for `wss://` URLs.
    pub wss: Option<Proxy>,
    /// Hosts reached without a proxy: `*` (all), a name (`example.com`, also
    /// matching its subdomains; a leading `.` is ignored), or an IP address.
    pub no_proxy: Vec<String>,
}

impl ProxyConfig {
    /// Every connection through `proxy`.
    ///
    /// ```
    /// use wit_websocket_host::proxy::{Proxy, ProxyConfig};
    ///
    /// let proxies = ProxyConfig::all(Proxy::parse("http://127.0.0.1:3128")?);
    /// assert_eq!(proxies.ws, proxies.wss);
    /// # Ok::<(), String>(())
    /// ```
    pub fn all(proxy: Proxy) -> Self {
        Self {
            ws: Some(proxy.clone()),
            wss: Some(proxy),
            no_proxy: Vec::new(),
        }
    }

    /// The proxies curl would use, from this process's environment:
    /// `HTTPS_PROXY` (or `https_proxy`) for `wss://`, `http_proxy` (or
    /// `HTTP_PROXY`) for `ws://`, `ALL_PROXY` (or `all_proxy`) for either
    /// when unset, and `NO_PROXY` (or `no_proxy`).
    ///
    /// ```no_run
    /// use wit_websocket_host::proxy::ProxyConfig;
    ///
    /// let proxies = ProxyConfig::from_env()?;
    /// # let _ = proxies;
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), with the variables from `get`.
    ///
    /// ```
    /// use wit_websocket_host::proxy::ProxyConfig;
    ///
    /// let vars = |name: &str| match name {
    ///     "HTTPS_PROXY" => Some("http://proxy.internal:3128".to_string()),
    ///     "NO_PROXY" => Some("localhost,.internal".to_string()),
    ///     _ => None,
    /// };
    /// let proxies = ProxyConfig::from_vars(vars)?;
    /// assert!(proxies.wss.is_some() && proxies.ws.is_none());
    /// assert_eq!(proxies.no_proxy, ["localhost", ".internal"]);
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let first = |names: &[&str]| {
            names
                .iter()
                .filter_map(|name| get(name))
                .find(|value| !value.trim().is_empty())
        };
        let parse = |value: Option<String>| value.map(|url| Proxy::parse(url.trim())).transpose();
        let all = parse(first(&["ALL_PROXY", "all_proxy"]))?;
        // curl reads no upper-case HTTP_PROXY unless the lower-case one is
        // unset: CGI puts a request's `Proxy:` header in HTTP_PROXY.
        let ws = parse(first(&["http_proxy", "HTTP_PROXY"]))?.or_else(|| all.clone());
        let wss = parse(first(&["HTTPS_PROXY", "https_proxy"]))?.or(all);
        let no_proxy = first(&["NO_PROXY", "no_proxy"])
            .map(|list| {
                list.split(',')
                    .map(|entry| entry.trim().to_string())
                    .filter(|entry| !entry.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self { ws, wss, no_proxy })
    }

    /// The proxy a connection to `target` goes through, if any.
    ///
    /// ```
    /// use wit_websocket_host::policy::ConnectTarget;
    /// use wit_websocket_host::proxy::{Proxy, ProxyConfig};
    ///
    /// let mut proxies = ProxyConfig::all(Proxy::parse("http://127.0.0.1:3128")?);
    /// proxies.no_proxy = vec!["internal.example".into()];
    /// let to = |host| ConnectTarget { scheme: "wss", host, port: 443 };
    /// assert!(proxies.for_target(&to("example.com")).is_some());
    /// assert!(proxies.for_target(&to("chat.internal.example")).is_none());
    /// # Ok::<(), String>(())
    /// ```
    pub fn for_target(&self, target: &ConnectTarget<'_>) -> Option<&Proxy> {
        let proxy = match target.scheme {
            "wss" => self.wss.as_ref(),
            _ => self.ws.as_ref(),
        }?;
        let host = target.host.to_ascii_lowercase();
        let bypassed = self.no_proxy.iter().any(|entry| {
            let entry = entry.trim_start_matches('.').to_ascii_lowercase();
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            entry == "*"
                || host == entry
                || (host.len() > entry.len()
                    && host.ends_with(entry)
                    && host.as_bytes()[host.len() - entry.len() - 1] == b'.')
        });
        (!bypassed).then_some(proxy)
    }
}

/// `host:port`, with brackets around an IPv6 address.
fn authority(host: &str, port: u16) -> String {
    match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// Where the tunnel leads: a name the proxy resolves, or an address the
/// host resolved (and the policy judged).
pub(crate) enum Destination<'a> {
    /// A host name (or address literal) and port, resolved by the proxy.
    Name(&'a str, u16),
    /// An address resolved by the host.
    Address(SocketAddr),
}

/// Asks the proxy at the other end of `tcp` for a tunnel to `destination`;
/// the tunnel once it agrees.
pub(crate) async fn open_tunnel(
    tcp: TcpStream,
    proxy: &Proxy,
    destination: Destination<'_>,
) -> Result<TcpStream, ErrorCode> {
    match (proxy.kind, destination) {
        (ProxyKind::HttpConnect, Destination::Name(host, port)) => {
            http_connect(tcp, proxy, host, port).await
        }
        (ProxyKind::HttpConnect, Destination::Address(address)) => {
            http_connect(tcp, proxy, &address.ip().to_string(), address.port()).await
        }
        (ProxyKind::Socks5 { .. }, Destination::Address(address)) => {
            socks5(tcp, proxy, address).await
        }
        (ProxyKind::Socks5 { .. }, Destination::Name(host, port)) => {
            socks5(tcp, proxy, (host, port)).await
        }
    }
}

/// An HTTP `CONNECT` to `host:port` over `tcp`; the tunnel once the proxy
/// answers 2xx.
async fn http_connect(
    mut tcp: TcpStream,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<TcpStream, ErrorCode> {
    let destination = authority(host, port);
    let mut request = format!("CONNECT {destination} HTTP/1.1\r\nHost: {destination}\r\n");
    if let Some((user, password)) = &proxy.credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let io = |e: std::io::Error| ErrorCode::Io(format!("the proxy {proxy}: {e}"));
    tcp.write_all(request.as_bytes()).await.map_err(io)?;
    // The destination speaks only after the client does, so nothing may
    // follow the response head: read until its end, in small pieces.
    let mut head = Vec::with_capacity(256);
    let mut piece = [0; 512];
    let end = loop {
        let read = tcp.read(&mut piece).await.map_err(io)?;
        if read == 0 {
            return Err(ErrorCode::ConnectionRefused(format!(
                "the proxy {proxy} closed the connection without answering CONNECT {destination}"
            )));
        }
        head.extend_from_slice(&piece[..read]);
        if let Some(end) = head.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        if head.len() > MAX_RESPONSE_HEAD {
            return Err(ErrorCode::ProtocolViolation(format!(
                "the proxy {proxy} answered CONNECT with a head over {MAX_RESPONSE_HEAD} bytes"
            )));
        }
    };
    if end + 4 != head.len() {
        return Err(ErrorCode::ProtocolViolation(format!(
            "the proxy {proxy} sent data before the tunnel was used"
        )));
    }
    let status_line = String::from_utf8_lossy(&head[..end]);
    let status_line = status_line.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let status = match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(status))) if version.starts_with("HTTP/1.") => status,
        _ => {
            return Err(ErrorCode::ProtocolViolation(format!(
                "the proxy {proxy} answered CONNECT with {status_line:?}"
            )));
        }
    };
    if (200..300).contains(&status) {
        return Ok(tcp);
    }
    let hint = match (status, &proxy.credentials) {
        (407, None) => {
            " (it wants credentials: give them in the proxy URL, http://USER:PASSWORD@HOST:PORT)"
        }
        (407, Some(_)) => " (it refused the credentials)",
        _ => "",
    };
    Err(ErrorCode::HandshakeRejected(HandshakeRejection {
        status,
        message: format!("the proxy {proxy} refused CONNECT {destination}: {status_line}{hint}"),
    }))
}

/// A SOCKS5 `CONNECT` to `destination` over `tcp`, with the proxy's
/// credentials if it has any.
async fn socks5<'t>(
    tcp: TcpStream,
    proxy: &Proxy,
    destination: impl tokio_socks::IntoTargetAddr<'t>,
) -> Result<TcpStream, ErrorCode> {
    let connected = match &proxy.credentials {
        Some((user, password)) => {
            tokio_socks::tcp::Socks5Stream::connect_with_password_and_socket(
                tcp,
                destination,
                user,
                password,
            )
            .await
        }
        None => tokio_socks::tcp::Socks5Stream::connect_with_socket(tcp, destination).await,
    };
    match connected {
        Ok(stream) => Ok(stream.into_inner()),
        // Some servers hang up instead of answering a refusal (RFC 1929 lets
        // them close after a failed authentication).
        Err(tokio_socks::Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(ErrorCode::ConnectionRefused(format!(
                "the SOCKS5 proxy {proxy} refused the connection: it hung up during its handshake{}",
                match proxy.credentials {
                    Some(_) => " (wrong credentials?)",
                    None => " (does it want credentials? socks5://USER:PASSWORD@HOST:PORT)",
                }
            )))
        }
        Err(tokio_socks::Error::Io(e)) => Err(ErrorCode::Io(format!("the proxy {proxy}: {e}"))),
        Err(error) => Err(ErrorCode::ConnectionRefused(format!(
            "the SOCKS5 proxy {proxy} refused the connection: {error}"
        ))),
    }
}
