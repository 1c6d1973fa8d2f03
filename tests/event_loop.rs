//! The guest's event loop: timers and other watches in push mode, the async
//! API over pull mode, send backpressure, and components built against the
//! previous version of the WIT. Real guest components in the real host,
//! real servers on 127.0.0.1.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use support::{echo_journaling, probe, run_file, run_guest, serve};

#[tokio::test]
async fn push_mode_timers_fire_by_deadline_and_the_run_ends_with_the_last() {
    let server = serve(echo_journaling).await;
    let run = probe("timers", &[&server.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    let position = |line: &str| {
        run.stdout
            .iter()
            .position(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("no {line:?} in {:#?}", run.stdout))
    };
    // Due together at the first wake-up (main was busy for 40 ms): the
    // interval (15 ms) before the timeout set earlier for 20 ms.
    assert!(
        position("tick 1") < position("timeout 20"),
        "{:#?}",
        run.stdout
    );
    assert!(position("tick 2") < position("tick 3"));
    assert!(
        !run.stdout.iter().any(|l| l.starts_with("tick 4")),
        "{:#?}",
        run.stdout
    );
    assert!(
        !run.stdout.iter().any(|l| l.starts_with("cancelled")),
        "{:#?}",
        run.stdout
    );
    // The timer set in on_open sent, the echo came back, the socket closed.
    assert!(position("send-late ok") < position("message text late"));
    assert!(position("message text late") < position("close 1000 clean=true"));
    // The run waited for the last timer, however early the socket closed.
    let at: u128 = run.line("timeout 60 at=")["timeout 60 at=".len()..]
        .parse()
        .unwrap();
    assert!(at >= 60, "{at}");
    assert_eq!((run.live_sockets, run.pending_watches), (0, 0));
    assert_eq!(server.journal.wait_for("text").await, "text late");
}

#[tokio::test]
async fn a_component_built_against_0_1_0_still_runs() {
    // tests/fixtures/echo-0.1.0.wasm: examples/echo as built at ccb2a51,
    // against wit-websocket:client@0.1.0 (no watch-handler export).
    let server = serve(echo_journaling).await;
    let run = run_file("tests/fixtures/echo-0.1.0.wasm", &[&server.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(run.lines_starting("echoed: ").len(), 3, "{:#?}", run.stdout);
    assert_eq!(
        run.line("closed: "),
        "closed: code 1000 reason \"done\" clean true"
    );
    assert_eq!(run.live_sockets, 0);
}

#[tokio::test]
async fn async_echo_example_sends_through_the_sink_and_reads_the_stream() {
    let server = serve(echo_journaling).await;
    let url = server.url();
    let run = run_guest("async-echo", &[&url]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            format!("open: {url}"),
            "echo: hello, async".to_string(),
            "echo: 3 bytes".to_string(),
            "close: 1000 clean=true".to_string(),
        ]
    );
    server.journal.wait_for("ended").await;
}

#[tokio::test]
async fn a_slow_reading_server_makes_the_async_writer_wait_without_loss() {
    const COUNT: u64 = 192;
    const SIZE: usize = 64 << 10;
    // Reads one message every 2 ms, checks they come in order and whole,
    // then replies with the count.
    let server = serve(|mut ws, journal| async move {
        let mut received = 0u64;
        while received < COUNT {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    let n = u64::from_be_bytes(bytes[..8].try_into().unwrap());
                    if n != received || bytes.len() != SIZE {
                        journal.record(format!("out of order {n} at {received}"));
                    }
                    received += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                other => return journal.record(format!("unexpected {other:?}")),
            }
        }
        journal.record(format!("received {received}"));
        let reply = Message::Text(format!("got {received}").into());
        let _ = futures_util::SinkExt::send(&mut ws, reply).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let run = probe(
        "async-writer",
        &[&server.url(), &COUNT.to_string(), &SIZE.to_string()],
    )
    .await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    let sent = run.line("sent ");
    let most: u64 = sent.rsplit('=').next().unwrap().parse().unwrap();
    // At most the high-water mark (1 MiB) plus the message that crossed it.
    assert!(most <= (1 << 20) + SIZE as u64, "{sent}");
    assert_eq!(run.line("reply "), format!("reply text got {COUNT}"));
    assert_eq!(run.line("close "), "close 1000 clean=true reason=done");
    assert_eq!(server.journal.lines()[0], format!("received {COUNT}"));
}
