//! The network policy: which hosts and ports a guest may reach.
//!
//! The host is the guest's only door to the network, so every connection
//! attempt asks the policy twice: with the URL's host and port before
//! anything is resolved, and with each resolved address before connecting
//! (so an allowed name that resolves to a forbidden address is refused).

use std::fmt;
use std::net::IpAddr;

/// What a guest is trying to reach.
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
pub trait NetworkPolicy: fmt::Debug + Send + Sync + 'static {
    /// Checked in `create-websocket`, before any DNS lookup.
    fn check_host(&self, target: &ConnectTarget<'_>) -> Result<(), String>;

    /// Checked for each address `target.host` resolves to, before connecting.
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

/// The allow-list policy of the CLI, like Deno's `--allow-net`: deny
/// everything unless allowed, by host with optional port and `*.` wildcards,
/// and optionally refuse loopback, private and link-local addresses even for
/// allowed names (`--deny-private`).
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    all: bool,
    rules: Vec<Rule>,
    deny_private: bool,
}

impl AllowList {
    /// Allows nothing (the default).
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// Allows every host and port.
    pub fn allow_all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Adds comma-separated `HOST[:PORT]` entries (`*.example.com`,
    /// `127.0.0.1:9001`, `[::1]`).
    pub fn allow(mut self, entries: &str) -> Result<Self, String> {
        for entry in entries.split(',').filter(|e| !e.trim().is_empty()) {
            self.rules.push(Rule::parse(entry)?);
        }
        Ok(self)
    }

    /// Refuses loopback, private, link-local and other non-public addresses,
    /// whatever name led to them.
    pub fn deny_private(mut self, deny: bool) -> Self {
        self.deny_private = deny;
        self
    }
}

impl NetworkPolicy for AllowList {
    fn check_host(&self, target: &ConnectTarget<'_>) -> Result<(), String> {
        let host = target.host.to_ascii_lowercase();
        if self.all
            || self
                .rules
                .iter()
                .any(|rule| rule.matches(&host, target.port))
        {
            return Ok(());
        }
        let shown = match host.contains(':') {
            true => format!("[{host}]:{}", target.port),
            false => format!("{host}:{}", target.port),
        };
        Err(format!(
            "the network policy does not allow {shown}; run with --allow-net={shown} (or --allow-net to allow all)"
        ))
    }

    fn check_address(&self, target: &ConnectTarget<'_>, address: IpAddr) -> Result<(), String> {
        if self.deny_private && !is_public(address) {
            return Err(format!(
                "{} resolves to {address}, a loopback, private or link-local address, which --deny-private refuses",
                target.host
            ));
        }
        Ok(())
    }
}

/// True for addresses on the public internet.
fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link-local
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
        assert!(list.check_host(&target("eu.games.test", 1)).is_ok());
        assert!(list.check_host(&target("a.b.games.test", 1)).is_ok());
        assert!(list.check_host(&target("games.test", 1)).is_err());
        assert!(list.check_host(&target("evilgames.test", 1)).is_err());
        assert!(list.check_host(&target("127.0.0.1", 9001)).is_ok());
        assert!(list.check_host(&target("127.0.0.1", 9002)).is_err());
        assert!(list.check_host(&target("::1", 5)).is_ok());
        let error = list.check_host(&target("::2", 5)).unwrap_err();
        assert!(error.contains("--allow-net=[::2]:5"), "{error}");
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
        ] {
            let error = list
                .check_address(&t, private.parse().unwrap())
                .unwrap_err();
            assert!(error.contains("--deny-private"), "{error}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1"] {
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
}
