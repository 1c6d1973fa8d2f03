//! The network policy: which hosts and ports a guest may reach.
//!
//! The host is the guest's only door to the network, so every connection
//! attempt asks the policy twice: with the URL's host and port before
//! anything is resolved, and with each resolved address before connecting
//! (so an allowed name that resolves to a forbidden address is refused).

use std::fmt;
use std::net::IpAddr;

/// What a guest is trying to reach.
///
/// ```
/// use wit_websocket_host::policy::{AllowList, ConnectTarget, NetworkPolicy};
///
/// let target = ConnectTarget { scheme: "wss", host: "chat.example.com", port: 443 };
/// let policy = AllowList::deny_all().allow("*.example.com")?;
/// assert!(policy.check_host(&target).is_ok());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ConnectTarget<'a> {
    /// `ws` or `wss`.
    pub scheme: &'a str,
    /// The host as written in the URL (a name, or an IP address without brackets).
    pub host: &'a str,
    /// The port, defaulted by scheme.
    pub port: u16,
}

/// Decides which connection attempts a guest may make. `Err` carries the
/// message the guest receives with `not-permitted`: say what would allow it.
///
/// ```
/// use std::net::IpAddr;
/// use wit_websocket_host::WebSocketConfig;
/// use wit_websocket_host::policy::{ConnectTarget, NetworkPolicy};
///
/// /// A tenant may reach its own backend only, over TLS.
/// #[derive(Debug)]
/// struct TenantBackend {
///     host: String,
/// }
///
/// impl NetworkPolicy for TenantBackend {
///     fn check_host(&self, target: &ConnectTarget<'_>) -> Result<(), String> {
///         match target.scheme == "wss" && target.host == self.host {
///             true => Ok(()),
///             false => Err(format!("this tenant may reach wss://{} only", self.host)),
///         }
///     }
///
///     fn check_address(&self, _target: &ConnectTarget<'_>, address: IpAddr) -> Result<(), String> {
///         match address.is_loopback() {
///             true => Err("the backend's name must not resolve to loopback".to_string()),
///             false => Ok(()),
///         }
///     }
/// }
///
/// let config = WebSocketConfig::with_policy(TenantBackend { host: "api.example.com".into() });
/// # let _ = config;
/// ```
pub trait NetworkPolicy: fmt::Debug + Send + Sync + 'static {
    /// Checked in `create-websocket`, before any DNS lookup.
    ///
    /// ```
    /// use wit_websocket_host::policy::{AllowList, ConnectTarget, NetworkPolicy};
    ///
    /// let target = ConnectTarget { scheme: "ws", host: "127.0.0.1", port: 9001 };
    /// let error = AllowList::deny_all().check_host(&target).unwrap_err();
    /// assert!(error.contains("--allow-net=127.0.0.1:9001"), "{error}");
    /// ```
    fn check_host(&self, target: &ConnectTarget<'_>) -> Result<(), String>;

    /// Checked for each address `target.host` resolves to, before connecting.
    ///
    /// ```
    /// use wit_websocket_host::policy::{AllowList, ConnectTarget, NetworkPolicy};
    ///
    /// let target = ConnectTarget { scheme: "ws", host: "intranet.test", port: 80 };
    /// let policy = AllowList::allow_all().deny_private(true);
    /// assert!(policy.check_address(&target, "10.0.0.7".parse().unwrap()).is_err());
    /// assert!(policy.check_address(&target, "93.184.216.34".parse().unwrap()).is_ok());
    /// ```
    fn check_address(&self, target: &ConnectTarget<'_>, address: IpAddr) -> Result<(), String> {
        let _ = (target, address);
        Ok(())
    }
}

/// One `HOST[:PORT]` entry of an allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// Lower-case host; a leading `*.` matches any subdomain.
    host: String,
    /// `None` allows every port.
    port: Option<u16>,
}

impl Rule {
    fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let bad = |why: &str| format!("invalid --allow-net entry {entry:?}: {why}");
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            // [v6]:port or [v6]
            let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ]"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("expected :PORT after ]"))?,
                ),
            };
            (host, port)
        } else {
            match entry.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (entry, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number from 0 to 65535"))
            })
            .transpose()?;
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        let host_matches = match self.host.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => self.host == host,
        };
        host_matches && self.port.is_none_or(|p| p == port)
    }
}

