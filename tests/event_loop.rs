//! The guest's event loop: timers and other watches in push mode, the async
//! API over pull mode, send backpressure, and components built against the
//! previous version of the WIT. Real guest components in the real host,
//! real servers on 127.0.0.1.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};

use support::{
    GuestRun, TestServer, allow_all, echo_journaling, max_tcp_buffer, probe_with, run_file,
    run_guest, run_language_guest, run_language_guest_with, serve,
};
use wit_websocket_host::WebSocketConfig;

/// Asserts what the `timers` scenarios of the Rust and Python guests print.
fn assert_timers_ran_by_deadline(run: &GuestRun) {
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
    assert!(position("message") < position("close 1000 clean=true"));
    // The run waited for the last timer, however early the socket closed.
    let at: u128 = run.line("timeout 60 at=")["timeout 60 at=".len()..]
        .parse()
        .unwrap();
    assert!(at >= 60, "{at}");
    assert_eq!((run.live_sockets, run.pending_watches), (0, 0));
}

#[tokio::test]
async fn rust_push_mode_timers_fire_by_deadline_and_the_run_ends_with_the_last() {
    let server = serve(echo_journaling).await;
    let run = probe_with("timers", &[&server.url()], allow_all()).await;
    assert_timers_ran_by_deadline(&run);
    assert!(
        run.stdout.contains(&"send-late ok".to_string()),
        "{:#?}",
        run.stdout
    );
    assert_eq!(server.journal.wait_for("text").await, "text late");
}

#[tokio::test]
async fn python_push_mode_timers_fire_by_deadline_and_the_run_ends_with_the_last() {
    let server = serve(echo_journaling).await;
    let run = run_language_guest("tests/guests/py-async/app.py", &["timers", &server.url()]).await;
    assert_timers_ran_by_deadline(&run);
    assert!(
        run.stdout.contains(&"message late".to_string()),
        "{:#?}",
        run.stdout
    );
}

#[tokio::test]
async fn components_built_against_earlier_versions_still_run() {
    // tests/fixtures/echo-0.1.0.wasm: examples/echo as built at ccb2a51,
    // against wit-websocket:client@0.1.0 (no watch-handler export);
    // echo-0.1.1.wasm: the same at 3d6a684, against 0.1.1 (no ping);
    // echo-0.1.2.wasm: at 2794f5d, against 0.1.2 (no watch-events);
    // echo-0.1.3.wasm: at ad7e358, against 0.1.3 (no send-binary), each
    // stripped (`wasm-tools strip --all`); echo-0.1.4.wasm: at 82f646d,
    // against 0.1.4 (no take-packed), and echo-0.1.5.wasm: at 3308e8c,
    // against 0.1.5 (no send-latin1), each built with
    // `CARGO_PROFILE_RELEASE_STRIP=debuginfo`.
    for fixture in [
        "tests/fixtures/echo-0.1.0.wasm",
        "tests/fixtures/echo-0.1.1.wasm",
        "tests/fixtures/echo-0.1.2.wasm",
        "tests/fixtures/echo-0.1.3.wasm",
        "tests/fixtures/echo-0.1.4.wasm",
        "tests/fixtures/echo-0.1.5.wasm",
    ] {
        let server = serve(echo_journaling).await;
        let run = run_file(fixture, &[&server.url()]).await;
        assert_eq!(run.status, 0, "{fixture}: {:#?}", run.stdout);
        assert_eq!(run.lines_starting("echoed: ").len(), 3, "{:#?}", run.stdout);
        assert_eq!(
            run.line("closed: "),
            "closed: code 1000 reason \"done\" clean true"
        );
        assert_eq!(run.live_sockets, 0);
    }
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

const SLOW_COUNT: u64 = 192;
const SLOW_SIZE: usize = 64 << 10;

/// A server that reads one message every 2 ms, records whether they came in
/// order and whole, then replies `got N`.
async fn slow_reading_server() -> TestServer {
    serve(|mut ws, journal| async move {
        let mut received = 0u64;
        while received < SLOW_COUNT {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    let n = u64::from_be_bytes(bytes[..8].try_into().unwrap());
                    if n != received || bytes.len() != SLOW_SIZE {
                        journal.record(format!("out of order {n} at {received}"));
                    }
                    received += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Some(Ok(Message::Close(_))) if received == 0 => {}
                other => return journal.record(format!("unexpected {other:?}")),
            }
        }
        journal.record(format!("received {received}"));
        let reply = Message::Text(format!("got {received}").into());
        let _ = futures_util::SinkExt::send(&mut ws, reply).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await
}

/// The host refuses any send past 1 MiB (the SDKs' high-water mark) plus
/// one message: a writer that did not wait for room would be refused.
fn tight_buffer() -> WebSocketConfig {
    WebSocketConfig {
        max_buffered_amount: (1 << 20) + SLOW_SIZE as u64,
        ..allow_all()
    }
}

fn slow_writer_args(server: &TestServer) -> [String; 3] {
    [server.url(), SLOW_COUNT.to_string(), SLOW_SIZE.to_string()]
}

#[tokio::test]
async fn a_slow_reading_server_makes_the_rust_sink_wait_without_loss() {
    let server = slow_reading_server().await;
    let args = slow_writer_args(&server);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = probe_with("async-writer", &args, tight_buffer()).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    let sent = run.line("sent ");
    let most: u64 = sent.rsplit('=').next().unwrap().parse().unwrap();
    assert!(most <= (1 << 20) + SLOW_SIZE as u64, "{sent}");
    assert_eq!(run.line("reply "), format!("reply text got {SLOW_COUNT}"));
    assert_eq!(run.line("close "), "close 1000 clean=true reason=done");
    assert_eq!(server.journal.lines()[0], format!("received {SLOW_COUNT}"));
}

#[tokio::test]
async fn a_slow_reading_server_makes_the_python_writer_wait_without_loss() {
    let server = slow_reading_server().await;
    let [url, count, size] = slow_writer_args(&server);
    let args = ["writer", &url, &count, &size];
    let run = run_language_guest_with("tests/guests/py-async/app.py", &args, tight_buffer()).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            format!("sent {SLOW_COUNT}"),
            format!("reply got {SLOW_COUNT}"),
            "close 1000 ".to_string()
        ]
    );
    assert_eq!(server.journal.lines()[0], format!("received {SLOW_COUNT}"));
}

