//! The WHATWG WebSocket rules a guest's arguments must meet: URLs, close codes
//! and reasons, connect options. Each check returns the typed error the guest sees.

use crate::bindings::{ConnectOptions, ErrorCode};

/// The longest close reason, in bytes of UTF-8 (a control frame carries at
/// most 125 bytes, two of which are the code).
pub const MAX_CLOSE_REASON_BYTES: usize = 123;

/// A URL that passed the browser's checks, with what the connection needs.
///
/// ```
/// use wit_websocket_host::rules::parse_url;
///
/// let target = parse_url("https://example.com/chat")?;
/// assert_eq!(target.url.as_str(), "wss://example.com/chat");
/// assert_eq!((target.host.as_str(), target.port, target.tls), ("example.com", 443, true));
/// # Ok::<(), wit_websocket_host::bindings::ErrorCode>(())
/// ```
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL with `http`/`https` mapped to `ws`/`wss`.
    pub url: url::Url,
    /// The host to resolve (without IPv6 brackets).
    pub host: String,
    /// The port, defaulted by scheme (80 for ws, 443 for wss).
    pub port: u16,
    /// True for `wss`.
    pub tls: bool,
}

impl Target {
    /// What the network policy sees of this target.
    ///
    /// ```
    /// use wit_websocket_host::policy::{AllowList, NetworkPolicy};
    /// use wit_websocket_host::rules::parse_url;
    ///
    /// let target = parse_url("ws://[::1]:9001/")?;
    /// let policy = AllowList::deny_all().allow("[::1]:9001").unwrap();
    /// assert!(policy.check_host(&target.as_connect_target()).is_ok());
    /// # Ok::<(), wit_websocket_host::bindings::ErrorCode>(())
    /// ```
    pub fn as_connect_target(&self) -> crate::policy::ConnectTarget<'_> {
        crate::policy::ConnectTarget {
            scheme: self.url.scheme(),
            host: &self.host,
            port: self.port,
        }
    }
}

/// The longest URL a guest may give, in bytes: 16 KiB, past what servers
/// accept in a request line (8 KiB is common), far short of what would cost
/// the host to parse and keep.
pub const MAX_URL_BYTES: usize = 16 << 10;
/// The most subprotocols one socket may offer, and the longest of them.
pub const MAX_PROTOCOLS: usize = 64;
/// The longest subprotocol name, in bytes.
pub const MAX_PROTOCOL_BYTES: usize = 256;
/// The most extra handshake headers one socket may send.
pub const MAX_HEADERS: usize = 64;
/// The most bytes of extra headers (names and values) one socket may send:
/// 16 KiB, within the request-header limits of common servers.
pub const MAX_HEADER_BYTES: usize = 16 << 10;
/// The range of `connect-timeout-ms`: from 1 ms to 5 minutes.
pub const CONNECT_TIMEOUT_MS: std::ops::RangeInclusive<u32> = 1..=300_000;
/// The range of `keepalive-interval-ms` (0: no pings): at least 100 ms, so a
/// guest cannot make the host ping a peer thousands of times a second.
pub const KEEPALIVE_INTERVAL_MS: std::ops::RangeInclusive<u32> = 100..=u32::MAX;

/// Parses `input` as the WebSocket constructor does: absolute, scheme ws or
/// wss (http and https are mapped to them), no fragment, at most
/// [`MAX_URL_BYTES`].
///
/// ```
/// use wit_websocket_host::bindings::ErrorCode;
/// use wit_websocket_host::rules::parse_url;
///
/// assert_eq!(parse_url("ws://127.0.0.1:9001/")?.port, 9001);
/// assert!(matches!(parse_url("ws://example.com/#top"), Err(ErrorCode::InvalidUrl(_))));
/// assert!(matches!(parse_url("ftp://example.com/"), Err(ErrorCode::InvalidUrl(_))));
/// # Ok::<(), ErrorCode>(())
/// ```
pub fn parse_url(input: &str) -> Result<Target, ErrorCode> {
    if input.len() > MAX_URL_BYTES {
        return Err(ErrorCode::InvalidUrl(format!(
            "the URL has {} bytes; the host takes at most {MAX_URL_BYTES}",
            input.len()
        )));
    }
    let invalid = |why: String| ErrorCode::InvalidUrl(format!("{input:?}: {why}"));
    let mut url = url::Url::parse(input).map_err(|e| invalid(e.to_string()))?;
    let tls = match url.scheme() {
        "ws" => false,
        "wss" => true,
        "http" | "https" => {
            let mapped = if url.scheme() == "http" { "ws" } else { "wss" };
            // `Url::set_scheme` refuses no change between special schemes.
            url.set_scheme(mapped)
                .map_err(|()| invalid(format!("cannot map the scheme to {mapped}")))?;
            mapped == "wss"
        }
        other => {
            return Err(invalid(format!(
                "scheme {other:?} is not ws, wss, http or https"
            )));
        }
    };
    if url.fragment().is_some() {
        return Err(invalid("WebSocket URLs cannot have a fragment".to_string()));
    }
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(invalid("the URL has no host".to_string())),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| invalid("the URL has no port".to_string()))?;
    Ok(Target {
        url,
        host,
        port,
        tls,
    })
}

