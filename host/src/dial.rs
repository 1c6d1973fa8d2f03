//! Dialling: from a destination the guest named to a TCP connection the
//! policy allowed. The name is resolved once, by the guest's resolver; the
//! policy judges the addresses actually dialled; a configured proxy is
//! reached first and asked for a tunnel.
//!
//! Owns the way out of the host for a guest's connections. It knows nothing
//! of WebSockets or HTTP above the TCP stream, and must never resolve a name
//! twice (a second answer could differ from the one the policy judged).

use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::bindings::ErrorCode;
use crate::dns::Lookups;
use crate::policy::{ConnectTarget, NetworkPolicy};
use crate::proxy::{self, Destination, Proxy, ProxyKind};

/// Connects to `target`, directly or through `proxy`, with Nagle's
/// algorithm off (messages are written whole; it would only add latency).
pub(crate) async fn dial(
    target: &ConnectTarget<'_>,
    proxy: Option<&Proxy>,
    policy: &dyn NetworkPolicy,
    lookups: &Lookups,
) -> Result<TcpStream, ErrorCode> {
    let tcp = match proxy {
        Some(proxy) => {
            tracing::debug!(%proxy, "through a proxy");
            through_proxy(proxy, target, policy, lookups).await?
        }
        None => {
            let resolved = lookups.resolve(target.host, target.port).await?;
            connect_any(&permitted(resolved, target, policy)?).await?
        }
    };
    tcp.set_nodelay(true)
        .map_err(|e| ErrorCode::Io(format!("setting TCP_NODELAY: {e}")))?;
    Ok(tcp)
}

/// Opens a TCP tunnel through `proxy` to `target`: to its name, for proxies
/// that resolve it, or to an address the host resolved and `policy` passed.
async fn through_proxy(
    proxy: &Proxy,
    target: &ConnectTarget<'_>,
    policy: &dyn NetworkPolicy,
    lookups: &Lookups,
) -> Result<TcpStream, ErrorCode> {
    // With local DNS the destination is resolved and judged first: nothing
    // is dialled, not even the proxy, for a destination the policy refuses.
    let destination = match proxy.kind() {
        ProxyKind::Socks5 { remote_dns: false } => {
            let resolved = lookups.resolve(target.host, target.port).await?;
            // Never empty: `permitted` fails when the policy lets none through.
            Destination::Address(permitted(resolved, target, policy)?[0])
        }
        _ => Destination::Name(target.host, target.port),
    };
    let proxy_addresses = lookups.resolve(&proxy.host, proxy.port).await?;
    let tcp = connect_any(&proxy_addresses)
        .await
        .map_err(|error| match error {
            ErrorCode::ConnectionRefused(why) => {
                ErrorCode::ConnectionRefused(format!("the proxy {proxy}: {why}"))
            }
            other => other,
        })?;
    proxy::open_tunnel(tcp, proxy, destination).await
}

/// The addresses `policy` lets the guest reach; when it lets none, why not.
fn permitted(
    resolved: Vec<SocketAddr>,
    target: &ConnectTarget<'_>,
    policy: &dyn NetworkPolicy,
) -> Result<Vec<SocketAddr>, ErrorCode> {
    let mut refusal = None;
    let addresses: Vec<_> = resolved
        .into_iter()
        .filter(|address| match policy.check_address(target, address.ip()) {
            Ok(()) => true,
            Err(message) => {
                tracing::info!(%address, reason = %message, "not permitted");
                refusal.get_or_insert(message);
                false
            }
        })
        .collect();
    if addresses.is_empty() {
        return Err(match refusal {
            Some(message) => ErrorCode::NotPermitted(message),
            None => ErrorCode::DnsFailure(format!("{} has no addresses", target.host)),
        });
    }
    Ok(addresses)
}

/// Connects to the first address that accepts, as browsers try each in turn.
async fn connect_any(addresses: &[SocketAddr]) -> Result<TcpStream, ErrorCode> {
    let mut failure = ErrorCode::DnsFailure("no address to connect to".to_string());
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                failure = ErrorCode::ConnectionRefused(format!("{address}: {error}"));
            }
            Err(error) => failure = ErrorCode::Io(format!("connecting to {address}: {error}")),
        }
    }
    Err(failure)
}
