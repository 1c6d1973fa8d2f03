//! Connection churn leaks nothing. In a test binary of its own, so no other
//! test opens file descriptors while it counts them.

mod support;

use std::time::Duration;

use support::{echo_journaling, serve};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test]
async fn a_thousand_connects_and_disconnects_leak_nothing() {
    let server = serve(echo_journaling).await;
    // Warm up: the first run compiles the component and opens its files.
    support::probe("churn", &[&server.url(), "1"]).await;
    let fds_before = open_fds();
    let run = support::probe("churn", &[&server.url(), "1000"]).await;
    assert_eq!(run.stdout, ["churned 1000"]);
    assert_eq!(
        (run.live_sockets, run.held_sockets, run.running_tasks),
        (0, 0, 0)
    );
    // The server's side of each connection closes a moment after ours.
    let mut fds_after = open_fds();
    for _ in 0..100 {
        if fds_after <= fds_before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        fds_after = open_fds();
    }
    assert!(
        fds_after <= fds_before + 2,
        "file descriptors: {fds_before} before, {fds_after} after"
    );
}

#[tokio::test]
async fn a_callback_holding_its_own_socket_does_not_keep_it_after_the_close() {
    // The Rust SDK drops a socket's callbacks after its close event: one that
    // captured the socket held it (and the host's handle) forever before.
    let server = serve(echo_journaling).await;
    let run = support::probe("self-owning", &[&server.url()]).await;
    assert_eq!(run.stdout, ["close ok", "closed 1005"]);
    assert_eq!((run.live_sockets, run.held_sockets), (0, 0));
}
