//! One table of rules: the checks the JavaScript SDK must make before it
//! calls the host (the WHATWG spec throws synchronously) give the verdicts
//! the host's own checks give, on the same inputs.
//!
//! `guest/js/test/rules-table.mjs` prints the SDK's verdicts (`rules.js`,
//! under node); each is held against `wit_websocket_host::rules`.

use serde_json::Value;
use wit_websocket_host::bindings::{ConnectOptions, ErrorCode};
use wit_websocket_host::rules::{check_close, check_options, parse_url};

fn js_verdicts() -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/guest/js/test/rules-table.mjs");
    let output = std::process::Command::new("node")
        .arg(script)
        .output()
        .expect("node runs (the tests need node for JavaScript guests anyway)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn options(protocols: Vec<String>) -> ConnectOptions {
    ConnectOptions {
        protocols,
        headers: Vec::new(),
        connect_timeout_ms: None,
        keepalive_interval_ms: None,
        compression: None,
    }
}

#[test]
fn the_js_sdk_and_the_host_agree_on_every_rule_both_check() {
    let verdicts = js_verdicts();
    let mut checked = std::collections::BTreeMap::<String, usize>::new();
    for verdict in &verdicts {
        let kind = verdict["kind"].as_str().unwrap();
        let js_ok = verdict["ok"].as_bool().unwrap();
        let js_error = verdict["error"].as_str();
        match kind {
            "close" => {
                let code = verdict["code"].as_u64().map(|code| code as u16);
                let reason = verdict["reason"].as_str();
                let host = check_close(code, reason);
                let host_error = match &host {
                    Ok(_) => None,
                    // The DOMException each host error stands for.
                    Err(ErrorCode::InvalidCloseCode(_)) => Some("InvalidAccessError"),
                    Err(ErrorCode::ReasonTooLong(_)) => Some("SyntaxError"),
                    Err(other) => panic!("{verdict}: an unexpected error {other:?}"),
                };
                assert_eq!(host_error, js_error, "{verdict}: the host says {host:?}");
            }
            "url" => {
                let url = verdict["url"].as_str().unwrap();
                let host = parse_url(url);
                assert_eq!(host.is_ok(), js_ok, "{verdict}: the host says {host:?}");
                if let (Ok(target), Some(href)) = (&host, verdict["href"].as_str()) {
                    assert_eq!(target.url.as_str(), href, "{verdict}");
                }
            }
            "protocols" => {
                let protocols: Vec<String> = verdict["protocols"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
                    .collect();
                let host = check_options(&options(protocols));
                assert_eq!(host.is_ok(), js_ok, "{verdict}: the host says {host:?}");
            }
            other => panic!("an unknown kind of rule {other:?}"),
        }
        *checked.entry(kind.to_string()).or_default() += 1;
    }
    // Each kind was compared, on valid and invalid inputs alike.
    for kind in ["close", "url", "protocols"] {
        assert!(checked.get(kind).is_some_and(|&n| n >= 5), "{checked:?}");
    }
    let refused = verdicts.iter().filter(|v| v["ok"] == false).count();
    assert!(refused >= 10 && refused < verdicts.len() - 10, "{refused}");
}