/// The ports browsers refuse to connect to (the Fetch standard's "bad
/// ports"): services a WebSocket handshake could be smuggled into (SMTP,
/// IRC, SIP, …). [`AllowList`] refuses them unless an entry names the port.
pub const BAD_PORTS: &[u16] = &[
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
    102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427,
    465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990,
    993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667,
    6668, 6669, 6679, 6697, 10080,
];

/// True for a port on the Fetch standard's bad-port list ([`BAD_PORTS`]).
///
/// ```
/// use wit_websocket_host::policy::is_bad_port;
///
/// assert!(is_bad_port(25)); // SMTP
/// assert!(!is_bad_port(443));
/// ```
pub fn is_bad_port(port: u16) -> bool {
    BAD_PORTS.binary_search(&port).is_ok()
}

/// The allow-list policy of the CLI, like Deno's `--allow-net`: deny
/// everything unless allowed, by host with optional port and `*.` wildcards,
/// and optionally refuse loopback, private and link-local addresses even for
/// allowed names (`--deny-private`).
///
/// Whatever it allows, it refuses, unless an entry names them exactly:
/// the browsers' bad ports ([`BAD_PORTS`]: `--allow-net=mail.test:25`
/// allows that one), and link-local addresses, where clouds serve instance
/// metadata and credentials (`169.254.169.254`; `--allow-net=169.254.169.254`
/// allows it).
///
/// ```
/// use wit_websocket_host::policy::{AllowList, ConnectTarget, NetworkPolicy};
///
/// // --allow-net=127.0.0.1:9001,*.example.com
/// let policy = AllowList::deny_all().allow("127.0.0.1:9001,*.example.com")?;
/// let to = |host, port| ConnectTarget { scheme: "ws", host, port };
/// assert!(policy.check_host(&to("127.0.0.1", 9001)).is_ok());
/// assert!(policy.check_host(&to("chat.example.com", 80)).is_ok());
/// assert!(policy.check_host(&to("127.0.0.1", 9002)).is_err());
/// assert!(policy.check_host(&to("chat.example.com", 25)).is_err()); // a bad port
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    all: bool,
    rules: Vec<Rule>,
    deny_private: bool,
}

impl AllowList {
    /// Allows nothing (the default).
    ///
    /// ```
    /// use wit_websocket_host::policy::{AllowList, ConnectTarget, NetworkPolicy};
    ///
    /// let target = ConnectTarget { scheme: "wss", host: "example.com", port: 443 };
    /// assert!(AllowList::deny_all().check_host(&target).is_err());
    /// ```
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// Allows every host and port.
    ///
    /// ```
    /// use wit_websocket_host::policy::{AllowList, ConnectTarget, NetworkPolicy};
    ///
    /// let target = ConnectTarget { scheme: "wss", host: "example.com", port: 443 };
    /// assert!(AllowList::allow_all().check_host(&target).is_ok());
    /// ```
    pub fn allow_all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Adds comma-separated `HOST[:PORT]` entries (`*.example.com`,
    /// `127.0.0.1:9001`, `[::1]`).
    ///
    /// ```
    /// use wit_websocket_host::policy::AllowList;
    ///
    /// let policy = AllowList::deny_all().allow("*.example.com,[::1]:9001")?;
    /// assert!(AllowList::deny_all().allow("[::1").is_err());
    /// # let _ = policy;
    /// # Ok::<(), String>(())
    /// ```
    pub fn allow(mut self, entries: &str) -> Result<Self, String> {
        for entry in entries.split(',').filter(|e| !e.trim().is_empty()) {
            self.rules.push(Rule::parse(entry)?);
        }
        Ok(self)
    }

    /// Refuses loopback, private, link-local and other non-public addresses,
    /// whatever name led to them.
    ///
    /// ```
    /// use wit_websocket_host::policy::{AllowList, ConnectTarget, NetworkPolicy};
    ///
    /// let target = ConnectTarget { scheme: "ws", host: "localhost", port: 9001 };
    /// let policy = AllowList::deny_all().allow("localhost")?.deny_private(true);
    /// assert!(policy.check_address(&target, "127.0.0.1".parse().unwrap()).is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn deny_private(mut self, deny: bool) -> Self {
        self.deny_private = deny;
        self
    }
}

