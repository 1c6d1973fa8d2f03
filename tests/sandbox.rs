//! The sandbox: the network policy decides what a guest may reach.

mod support;

use wit_websocket_host::WebSocketConfig;
use wit_websocket_host::policy::AllowList;

use support::{echo_journaling, probe, probe_with, serve};

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
    run.assert_failed_at(0, "not-permitted localhost resolves to ");
    assert!(
        run.stdout[0].contains("--deny-private"),
        "{}",
        run.stdout[0]
    );
    assert!(
        server.journal.lines().is_empty(),
        "nothing reached the server"
    );
}

#[tokio::test]
async fn deny_private_refuses_every_special_purpose_range_written_as_an_address() {
    // No socket may be live, so a range the policy wrongly let through would
    // fail with limit-exceeded at create-websocket: nothing is ever dialled.
    let config = WebSocketConfig {
        max_sockets: 0,
        ..WebSocketConfig::with_policy(AllowList::allow_all().deny_private(true))
    };
    let special = [
        "ws://0.1.2.3/",
        "ws://10.0.0.1/",
        "ws://100.64.0.1/",
        "ws://127.0.0.1/",
        "ws://169.254.169.254/",
        "ws://172.16.0.1/",
        "ws://192.0.0.8/",
        "ws://192.0.2.1/",
        "ws://192.168.1.1/",
        "ws://198.18.0.1/",
        "ws://198.51.100.1/",
        "ws://203.0.113.1/",
        "ws://224.0.0.1/",
        "ws://240.0.0.1/",
        "ws://255.255.255.255/",
        "ws://[::1]/",
        "ws://[::]/",
        "ws://[::a00:1]/",
        "ws://[::ffff:10.0.0.1]/",
        "ws://[64:ff9b::a00:1]/",
        "ws://[64:ff9b:1::1]/",
        "ws://[100::1]/",
        "ws://[2001::1]/",
        "ws://[2001:db8::1]/",
        "ws://[2002:a00:1::1]/",
        "ws://[fc00::1]/",
        "ws://[fe80::1]/",
        "ws://[fec0::1]/",
        "ws://[ff02::1]/",
    ];
    // Public addresses, also in NAT64 and 6to4 form, pass the policy.
    let public = [
        "ws://93.184.216.34/",
        "ws://[2606:4700::1111]/",
        "ws://[64:ff9b::5db8:d822]/",
    ];
    let urls: Vec<&str> = special.iter().chain(&public).copied().collect();
    let run = probe_with("create-each", &urls, config).await;
    assert_eq!(run.stdout.len(), urls.len(), "{:?}", run.stdout);
    for (line, url) in run.stdout.iter().zip(special) {
        assert!(
            line.starts_with(&format!("create {url} err not-permitted")),
            "{line}"
        );
    }
    for (line, url) in run.stdout[special.len()..].iter().zip(public) {
        assert!(
            line.starts_with(&format!("create {url} err limit-exceeded")),
            "{line}"
        );
    }
}

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use support::{Journal, ServerSocket, allow_all, max_tcp_buffer, serve_tcp};

#[tokio::test]
async fn a_guest_that_traps_loses_its_sockets_with_1011_and_others_carry_on() {
    let server = serve(echo_journaling).await;
    let url = server.url();
    // Two guests in one host process, at the same time.
    let trap_args = ["trap", url.as_str()];
    let echo_args = ["echo", url.as_str()];
    let (trapping, healthy) = tokio::join!(
        support::try_run_guest("probe", &trap_args, allow_all()),
        support::run_guest("probe", &echo_args),
    );
    let trap = trapping.expect_err("the trapping guest fails");
    let message = format!("{trap:?}");
    assert!(
        message.contains("the guest fails on purpose") || message.contains("unreachable"),
        "{message}"
    );
    assert_eq!(healthy.status, 0);
    assert_eq!(
        healthy.line("push 1 close"),
        "push 1 close 3001 clean=true reason=bye now state=closed"
    );
    let closes = server.journal.wait_for("close 1011").await;
    assert_eq!(closes, "close 1011 the application failed");
}