#[tokio::test]
async fn a_slow_reading_server_makes_the_javascript_stream_writer_wait_without_loss() {
    let server = slow_reading_server().await;
    let [url, count, size] = slow_writer_args(&server);
    let args = ["writer", &url, &count, &size];
    let run =
        run_language_guest_with("tests/guests/js-streams/app.js", &args, tight_buffer()).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert!(
        !run.stdout.iter().any(|l| l.starts_with("write failed")),
        "{:#?}",
        run.stdout
    );
    assert_eq!(run.line("sent "), format!("sent {SLOW_COUNT}"));
    assert_eq!(run.line("reply "), format!("reply got {SLOW_COUNT}"));
    assert_eq!(run.line("close "), "close 1000 done");
    assert_eq!(
        run.line("pushed socket closed "),
        "pushed socket closed 1000"
    );
    // The pushed socket's connection journals on its own; the stream's:
    let lines = server.journal.lines();
    assert!(
        lines.contains(&format!("received {SLOW_COUNT}")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("out of order")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn javascript_websocketstream_echo_example_reads_and_writes_streams() {
    let server = serve(echo_journaling).await;
    let url = server.url();
    let run = run_language_guest("examples/js-stream-echo/app.js", &[&url]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            format!("open: {url}"),
            "echo: hello from a stream".to_string(),
            "echo: 3 bytes".to_string(),
            "close: 1000 done".to_string(),
        ]
    );
}

#[tokio::test]
async fn python_asyncio_echo_example_reads_with_async_for() {
    let server = serve(echo_journaling).await;
    let url = server.url();
    let run = run_language_guest("examples/python-async-echo/app.py", &[&url]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            format!("open: {url}"),
            "echo: hello, asyncio".to_string(),
            "echo: 3 bytes".to_string(),
            "no more messages".to_string(),
            "close: 1000 ".to_string(),
        ]
    );
}

#[tokio::test]
async fn the_turbulenz_network_device_delivers_only_on_update() {
    let server = serve(echo_journaling).await;
    let run = run_language_guest(
        "tests/guests/js-streams/app.js",
        &["turbulenz", &server.url()],
    )
    .await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            "state before any update=0 updates=0",
            "open state=1",
            "message frame by frame",
            "close 1000 true",
        ]
    );
}

