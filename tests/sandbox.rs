//! The sandbox: the network policy decides what a guest may reach.

mod support;

use wit_websocket_host::WebSocketConfig;
use wit_websocket_host::policy::AllowList;

use support::{echo_journaling, probe_with, serve};

#[tokio::test]
async fn a_host_not_allowed_is_refused_with_not_permitted_naming_the_flag() {
    let server = serve(echo_journaling).await;
    let policy = AllowList::deny_all()
        .allow("127.0.0.1:1,*.example.com")
        .unwrap();
    let run = probe_with(
        "connect",
        &[&server.url()],
        WebSocketConfig::with_policy(policy),
    )
    .await;
    let expected = format!(
        "create err not-permitted the network policy does not allow {0}; run with --allow-net={0} (or --allow-net to allow all)",
        server.address
    );
    assert_eq!(run.stdout, [expected]);
    assert!(
        server.journal.lines().is_empty(),
        "nothing reached the server"
    );
}

#[tokio::test]
async fn the_default_policy_allows_nothing() {
    let server = serve(echo_journaling).await;
    let run = probe_with("connect", &[&server.url()], WebSocketConfig::default()).await;
    assert!(
        run.line("create").starts_with("create err not-permitted "),
        "{:?}",
        run.stdout
    );
}

#[tokio::test]
async fn an_allowed_port_and_host_connect() {
    let server = serve(echo_journaling).await;
    let policy = AllowList::deny_all()
        .allow(&server.address.to_string())
        .unwrap();
    let run = probe_with(
        "pull",
        &[&server.url()],
        WebSocketConfig::with_policy(policy),
    )
    .await;
    assert_eq!(
        run.line("pull 1 close"),
        "pull 1 close 1000 clean=true reason=done"
    );
}

#[tokio::test]
async fn an_allowed_name_resolving_to_a_private_address_is_refused() {
    let server = serve(echo_journaling).await;
    let url = format!("ws://localhost:{}/", server.address.port());
    let policy = AllowList::deny_all()
        .allow("localhost")
        .unwrap()
        .deny_private(true);
    let run = probe_with("observe", &[&url], WebSocketConfig::with_policy(policy)).await;
    assert!(
        run.stdout[0].starts_with("push 1 error not-permitted localhost resolves to "),
        "{:#?}",
        run.stdout
    );
    assert!(
        run.stdout[0].contains("--deny-private"),
        "{}",
        run.stdout[0]
    );
    assert_eq!(
        run.stdout[1],
        "push 1 close 1006 clean=false reason= state=closed"
    );
    assert!(
        server.journal.lines().is_empty(),
        "nothing reached the server"
    );
}