#[tokio::test]
async fn a_guest_that_exits_in_a_callback_ends_with_its_status_not_a_trap() {
    let server = serve(echo_journaling).await;
    let run = support::probe("connect", &[&server.url(), "then=exit"]).await;
    // Rust's `exit(3)` reaches WASI 0.2 as plain failure: status 1.
    assert_eq!(run.status, 1, "{:#?}", run.stdout);
    // Its socket goes as the guest does: away, not failed.
    let closes = server.journal.wait_for("close").await;
    assert!(closes.starts_with("close 1001"), "{closes}");
}

#[tokio::test]
async fn a_callback_that_runs_too_long_is_interrupted() {
    let server = serve(echo_journaling).await;
    let config = WebSocketConfig {
        callback_time_limit: Duration::from_millis(300),
        ..allow_all()
    };
    let started = std::time::Instant::now();
    let result = support::try_run_guest("probe", &["spin", &server.url()], config).await;
    let error = format!("{:?}", result.expect_err("the spinning guest is stopped"));
    assert!(error.contains("interrupt"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped in {:?}",
        started.elapsed()
    );
    assert_eq!(
        server.journal.wait_for("close").await,
        "close 1011 the application failed"
    );
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_server_flooding_a_guest_that_does_not_read_is_pushed_back() {
    // Sends 64 KiB messages as fast as TCP lets it, for as long as it can.
    let server = serve(|mut ws: ServerSocket, journal: Journal| async move {
        let chunk = vec![0u8; 64 << 10];
        let mut sent: usize = 0;
        let flood = async {
            loop {
                if ws
                    .send(Message::Binary(chunk.clone().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                sent += chunk.len();
                journal.record(format!("sent {}", sent >> 20));
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(800), flood).await;
        journal.record(format!("flood-total-mib {}", sent >> 20));
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let before = peak_rss_kib();
    let config = WebSocketConfig {
        max_queued_bytes: 4 << 20,
        ..allow_all()
    };
    let run = support::probe_with("hold", &[&server.url(), "1500"], config).await;
    let growth_mib = (peak_rss_kib() - before) >> 10;
    let total = server.journal.wait_for("flood-total-mib").await;
    let flooded: usize = total.split_whitespace().nth(1).unwrap().parse().unwrap();
    let received: usize = run
        .line("received-after-hold=")
        .split('=')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    println!(
        "flood: server sent {flooded} MiB in 0.8 s; guest had {} MiB queued after its hold; peak RSS grew {growth_mib} MiB",
        received >> 20
    );
    // Unchecked, the server sends gigabytes on loopback in 0.8 s; pushed
    // back, it stops at the queue limit plus the kernel's socket buffers.
    let kernel_buffers_mib = (max_tcp_buffer("tcp_rmem") + max_tcp_buffer("tcp_wmem")) >> 20;
    let before_hold: usize = run.line("received-before-hold=")["received-before-hold=".len()..]
        .parse()
        .unwrap();
    let bound = (before_hold >> 20) + 4 + kernel_buffers_mib + 8;
    assert!(
        flooded <= bound,
        "the server sent {flooded} MiB; at most {bound} expected"
    );
    assert!(
        ((4 << 20)..=(4 << 20) + (64 << 10)).contains(&received),
        "{received}"
    );
    assert!(growth_mib < 200, "peak RSS grew {growth_mib} MiB");
    assert_eq!(run.line("closed"), "closed");
}

#[tokio::test]
async fn sends_beyond_the_buffered_cap_are_refused_and_nothing_accepted_is_lost() {
    // Reads nothing for a second, then everything.
    let server = serve(|mut ws: ServerSocket, journal: Journal| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut bytes = 0;
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Binary(data) = message {
                bytes += data.len();
            }
        }
        journal.record(format!("received-mib {}", bytes >> 20));
    })
    .await;
    let config = WebSocketConfig {
        max_buffered_amount: 8 << 20,
        ..allow_all()
    };
    let run = support::probe_with("stuff", &[&server.url()], config).await;
    let refused = run.line("refused-after=");
    assert!(
        refused.contains(" limit-exceeded buffered-amount would reach"),
        "{refused}"
    );
    let accepted: usize = refused["refused-after=".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(accepted >= 8, "the cap alone holds 8 MiB: {accepted}");
    let buffered: usize = run.line("buffered-mib=")["buffered-mib=".len()..]
        .parse()
        .unwrap();
    assert!((7..=8).contains(&buffered), "{buffered}");
    assert_eq!(
        server.journal.wait_for("received-mib").await,
        format!("received-mib {accepted}")
    );
}

#[tokio::test]
async fn an_inbound_message_over_the_size_limit_fails_the_connection_with_1009() {
    let server = serve(|mut ws: ServerSocket, journal: Journal| async move {
        let _ = ws.send(Message::Binary(vec![0u8; 2 << 20].into())).await;
        support::journal_close_codes(ws, journal).await;
    })
    .await;
    let config = WebSocketConfig {
        max_message_size: 1 << 20,
        max_frame_size: 1 << 20,
        ..allow_all()
    };
    let run = support::probe_with("observe", &[&server.url()], config).await;
    run.assert_failed_at(1, "message-too-large ");
    assert_eq!(server.journal.wait_for("close").await, "close 1009");
}

#[tokio::test]
async fn invalid_utf8_in_a_text_message_fails_the_connection_with_1007() {
    // A raw server: the handshake by tungstenite, then a hand-made text frame.
    let server = serve_tcp(|tcp, journal: Journal| async move {
        use tokio::io::AsyncWriteExt;
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        // FIN + text opcode, 2-byte payload 0xC3 0x28 (invalid UTF-8).
        ws.get_mut()
            .write_all(&[0x81, 0x02, 0xC3, 0x28])
            .await
            .unwrap();
        support::journal_close_codes(ws, journal).await;
    })
    .await;
    let run = support::probe("observe", &[&server.url()]).await;
    run.assert_failed_at(1, "protocol-violation invalid UTF-8");
    assert_eq!(server.journal.wait_for("close").await, "close 1007");
}

#[tokio::test]
async fn a_frame_header_announcing_2_pow_63_bytes_fails_with_message_too_large() {
    let server = serve_tcp(|tcp, journal: Journal| async move {
        use tokio::io::AsyncWriteExt;
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        // FIN + binary, 64-bit length 2^63 - 1, then a few bytes.
        let header = [
            0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3,
        ];
        ws.get_mut().write_all(&header).await.unwrap();
        support::journal_close_codes(ws, journal).await;
    })
    .await;
    let run = support::probe("observe", &[&server.url()]).await;
    run.assert_failed_at(1, "message-too-large ");
    assert_eq!(server.journal.wait_for("close").await, "close 1009");
}

#[tokio::test]
async fn a_tcp_reset_in_the_middle_of_a_frame_fails_the_connection() {
    let server = serve_tcp(|tcp, _| async move {
        use tokio::io::AsyncWriteExt;
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        // A text frame announcing 100 bytes, of which only 10 arrive.
        ws.get_mut().write_all(&[0x81, 100]).await.unwrap();
        ws.get_mut().write_all(b"0123456789").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Linger 0: closing sends RST instead of FIN.
        let tcp = ws.into_inner();
        tcp.set_zero_linger().unwrap();
        drop(tcp);
    })
    .await;
    let run = support::probe("observe", &[&server.url()]).await;
    assert_eq!(run.stdout[0], "push 1 open state=open");
    run.assert_failed_at(1, "io ");
    assert_eq!(run.stdout.len(), 3);
}

#[tokio::test]
async fn socket_limits_per_guest_and_per_device_are_typed_errors() {
    let server = serve(echo_journaling).await;
    for (per_guest, per_device) in [(2, 256), (256, 2)] {
        let config = WebSocketConfig {
            max_sockets: per_guest,
            max_sockets_per_device: per_device,
            ..allow_all()
        };
        let run = probe_with("many-at-once", &[&server.url(), "3"], config).await;
        let refused = run.line("create 3 err");
        assert!(
            refused.starts_with("create 3 err limit-exceeded "),
            "{refused}"
        );
        assert!(refused.contains("already has 2 live sockets"), "{refused}");
        assert_eq!(run.line("created"), "created 2");
    }
}

#[tokio::test]
async fn a_guest_over_its_memory_limit_traps_and_the_host_carries_on() {
    let within =
        support::try_run_guest_limited("probe", &["hog", "16"], allow_all(), 64 << 20).await;
    assert_eq!(
        within.expect("16 MiB fit in 64").line("allocated"),
        "allocated 16 MiB"
    );
    let over =
        support::try_run_guest_limited("probe", &["hog", "128"], allow_all(), 64 << 20).await;
    let error = format!("{:?}", over.expect_err("128 MiB do not fit in 64"));
    assert!(
        error.contains("wasm trap") || error.contains("unreachable"),
        "{error}"
    );
}

#[tokio::test]
async fn a_guest_that_traps_in_run_loses_its_sockets_with_1011() {
    let server = serve(echo_journaling).await;
    let result =
        support::try_run_guest("probe", &["trap-in-run", &server.url()], allow_all()).await;
    let error = format!("{:?}", result.expect_err("the guest traps in run"));
    assert!(error.contains("wasm backtrace"), "{error}");
    assert_eq!(
        server.journal.wait_for("close").await,
        "close 1011 the application failed"
    );
}

#[tokio::test]
async fn hostile_connect_options_are_refused_at_create_and_nothing_connects() {
    let server = serve(echo_journaling).await;
    let run = probe("hostile-options", &[&server.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    for case in [
        "30000-headers",
        "c0-in-value",
        "del-in-value",
        "20k-header-bytes",
        "100k-protocols",
        "case-duplicates",
        "keepalive-1ms",
        "connect-timeout-0",
    ] {
        let line = run.line(&format!("{case} "));
        assert!(
            line.starts_with(&format!("{case} err invalid-options ")),
            "{line}"
        );
    }
    assert!(
        run.line("long-url ")
            .starts_with("long-url err invalid-url "),
        "{:#?}",
        run.stdout
    );
    // The one plain socket connected and closed cleanly; nothing else reached the server.
    assert_eq!(run.line("close "), "close 1005 clean=true reason=");
    server.journal.wait_for("ended").await;
    assert_eq!(server.journal.lines(), ["close none", "ended"]);
}

#[tokio::test]
async fn browsers_bad_ports_are_refused_unless_named() {
    // A real WebSocket server on 10080 (Amanda backup, on the Fetch
    // standard's bad-port list; above 1024, so any user can bind it).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:10080")
        .await
        .expect("127.0.0.1:10080 is free for this test");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                    echo_journaling(ws, Journal::default()).await;
                }
            });
        }
    });
    let url = "ws://127.0.0.1:10080/";
    // Allowed everything, the guest is still refused at create; so are the
    // other bad ports (25 SMTP, 6697 IRC over TLS).
    for url in [url, "ws://127.0.0.1:25/", "ws://127.0.0.1:6697/"] {
        let run = probe_with("connect", &[url], allow_all()).await;
        let line = run.line("create err ");
        let named = &url["ws://".len()..url.len() - 1];
        assert!(
            line.starts_with("create err not-permitted port ")
                && line.contains(&format!("--allow-net={named}")),
            "{line}"
        );
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Named exactly, the port is allowed.
    let named = AllowList::deny_all().allow("127.0.0.1:10080").unwrap();
    let run = probe_with(
        "connect",
        &[url, "then=close"],
        WebSocketConfig::with_policy(named),
    )
    .await;
    assert!(
        run.lines_starting("push 1 open").len() == 1,
        "{:#?}",
        run.stdout
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.abort();
}

/// Completes the handshake, then never reads (holding the connection open
/// far longer than any test runs).
async fn never_reading_server() -> support::TestServer {
    serve(|ws: ServerSocket, journal: Journal| async move {
        journal.record("holding");
        tokio::time::sleep(Duration::from_secs(600)).await;
        drop(ws);
    })
    .await
}

#[tokio::test]
async fn a_peer_that_never_reads_cannot_hold_a_closed_socket_past_the_close_timeout() {
    let server = never_reading_server().await;
    let config = WebSocketConfig {
        max_buffered_amount: 48 << 20,
        close_timeout: Duration::from_millis(500),
        ..allow_all()
    };
    let started = std::time::Instant::now();
    let run = support::probe_with("stuff", &[&server.url()], config).await;
    let elapsed = started.elapsed();
    assert_eq!(run.line("close "), "close ok", "{:#?}", run.stdout);
    let error = run.line("push 1 error ");
    assert!(
        error.starts_with("push 1 error timeout the peer did not take our data within 500ms"),
        "{error}"
    );
    assert_eq!(
        run.line("push 1 close "),
        "push 1 close 1006 clean=false reason= state=closed"
    );
    // Not a minute: the close timeout after the 48 MiB were queued.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!((run.live_sockets, run.running_tasks), (0, 0));
}

#[tokio::test]
async fn a_destroyed_socket_whose_peer_never_reads_ends_its_task() {
    let server = never_reading_server().await;
    let config = WebSocketConfig {
        max_buffered_amount: 48 << 20,
        close_timeout: Duration::from_millis(300),
        ..allow_all()
    };
    let run = support::probe_with("stuff-then-destroy", &[&server.url()], config).await;
    assert_eq!(run.line("destroyed"), "destroyed", "{:#?}", run.stdout);
    // The socket's I/O task (and its file descriptor) is gone.
    assert_eq!(
        (run.live_sockets, run.held_sockets, run.running_tasks),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_flood_of_empty_messages_is_bounded_by_count_and_update_takes_a_bounded_batch() {
    // Sends empty binary messages as fast as TCP lets it for a second.
    let server = serve(|mut ws: ServerSocket, journal: Journal| async move {
        let mut sent: u64 = 0;
        let flood = async {
            loop {
                if ws.feed(Message::Binary(Vec::new().into())).await.is_err() {
                    break;
                }
                sent += 1;
                if sent.is_multiple_of(1024) && ws.flush().await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), flood).await;
        journal.record(format!("flood-total {sent}"));
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let before = peak_rss_kib();
    let run = support::probe_with("hold", &[&server.url(), "1500"], allow_all()).await;
    let growth_mib = (peak_rss_kib() - before) >> 10;
    let flooded = server.journal.wait_for("flood-total").await;
    println!("{flooded}; peak RSS grew {growth_mib} MiB");
    // The queue (8 MiB at 128 bytes an empty message: 65,536) filled and the
    // host stopped reading; the guest's one update took a bounded batch.
    assert_eq!(
        run.line("messages-in-one-update="),
        "messages-in-one-update=4096"
    );
    assert!(growth_mib < 100, "peak RSS grew {growth_mib} MiB");
    assert_eq!(run.line("closed"), "closed");
}

#[tokio::test]
async fn empty_sends_are_bounded_by_count() {
    // Empty messages take no buffered bytes; the count stops them, behind
    // the 1 MiB messages the peer has not taken.
    empty_sends_stop_at_the_count("stuff-empty").await;
}

#[tokio::test]
async fn empty_sends_in_one_send_messages_call_are_bounded_by_count_too() {
    // 200,000 messages in one call: the host queues each as `send` would,
    // and stops at the count, saying how many went.
    empty_sends_stop_at_the_count("stuff-packed").await;
}

/// Runs the probe's `scenario` (1 MiB messages, then empty ones until
/// refused) against a peer that never reads, with at most 1,000 messages
/// waiting to be written, and checks that the count refused them.
async fn empty_sends_stop_at_the_count(scenario: &str) {
    let server = never_reading_server().await;
    let config = WebSocketConfig {
        max_pending_sends: 1000,
        close_timeout: Duration::from_millis(200),
        ..allow_all()
    };
    let run = support::probe_with(scenario, &[&server.url()], config).await;
    let refused = run.line("refused-after=");
    assert!(
        refused.contains(" limit-exceeded 1000 messages wait to be written"),
        "{refused}"
    );
    let accepted: u64 = refused["refused-after=".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(accepted <= 1000, "{refused}");
}

#[tokio::test]
async fn a_close_while_reading_is_paused_still_completes_cleanly() {
    // Floods for half a second (TCP pushes back long before), then reads,
    // and answers the client's close frame.
    let server = serve(|mut ws: ServerSocket, journal: Journal| async move {
        let chunk = vec![0u8; 64 << 10];
        let until = tokio::time::Instant::now() + Duration::from_millis(500);
        loop {
            tokio::select! {
                sent = ws.send(Message::Binary(chunk.clone().into())) => if sent.is_err() { break },
                () = tokio::time::sleep_until(until) => break,
            }
        }
        journal.record("stopped sending");
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(frame) = message {
                journal.record(format!("close {:?}", frame.map(|f| u16::from(f.code))));
            }
        }
    })
    .await;
    let config = WebSocketConfig {
        max_queued_bytes: 1 << 20,
        close_timeout: Duration::from_secs(2),
        ..allow_all()
    };
    // Holds 300 ms, closes, holds 3 s more: longer than the close timeout.
    let run = support::probe_with("hold-then-close", &[&server.url(), "300"], config).await;
    assert_eq!(run.line("close ok"), "close ok", "{:#?}", run.stdout);
    // The peer's answer was read past the full queue: a clean close.
    assert_eq!(
        run.line("close 1000"),
        "close 1000 clean=true reason=enough",
        "{:#?}",
        run.stdout
    );
}

#[tokio::test]
async fn devices_are_capped_and_creating_more_traps_this_guest_only() {
    let config = WebSocketConfig {
        max_devices: 16,
        ..allow_all()
    };
    let trap = support::try_run_guest("probe", &["many-devices"], config)
        .await
        .expect_err("the 17th device traps");
    let message = format!("{trap:?}");
    assert!(message.contains("16 network devices"), "{message}");
}

#[tokio::test]
async fn closed_socket_handles_the_guest_keeps_are_capped() {
    let server = serve(echo_journaling).await;
    let config = WebSocketConfig {
        max_held_sockets: 10,
        ..allow_all()
    };
    let run = probe_with("hold-closed", &[&server.url(), "50"], config).await;
    // Each was closed before the next was made: only the handles add up.
    assert_eq!(
        run.line("refused after "),
        "refused after 10 limit-exceeded this guest holds 10 socket handles, the most the host allows: drop closed ones"
    );
}

/// `tests/peers/slow_dns.py` on 127.0.0.1: answers every name with
/// 127.0.0.1 after `delay_ms`, and reports each query's start and end.
struct SlowDns {
    child: std::process::Child,
    port: u16,
    log: std::sync::mpsc::Receiver<String>,
}

impl SlowDns {
    fn start(delay_ms: u64) -> Self {
        use std::io::BufRead;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/slow_dns.py");
        let mut child = std::process::Command::new(support::test_tool("python"))
            .args(["-u", script, &delay_ms.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the DNS server starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let banner = lines.next().unwrap().unwrap();
        let port = banner
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the DNS server said {banner:?}"));
        let (sender, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                _ = sender.send(line);
            }
        });
        Self { child, port, log }
    }

    /// A resolver asking only this server, without a cache.
    fn resolver(&self) -> std::sync::Arc<dyn wit_websocket_host::dns::Resolve> {
        use hickory_resolver::config::{LookupIpStrategy, NameServerConfigGroup, ResolverConfig};
        let servers =
            NameServerConfigGroup::from_ips_clear(&[[127, 0, 0, 1].into()], self.port, true);
        let config = ResolverConfig::from_parts(None, vec![], servers);
        let mut builder = hickory_resolver::TokioResolver::builder_with_config(
            config,
            hickory_resolver::name_server::TokioConnectionProvider::default(),
        );
        builder.options_mut().cache_size = 0;
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4Only;
        builder.options_mut().timeout = Duration::from_secs(10);
        std::sync::Arc::new(Hickory(builder.build()))
    }

    /// Stops the server: what it logged, in order.
    fn queries(self) -> Vec<String> {
        let mut child = self.child;
        _ = child.kill();
        _ = child.wait();
        self.log.try_iter().collect()
    }
}

/// hickory-resolver, a real DNS client, as the host's resolver.
#[derive(Debug)]
struct Hickory(hickory_resolver::TokioResolver);

#[async_trait::async_trait]
impl wit_websocket_host::dns::Resolve for Hickory {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
        let found = self.0.lookup_ip(format!("{host}.")).await?;
        Ok(found
            .iter()
            .map(|ip| std::net::SocketAddr::new(ip, port))
            .collect())
    }
}

/// The most queries for names starting with `prefix` in hand at once.
fn most_at_once(log: &[String], prefix: &str) -> usize {
    let (mut now, mut most) = (0usize, 0);
    for line in log {
        match line.split_once(' ') {
            Some(("start", name)) if name.starts_with(prefix) => now += 1,
            Some(("end", name)) if name.starts_with(prefix) => now -= 1,
            _ => continue,
        }
        most = most.max(now);
    }
    most
}

#[tokio::test]
async fn a_guest_waits_for_its_own_dns_lookups_and_never_holds_up_anothers() {
    let server = serve(echo_journaling).await;
    let port = server.address.port();
    let dns = SlowDns::start(500);
    let config = || WebSocketConfig {
        max_dns_lookups: 2,
        resolver: dns.resolver(),
        ..support::allow_all()
    };
    // Eight names at once from one guest, against a server taking 500 ms
    // for each (four rounds of two); meanwhile a second guest looks up one.
    let many: Vec<String> = (0..8)
        .map(|n| format!("ws://many{n}.slow.test:{port}/"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let one = format!("ws://one.slow.test:{port}/");
    let (crowded, other) = tokio::join!(probe_with("open-all", &many, config()), async {
        // Once the first guest's lookups are under way.
        tokio::time::sleep(Duration::from_millis(100)).await;
        probe_with("open-all", &[&one], config()).await
    });
    assert_eq!(crowded.stdout, ["opened 8 of 8"]);
    assert_eq!(other.stdout, ["opened 1 of 1"]);
    let log = dns.queries();
    // The first guest's lookups went two at a time, all eight of them.
    assert_eq!(most_at_once(&log, "many"), 2, "{log:#?}");
    let started = |name: &str| log.iter().position(|line| *line == format!("start {name}"));
    let all_many: Vec<_> = (0..8)
        .map(|n| started(&format!("many{n}.slow.test.")).expect("every name is looked up"))
        .collect();
    // The other guest's lookup did not wait behind them: it started before
    // the first guest's last round (with one cap for both, it would come last).
    let one_started = started("one.slow.test.").expect("looked up");
    let many_after = all_many.iter().filter(|&&at| at > one_started).count();
    assert!(many_after >= 2, "{log:#?}");
}