/// An echo server on a fixed address that the test can stop (its listener
/// and every connection, dropped without a closing handshake) and start again.
struct RestartableEcho {
    address: SocketAddr,
    journal: support::Journal,
    accept_loop: Option<tokio::task::JoinHandle<()>>,
}

impl RestartableEcho {
    async fn start() -> Self {
        let mut server = Self {
            address: "127.0.0.1:0".parse().unwrap(),
            journal: support::Journal::default(),
            accept_loop: None,
        };
        server.restart().await;
        server
    }

    async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .expect("binds again");
        self.address = listener.local_addr().unwrap();
        let journal = self.journal.clone();
        self.accept_loop = Some(tokio::spawn(async move {
            // Owned here, so stopping the accept loop drops every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let journal = journal.clone();
                connections.spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        echo_journaling(ws, journal).await;
                    }
                });
            }
        }));
    }

    fn stop(&mut self) {
        if let Some(accept_loop) = self.accept_loop.take() {
            accept_loop.abort();
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/", self.address)
    }
}

/// Runs a reconnect example (heartbeat 50 ms, 15 echoes, backoff from 50 ms)
/// against a server that is stopped after three heartbeats and started again
/// 300 ms later; the example must reconnect and finish.
async fn reconnect_example_survives_a_server_restart<F, Fut>(run: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = GuestRun> + Send + 'static,
{
    let mut server = RestartableEcho::start().await;
    let guest = tokio::spawn(run(server.url()));
    server.journal.wait_for("text ping 3").await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart().await;
    let run = guest.await.expect("the guest run completes");
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    let lines = &run.stdout;
    assert_eq!(run.lines_starting("connected 1").len(), 1, "{lines:#?}");
    assert!(!run.lines_starting("connected 2").is_empty(), "{lines:#?}");
    assert!(
        !run.lines_starting("disconnected 1006; reconnecting in ")
            .is_empty(),
        "{lines:#?}"
    );
    assert!(
        lines.last().unwrap().starts_with("done: 15 echoes over "),
        "{lines:#?}"
    );
    assert_eq!(run.live_sockets, 0);
}

const RECONNECT_ARGS: [&str; 3] = ["50", "15", "50"];

#[tokio::test]
async fn rust_reconnect_example_survives_a_server_restart() {
    reconnect_example_survives_a_server_restart(|url| async move {
        let mut args = vec![url.as_str()];
        args.extend(RECONNECT_ARGS);
        run_guest("reconnect", &args).await
    })
    .await;
}

#[tokio::test]
async fn javascript_reconnect_example_survives_a_server_restart() {
    reconnect_example_survives_a_server_restart(|url| async move {
        let mut args = vec![url.as_str()];
        args.extend(RECONNECT_ARGS);
        run_language_guest("examples/reconnect/js/app.js", &args).await
    })
    .await;
}

#[tokio::test]
async fn python_reconnect_example_survives_a_server_restart() {
    reconnect_example_survives_a_server_restart(|url| async move {
        let mut args = vec![url.as_str()];
        args.extend(RECONNECT_ARGS);
        run_language_guest("examples/reconnect/python/app.py", &args).await
    })
    .await;
}

#[tokio::test]
async fn a_websocketstream_reader_that_stops_reading_stops_the_host_reading() {
    // Sends 64 KiB messages for 800 ms as fast as TCP lets it, then closes.
    let server = serve(|mut ws, journal| async move {
        let chunk = vec![0u8; 64 << 10];
        let mut sent: usize = 0;
        let until = tokio::time::Instant::now() + Duration::from_millis(800);
        loop {
            tokio::select! {
                result = futures_util::SinkExt::send(&mut ws, Message::Binary(chunk.clone().into())) => {
                    if result.is_err() { break }
                    sent += 1;
                }
                () = tokio::time::sleep_until(until) => break,
            }
        }
        journal.record(format!("sent {sent}"));
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let config = WebSocketConfig {
        max_queued_bytes: 1 << 20,
        ..allow_all()
    };
    let args = ["slow-reader", &server.url(), "1500"];
    let run = run_language_guest_with("tests/guests/js-streams/app.js", &args, config).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    let sent: usize = server.journal.wait_for("sent ").await[5..].parse().unwrap();
    // Everything sent was read, in the end (and the message whose send the
    // server's deadline cut short, which its close then flushed)...
    let read = run.line("read ");
    assert!(
        [sent, sent + 1]
            .map(|n| format!("read {n} messages, close 1005"))
            .contains(&read.to_string()),
        "{read}, the server sent {sent}"
    );
    // ...but while the reader held still, the host read only up to its
    // 1 MiB queue (16 messages) and TCP pushed back: unchecked, loopback
    // takes tens of thousands of 64 KiB messages in 800 ms.
    let kernel = (max_tcp_buffer("tcp_rmem") + max_tcp_buffer("tcp_wmem")) >> 16;
    assert!(
        sent <= 16 + kernel + 64,
        "the server sent {sent} messages of 64 KiB"
    );
}

/// Messages that arrive together are taken packed (`take-messages`) and
/// read in order, each chunk over a buffer of its own; the close behind
/// them ends the readable once they are read, and settles `closed`.
#[tokio::test]
async fn messages_taken_packed_then_a_close_reach_the_websocketstream_in_order() {
    let server = serve(|mut ws, _journal| async move {
        use futures_util::SinkExt;
        // After the guest's "go", so that the open event has been taken and
        // the messages are at the head of the host's queue; all in one write.
        let _ = ws.next().await;
        for n in 0..4 {
            let _ = ws.feed(Message::Text(format!("m{n}").into())).await;
        }
        let _ = ws.feed(Message::Binary(vec![7; 3].into())).await;
        let _ = ws.feed(Message::Binary(vec![8; 5].into())).await;
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let args = ["close-behind", &server.url()];
    let run = run_language_guest("tests/guests/js-streams/app.js", &args).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            "read m0 m1 m2 m3 Uint8Array(7,7,7) Uint8Array(8,8,8,8,8)",
            "closed 1000 bye",
        ]
    );
}

#[tokio::test]
async fn a_websocketstream_signal_aborts_the_handshake() {
    // Accepts TCP, never answers the upgrade; journals when the client leaves.
    let server = support::serve_tcp(|mut tcp, journal| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 4096];
        while let Ok(read) = tcp.read(&mut buffer).await {
            if read == 0 {
                break;
            }
        }
        journal.record("client left");
    })
    .await;
    let args = ["abort", &server.url(), "50"];
    let run = run_language_guest("tests/guests/js-streams/app.js", &args).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        ["opened rejected AbortError", "closed rejected AbortError"]
    );
    // The connection attempt was dropped, not left hanging.
    server.journal.wait_for("client left").await;
}