/// Checks a close code and reason as the browser's `close(code, reason)`.
/// Returns the code to send: a reason without a code is sent with 1000.
///
/// ```
/// use wit_websocket_host::bindings::ErrorCode;
/// use wit_websocket_host::rules::check_close;
///
/// assert_eq!(check_close(Some(4000), Some("bye"))?, Some(4000));
/// assert_eq!(check_close(None, Some("bye"))?, Some(1000));
/// assert!(matches!(check_close(Some(1001), None), Err(ErrorCode::InvalidCloseCode(_))));
/// # Ok::<(), ErrorCode>(())
/// ```
pub fn check_close(code: Option<u16>, reason: Option<&str>) -> Result<Option<u16>, ErrorCode> {
    if let Some(code) = code
        && code != 1000
        && !(3000..=4999).contains(&code)
    {
        return Err(ErrorCode::InvalidCloseCode(code));
    }
    let reason = reason.unwrap_or("");
    if reason.len() > MAX_CLOSE_REASON_BYTES {
        return Err(ErrorCode::ReasonTooLong(reason.len() as u32));
    }
    Ok(match code {
        None if !reason.is_empty() => Some(1000),
        code => code,
    })
}

/// Handshake headers a guest may not set: the WebSocket handshake owns them.
const HANDSHAKE_HEADERS: &[&str] = &["host", "upgrade", "connection", "content-length"];

