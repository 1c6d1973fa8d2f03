//! Fuzzes what a guest's arguments go through before any I/O: URL parsing,
//! close code and reason checks, connect options, and the CLI's allow list.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wit_websocket_host::bindings::ConnectOptions;
use wit_websocket_host::policy::{AllowList, ConnectTarget, NetworkPolicy};
use wit_websocket_host::rules;

#[derive(Arbitrary, Debug)]
struct Input {
    url: String,
    code: Option<u16>,
    reason: Option<String>,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    allow: String,
    port: u16,
}

fuzz_target!(|input: Input| {
    if let Ok(target) = rules::parse_url(&input.url) {
        assert!(matches!(target.url.scheme(), "ws" | "wss"));
        assert_eq!(target.tls, target.url.scheme() == "wss");
        assert!(target.url.fragment().is_none());
        assert!(!target.host.is_empty());
    }
    if let Ok(code) = rules::check_close(input.code, input.reason.as_deref()) {
        assert!(code.is_none_or(|c| c == 1000 || (3000..=4999).contains(&c)));
        assert!(input.reason.as_deref().unwrap_or("").len() <= rules::MAX_CLOSE_REASON_BYTES);
    }
    let options = ConnectOptions {
        protocols: input.protocols,
        headers: input.headers,
        connect_timeout_ms: None,
        keepalive_interval_ms: None,
        compression: None,
    };
    if rules::check_options(&options).is_ok() {
        for (name, _) in &options.headers {
            assert!(!name.to_ascii_lowercase().starts_with("sec-websocket-"));
        }
    }
    if let Ok(list) = AllowList::deny_all().allow(&input.allow) {
        let target = ConnectTarget {
            scheme: "ws",
            host: &input.url,
            port: input.port,
        };
        if let Err(message) = list.check_host(&target) {
            assert!(message.contains("--allow-net"));
        }
    }
});
