//! The multi-tenant example against a real echo server: two tenants allowed
//! to reach it, one that is not.

use std::process::Command;

use wit_websocket_cli::BUILT_GUESTS_DIR;
use wit_websocket_cli::echo_server::EchoServer;

#[tokio::test(flavor = "multi_thread")]
async fn each_tenant_runs_with_its_own_policy_and_reports_its_statistics() {
    let server = EchoServer::start().await.unwrap();
    let url = server.url();
    let address = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_string();
    let echo = format!("{BUILT_GUESTS_DIR}/echo.wasm");
    let tenants = [
        format!("alice={echo}@{address}@{url}@2"),
        format!("bob={echo}@{address}@{url}@3"),
        format!("mallory={echo}@example.com:443@{url}@1"),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_multi-tenant"))
            .args(&tenants)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("alice: status 0; sockets 1 made, 0 live; sent 2 messages"),
        "{stdout}"
    );
    assert!(lines[0].contains("received 2 "), "{stdout}");
    assert!(
        lines[1].starts_with("bob: status 0; sockets 1 made, 0 live; sent 3 messages"),
        "{stdout}"
    );
    // Mallory may not reach the server: refused at create, nothing sent.
    assert!(
        lines[2].starts_with("mallory: status 1; sockets 0 made"),
        "{stdout}"
    );
    assert!(
        lines[2].contains("refused {\"not-permitted\": 1}"),
        "{stdout}"
    );
}