/// Checks connect options, in time linear in their size: subprotocols must
/// be distinct (compared without case, as the browser does), non-empty HTTP
/// tokens; headers valid HTTP fields not owned by the handshake; each within
/// the limits above, as are the timeouts.
///
/// ```
/// use wit_websocket_host::bindings::{ConnectOptions, ErrorCode};
/// use wit_websocket_host::rules::check_options;
///
/// let options = |protocols: &[&str]| ConnectOptions {
///     protocols: protocols.iter().map(|p| p.to_string()).collect(),
///     headers: vec![("authorization".into(), "Bearer t0ken".into())],
///     connect_timeout_ms: Some(5_000),
///     keepalive_interval_ms: None,
///     compression: None,
/// };
/// assert!(check_options(&options(&["chat", "superchat"])).is_ok());
/// assert!(matches!(check_options(&options(&["chat", "Chat"])), Err(ErrorCode::InvalidOptions(_))));
/// ```
pub fn check_options(options: &ConnectOptions) -> Result<(), ErrorCode> {
    let invalid = |why: String| Err(ErrorCode::InvalidOptions(why));
    if options.protocols.len() > MAX_PROTOCOLS {
        return invalid(format!(
            "{} subprotocols offered; the host takes at most {MAX_PROTOCOLS}",
            options.protocols.len()
        ));
    }
    let mut offered = std::collections::HashSet::with_capacity(options.protocols.len());
    for protocol in &options.protocols {
        if protocol.len() > MAX_PROTOCOL_BYTES {
            return invalid(format!(
                "a subprotocol has {} bytes; the host takes at most {MAX_PROTOCOL_BYTES}",
                protocol.len()
            ));
        }
        if protocol.is_empty() || !protocol.bytes().all(is_token_byte) {
            return invalid(format!("subprotocol {protocol:?} is not an HTTP token"));
        }
        if !offered.insert(protocol.to_ascii_lowercase()) {
            return invalid(format!("subprotocol {protocol:?} is offered twice"));
        }
    }
    if options.headers.len() > MAX_HEADERS {
        return invalid(format!(
            "{} headers given; the host takes at most {MAX_HEADERS}",
            options.headers.len()
        ));
    }
    let header_bytes: usize = options.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return invalid(format!(
            "the headers have {header_bytes} bytes; the host takes at most {MAX_HEADER_BYTES}"
        ));
    }
    for (name, value) in &options.headers {
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return invalid(format!("header name {name:?} is not an HTTP token"));
        }
        if HANDSHAKE_HEADERS.contains(&lower.as_str()) || lower.starts_with("sec-websocket-") {
            return invalid(format!(
                "header {name:?} belongs to the WebSocket handshake and cannot be set"
            ));
        }
        // RFC 9110 field-value: visible characters, space and tab, and
        // (obsolete but allowed) bytes above 0x7f; no other control.
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return invalid(format!(
                "the value of header {name:?} contains a control character"
            ));
        }
    }
    if let Some(ms) = options.connect_timeout_ms
        && !CONNECT_TIMEOUT_MS.contains(&ms)
    {
        return invalid(format!(
            "connect-timeout-ms {ms} is outside {}..={}",
            CONNECT_TIMEOUT_MS.start(),
            CONNECT_TIMEOUT_MS.end()
        ));
    }
    if let Some(ms) = options.keepalive_interval_ms
        && ms != 0
        && !KEEPALIVE_INTERVAL_MS.contains(&ms)
    {
        return invalid(format!(
            "keepalive-interval-ms {ms} is below {} (0 turns pings off)",
            KEEPALIVE_INTERVAL_MS.start()
        ));
    }
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_schemes_map_to_websocket_schemes_with_default_ports() {
        let t = parse_url("http://example.com/chat").unwrap();
        assert_eq!(
            (t.url.as_str(), t.port, t.tls),
            ("ws://example.com/chat", 80, false)
        );
        let t = parse_url("https://example.com").unwrap();
        assert_eq!(
            (t.url.as_str(), t.port, t.tls),
            ("wss://example.com/", 443, true)
        );
    }

    #[test]
    fn fragments_relative_urls_and_other_schemes_are_invalid() {
        for bad in ["ws://a/#frag", "/chat", "ftp://a/", "ws://", "not a url"] {
            assert!(
                matches!(parse_url(bad), Err(ErrorCode::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        let t = parse_url("ws://[::1]:9001/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9001));
    }

    #[test]
    fn close_codes_follow_the_browser() {
        assert!(check_close(Some(1000), None).is_ok());
        assert!(check_close(Some(3000), None).is_ok());
        assert!(check_close(Some(4999), None).is_ok());
        for bad in [0, 999, 1001, 1005, 1006, 2999, 5000] {
            assert!(
                matches!(check_close(Some(bad), None), Err(ErrorCode::InvalidCloseCode(c)) if c == bad)
            );
        }
        assert_eq!(check_close(None, Some("bye")).unwrap(), Some(1000));
        assert_eq!(check_close(None, None).unwrap(), None);
    }

    #[test]
    fn close_reason_is_limited_to_123_bytes_of_utf8() {
        assert!(check_close(Some(1000), Some(&"a".repeat(123))).is_ok());
        // 62 two-byte characters: 124 bytes.
        let long = "é".repeat(62);
        assert!(matches!(
            check_close(Some(1000), Some(&long)),
            Err(ErrorCode::ReasonTooLong(124))
        ));
    }

    #[test]
    fn options_past_the_limits_are_refused_quickly() {
        let many: Vec<String> = (0..100_000).map(|i| format!("p{i}")).collect();
        let options = ConnectOptions {
            protocols: many,
            headers: (0..30_000)
                .map(|i| (format!("x-{i}"), "v".into()))
                .collect(),
            connect_timeout_ms: None,
            keepalive_interval_ms: None,
            compression: None,
        };
        assert!(matches!(
            check_options(&options),
            Err(ErrorCode::InvalidOptions(_))
        ));
        let headers = ConnectOptions {
            protocols: Vec::new(),
            ..options.clone()
        };
        assert!(matches!(
            check_options(&headers),
            Err(ErrorCode::InvalidOptions(_))
        ));
        let long_url = format!("ws://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(matches!(
            parse_url(&long_url),
            Err(ErrorCode::InvalidUrl(_))
        ));
        for (connect, keepalive) in [(Some(0), None), (Some(300_001), None), (None, Some(99))] {
            let timeouts = ConnectOptions {
                protocols: Vec::new(),
                headers: Vec::new(),
                connect_timeout_ms: connect,
                keepalive_interval_ms: keepalive,
                compression: None,
            };
            assert!(matches!(
                check_options(&timeouts),
                Err(ErrorCode::InvalidOptions(_))
            ));
        }
    }

    #[test]
    fn handshake_headers_and_bad_protocols_are_refused() {
        let with = |protocols: &[&str], headers: &[(&str, &str)]| ConnectOptions {
            protocols: protocols.iter().map(|p| p.to_string()).collect(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            connect_timeout_ms: None,
            keepalive_interval_ms: None,
            compression: None,
        };
        assert!(
            check_options(&with(
                &["chat", "superchat"],
                &[("authorization", "Bearer x")]
            ))
            .is_ok()
        );
        for bad in [
            with(&[""], &[]),
            with(&["a b"], &[]),
            with(&["chat", "chat"], &[]),
            with(&[], &[("Sec-WebSocket-Key", "x")]),
            with(&[], &[("Host", "x")]),
            with(&[], &[("bad name", "x")]),
            with(&[], &[("x-ok", "a\r\nb")]),
            with(&[], &[("x-ok", "a\u{1}b")]),
            with(&[], &[("x-ok", "a\u{7f}b")]),
            with(&["chat", "CHAT"], &[]),
            with(&[&"p".repeat(MAX_PROTOCOL_BYTES + 1)], &[]),
        ] {
            assert!(
                matches!(check_options(&bad), Err(ErrorCode::InvalidOptions(_))),
                "{bad:?}"
            );
        }
    }
}