impl AllowList {
    /// An entry names exactly this host (and this port, when `port` is given).
    fn names(&self, host: &str, port: Option<u16>) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.host == host && (port.is_none() || rule.port == port))
    }
}

/// `host:port` as the `--allow-net` entry that names it.
fn entry(host: &str, port: u16) -> String {
    match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

impl NetworkPolicy for AllowList {
    fn check_host(&self, target: &ConnectTarget<'_>) -> Result<(), String> {
        let host = target.host.to_ascii_lowercase();
        let shown = entry(&host, target.port);
        if is_bad_port(target.port) && !self.names(&host, Some(target.port)) {
            return Err(format!(
                "port {} is one browsers refuse (it serves another protocol); run with --allow-net={shown} to allow it",
                target.port
            ));
        }
        if self.all
            || self
                .rules
                .iter()
                .any(|rule| rule.matches(&host, target.port))
        {
            return Ok(());
        }
        Err(format!(
            "the network policy does not allow {shown}; run with --allow-net={shown} (or --allow-net to allow all)"
        ))
    }

    fn check_address(&self, target: &ConnectTarget<'_>, address: IpAddr) -> Result<(), String> {
        let range = special_range(address);
        if self.deny_private && range.is_some() {
            return Err(format!(
                "{} resolves to {address}, {}, which --deny-private refuses",
                target.host,
                range.unwrap_or_default()
            ));
        }
        if is_link_local(address) && !self.names(&address.to_string(), None) {
            return Err(format!(
                "{} resolves to {address}, a link-local address (where clouds serve instance metadata), refused unless named: run with --allow-net={}",
                target.host,
                entry(&address.to_string(), target.port)
            ));
        }
        Ok(())
    }
}

/// Link-local: 169.254.0.0/16 and fe80::/10, also as IPv4-mapped IPv6.
fn is_link_local(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => (v6.segments()[0] & 0xffc0) == 0xfe80,
        },
    }
}

