//! Name resolution for connections: the system's resolver by default, or the
//! embedder's ([`WebSocketConfig::resolver`](crate::WebSocketConfig::resolver)),
//! with each guest's lookups capped
//! ([`WebSocketConfig::max_dns_lookups`](crate::WebSocketConfig::max_dns_lookups)).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::bindings::ErrorCode;

/// Resolves a host name to the addresses a connection may try, as reqwest's
/// and hyper's resolvers do: implement it to use DNS over HTTPS, a service
/// registry, a cache of the embedder's, or a fixed table. The policy judges
/// every address it returns before any is dialled.
///
/// ```
/// use std::net::SocketAddr;
/// use std::sync::Arc;
/// use wit_websocket_host::WebSocketConfig;
/// use wit_websocket_host::dns::Resolve;
///
/// /// Every name is the one backend.
/// #[derive(Debug)]
/// struct Backend(std::net::IpAddr);
///
/// #[async_trait::async_trait]
/// impl Resolve for Backend {
///     async fn resolve(&self, _host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
///         Ok(vec![SocketAddr::new(self.0, port)])
///     }
/// }
///
/// let config = WebSocketConfig {
///     resolver: Arc::new(Backend([127, 0, 0, 1].into())),
///     ..WebSocketConfig::default()
/// };
/// # let _ = config;
/// ```
#[async_trait::async_trait]
pub trait Resolve: std::fmt::Debug + Send + Sync + 'static {
    /// The addresses of `host` (a name, never an IP literal), with `port`.
    /// An error, or no address, fails the connection with `dns-failure`.
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system's resolver: `getaddrinfo` (so `/etc/hosts`, `nsswitch.conf`
/// and the system's DNS servers), on a thread of tokio's blocking pool
/// because it blocks. The default.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use wit_websocket_host::dns::{Resolve, SystemResolver};
///
/// let addresses = SystemResolver.resolve("localhost", 80).await?;
/// assert!(addresses.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let host = host.to_string();
        tokio::task::spawn_blocking(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Iterator::collect)
        })
        .await?
    }
}

/// One guest's lookups: its resolver and the permits that cap how many run
/// at once.
#[derive(Debug, Clone)]
pub(crate) struct Lookups {
    resolver: Arc<dyn Resolve>,
    permits: Arc<Semaphore>,
}

impl Lookups {
    pub(crate) fn new(resolver: Arc<dyn Resolve>, max_lookups: usize) -> Self {
        Self {
            resolver,
            permits: Arc::new(Semaphore::new(max_lookups.max(1))),
        }
    }

    /// The addresses of `host`: an IP address as it is, a name from the
    /// resolver. A lookup runs as a task of its own holding one permit until
    /// the resolver answers, even when the socket that asked is gone by then:
    /// so a guest that creates and destroys sockets in a loop has at most
    /// `max_lookups` lookups running (and, with the system resolver, at most
    /// that many of the blocking pool's threads), never an unbounded pile.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, ErrorCode> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let failed = |e: &dyn std::fmt::Display| ErrorCode::DnsFailure(format!("{host}: {e}"));
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| failed(&e))?;
        let resolver = self.resolver.clone();
        let name = host.to_string();
        let lookup = tokio::spawn(async move {
            let _permit = permit;
            resolver.resolve(&name, port).await
        });
        match lookup.await {
            Ok(Ok(addresses)) => Ok(addresses),
            Ok(Err(e)) => Err(failed(&e)),
            Err(e) => Err(failed(&e)),
        }
    }
}