#[tokio::test]
async fn watches_are_capped_and_cancelled_ones_do_not_keep_the_guest_running() {
    let config = WebSocketConfig {
        max_watches: 10,
        ..allow_all()
    };
    let run = probe_with("many-watches", &[], config).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            "refused after 10 limit-exceeded this guest already has 10 pending watches, the most the host allows",
            "cancelled 10, again false",
        ]
    );
    // Hour-long timers, all cancelled: the run ended at once.
    assert_eq!(run.pending_watches, 0);
}

#[tokio::test] // one thread: the guests and the sockets share it
async fn a_guest_that_keeps_a_watch_ready_does_not_hold_up_another() {
    // 50,000 zero timers, each set from the last one's callback: the host's
    // loop never has to wait for this guest. It must still let the other
    // guest, and its socket's task, run meanwhile.
    let server = serve(echo_journaling).await;
    // Compiled before the race starts (compiling blocks the thread).
    support::probe("rewatch", &["1"]).await;
    let finished = std::sync::Mutex::new(Vec::new());
    let run = |scenario: &'static str, args: Vec<String>| {
        let finished = &finished;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = support::probe(scenario, &args).await;
            finished.lock().unwrap().push(scenario);
            run
        }
    };
    let (spinner, echo) = tokio::join!(
        run("rewatch", vec!["50000".to_string()]),
        run("echo", vec![server.url()]),
    );
    assert_eq!(spinner.stdout, ["rewatched"]);
    assert!(
        echo.stdout
            .contains(&"push 1 close 3001 clean=true reason=bye now state=closed".to_string()),
        "{:#?}",
        echo.stdout
    );
    assert_eq!(*finished.lock().unwrap(), ["echo", "rewatch"]);
}