/// The IANA special-purpose range `address` is in (what it is, for the
/// message), or `None` for an address on the public internet. IPv6 forms
/// that carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are
/// judged by that address: through a translator they reach it.
fn special_range(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(match (a, b, c) {
                (0, ..) => "in 0.0.0.0/8 (this network)",
                (10, ..) | (172, 16..=31, _) | (192, 168, _) => "a private address",
                (100, 64..=127, _) => "a carrier-grade NAT address",
                (127, ..) => "a loopback address",
                (169, 254, _) => "a link-local address",
                (192, 0, 0) => "in 192.0.0.0/24 (IETF protocol assignments)",
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
                (192, 88, 99) => "a 6to4 relay address",
                (198, 18..=19, _) => "a benchmarking address",
                (224..=239, ..) => "a multicast address",
                (240..=255, ..) => "a reserved or broadcast address",
                _ => return None,
            })
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |high: u16, low: u16| {
                special_range(IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(high) << 16) | u32::from(low),
                )))
            };
            match s {
                [0, 0, 0, 0, 0, 0, 0, 0] => Some("the unspecified address"),
                [0, 0, 0, 0, 0, 0, 0, 1] => Some("a loopback address"),
                [0, 0, 0, 0, 0, 0xffff, high, low] => embedded(high, low),
                [0, 0, 0, 0, 0, 0, ..] => Some("an IPv4-compatible address (deprecated)"),
                [0x64, 0xff9b, 0, 0, 0, 0, high, low] => embedded(high, low),
                [0x64, 0xff9b, 1, ..] => Some("a local-use NAT64 address"),
                [0x100, 0, 0, 0, ..] => Some("a discard address"),
                [0x2001, 0, ..] => Some("a Teredo address"),
                [0x2001, 0xdb8, ..] => Some("a documentation address"),
                [0x2001, b, ..] if b < 0x200 => Some("in 2001::/23 (IETF protocol assignments)"),
                [0x2002, high, low, ..] => embedded(high, low).or(Some("a 6to4 address")),
                [first, ..] if first & 0xfe00 == 0xfc00 => Some("a unique local address"),
                [first, ..] if first & 0xffc0 == 0xfe80 => Some("a link-local address"),
                [first, ..] if first & 0xffc0 == 0xfec0 => Some("a site-local address"),
                [first, ..] if first & 0xff00 == 0xff00 => Some("a multicast address"),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> ConnectTarget<'_> {
        ConnectTarget {
            scheme: "ws",
            host,
            port,
        }
    }

    #[test]
    fn deny_all_names_the_flag_that_would_allow() {
        let error = AllowList::deny_all()
            .check_host(&target("example.com", 443))
            .unwrap_err();
        assert!(error.contains("--allow-net=example.com:443"), "{error}");
    }

    #[test]
    fn rules_match_hosts_ports_and_wildcards() {
        let list = AllowList::deny_all()
            .allow("api.example.com:443, *.games.test,127.0.0.1:9001,[::1]")
            .unwrap();
        assert!(list.check_host(&target("api.example.com", 443)).is_ok());
        assert!(list.check_host(&target("API.example.com", 443)).is_ok());
        assert!(list.check_host(&target("api.example.com", 80)).is_err());
        assert!(list.check_host(&target("eu.games.test", 8443)).is_ok());
        assert!(list.check_host(&target("a.b.games.test", 8443)).is_ok());
        assert!(list.check_host(&target("games.test", 8443)).is_err());
        assert!(list.check_host(&target("evilgames.test", 8443)).is_err());
        assert!(list.check_host(&target("127.0.0.1", 9001)).is_ok());
        assert!(list.check_host(&target("127.0.0.1", 9002)).is_err());
        assert!(list.check_host(&target("::1", 5555)).is_ok());
        let error = list.check_host(&target("::2", 5555)).unwrap_err();
        assert!(error.contains("--allow-net=[::2]:5555"), "{error}");
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in ["host:port", "host:70000", ":80", "[::1", "[::1]x"] {
            assert!(AllowList::deny_all().allow(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deny_private_refuses_non_public_addresses() {
        let list = AllowList::allow_all().deny_private(true);
        let t = target("intranet.example", 80);
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "100.64.0.1",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "::10.0.0.1",
            "2002:0a00:0001::1",
            "2002:c058:6301::1",
            "2001:0:4136:e378::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            let error = list
                .check_address(&t, private.parse().unwrap())
                .unwrap_err();
            assert!(error.contains("--deny-private"), "{error}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "64:ff9b::93.184.216.34",
        ] {
            assert!(
                list.check_address(&t, public.parse().unwrap()).is_ok(),
                "{public}"
            );
        }
        assert!(
            AllowList::allow_all()
                .check_address(&t, "127.0.0.1".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn bad_ports_are_refused_unless_named() {
        assert!(
            BAD_PORTS.windows(2).all(|w| w[0] < w[1]),
            "sorted, for binary search"
        );
        let all = AllowList::allow_all();
        for port in [25, 6697, 10080, 0] {
            let error = all.check_host(&target("127.0.0.1", port)).unwrap_err();
            assert!(
                error.contains(&format!("--allow-net=127.0.0.1:{port}")),
                "{error}"
            );
        }
        assert!(all.check_host(&target("127.0.0.1", 8080)).is_ok());
        let named = AllowList::deny_all().allow("mail.test:25").unwrap();
        assert!(named.check_host(&target("mail.test", 25)).is_ok());
        let wildcard = AllowList::deny_all().allow("*.test").unwrap();
        assert!(wildcard.check_host(&target("mail.test", 25)).is_err());
    }

    #[test]
    fn link_local_and_metadata_addresses_are_refused_unless_named() {
        let all = AllowList::allow_all();
        let t = target("metadata.internal", 80);
        for address in ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254"] {
            let error = all.check_address(&t, address.parse().unwrap()).unwrap_err();
            assert!(error.contains("link-local"), "{error}");
        }
        let named = AllowList::allow_all().allow("169.254.169.254").unwrap();
        assert!(
            named
                .check_address(&t, "169.254.169.254".parse().unwrap())
                .is_ok()
        );
        assert!(all.check_address(&t, "127.0.0.1".parse().unwrap()).is_ok());
    }
}
