//! The WebSocket API end to end: the probe guest component in the real host,
//! against real servers on 127.0.0.1.

mod support;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use support::{Journal, ServerSocket, echo_journaling, probe, serve, serve_tcp};

#[tokio::test]
async fn text_and_binary_echo_then_guest_close_with_code_and_reason() {
    let server = serve(echo_journaling).await;
    let run = probe("echo", &[&server.url()]).await;
    assert_eq!(run.status, 0);
    assert_eq!(
        run.stdout,
        [
            "created state=connecting",
            "send-while-connecting err invalid-state cannot send while the socket is connecting: wait for the open event",
            "push 1 open state=open",
            "send-text ok",
            "send-binary ok",
            "push 1 message text hello state=open",
            "push 1 message binary [0, 1, 2, 255] state=open",
            "close ok",
            "after-close state=closing",
            "send-while-closing err invalid-state cannot send after the socket started closing",
            "close-again ok",
            "push 1 close 3001 clean=true reason=bye now state=closed",
            "send-after-close err invalid-state cannot send after the socket started closing",
        ]
    );
    server.journal.wait_for("ended").await;
    assert_eq!(
        server.journal.lines(),
        [
            "text hello",
            "binary [0, 1, 2, 255]",
            "close 3001 bye now",
            "ended"
        ]
    );
    assert_eq!(
        (run.stats.messages_sent, run.stats.messages_received),
        (2, 2)
    );
    // The statistics snapshot: 5 + 4 payload bytes each way; the three sends
    // refused for the socket's state.
    let stats = &run.stats;
    assert_eq!(
        (
            stats.sockets_created,
            stats.bytes_sent,
            stats.bytes_received
        ),
        (1, 9, 9)
    );
    assert_eq!(stats.refusals.get("invalid-state"), Some(&3), "{stats:?}");
    assert!(stats.errors.is_empty(), "{stats:?}");
}

#[tokio::test]
async fn bad_urls_and_close_arguments_are_typed_errors() {
    let server = serve(echo_journaling).await;
    let run = probe("bad-input", &[&server.url()]).await;
    assert_eq!(run.status, 0);
    for url in [
        "ws://example.com/#fragment",
        "ftp://example.com/",
        "/relative",
        "ws://",
    ] {
        let line = run.line(&format!("create {url} "));
        assert!(
            line.starts_with(&format!("create {url} err invalid-url")),
            "{line}"
        );
    }
    assert_eq!(
        run.line("close-code-1001"),
        "close-code-1001 err invalid-close-code 1001"
    );
    assert_eq!(
        run.line("close-code-2999"),
        "close-code-2999 err invalid-close-code 2999"
    );
    assert_eq!(
        run.line("close-code-5000"),
        "close-code-5000 err invalid-close-code 5000"
    );
    assert_eq!(
        run.line("reason-124-bytes"),
        "reason-124-bytes err reason-too-long 124"
    );
    assert_eq!(
        run.line("send-utf8-invalid"),
        "send-utf8-invalid err invalid-utf8 the text is not UTF-8: \
         incomplete utf-8 byte sequence from index 1"
    );
    assert_eq!(
        run.line("state-after-bad-closes"),
        "state-after-bad-closes=open"
    );
    assert_eq!(
        run.line("closed "),
        format!("closed 1000 clean=true reason={}", "a".repeat(123))
    );
    // Only the one valid URL made a connection, and nothing was sent on it.
    assert_eq!(run.stats.last_close.as_ref().map(|c| c.code), Some(1000));
    assert_eq!(run.stats.messages_sent, 0);
}

#[tokio::test]
async fn server_close_reports_code_and_reason() {
    let server = serve(|mut ws: ServerSocket, _| async move {
        let frame = CloseFrame {
            code: CloseCode::from(4000),
            reason: "server says bye".into(),
        };
        let _ = ws.close(Some(frame)).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let run = probe("observe", &[&server.url()]).await;
    assert_eq!(
        run.stdout,
        [
            "push 1 open state=open",
            "push 1 close 4000 clean=true reason=server says bye state=closed"
        ]
    );
}

#[tokio::test]
async fn server_close_without_code_reports_1005() {
    let server = serve(|mut ws: ServerSocket, _| async move {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let run = probe("observe", &[&server.url()]).await;
    assert_eq!(
        run.stdout[1],
        "push 1 close 1005 clean=true reason= state=closed"
    );
}

#[tokio::test]
async fn refused_connection_reports_error_then_abnormal_close() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);
    let run = probe("observe", &[&url]).await;
    assert_eq!(run.stdout.len(), 2, "{:#?}", run.stdout);
    run.assert_failed_at(0, "connection-refused ");
    assert!(run.stdout[0].ends_with("state=closed"), "{}", run.stdout[0]);
    assert_eq!(
        run.stats.errors.get("connection-refused"),
        Some(&1),
        "{:?}",
        run.stats
    );
}

#[tokio::test]
async fn server_dropping_tcp_reports_error_then_abnormal_close() {
    let server = serve(|mut ws: ServerSocket, journal: Journal| async move {
        if let Some(Ok(message)) = ws.next().await {
            journal.record(format!("got {message}"));
        }
        // Dropping the stream closes TCP with no close frame.
    })
    .await;
    let run = probe("greet", &[&server.url()]).await;
    assert_eq!(run.stdout[..2], ["push 1 open state=open", "send ok"]);
    run.assert_failed_at(2, "io ");
    assert_eq!(run.stdout.len(), 4);
    assert_eq!(server.journal.lines(), ["got hello"]);
}

#[tokio::test]
async fn handshake_rejected_by_http_status_is_visible_to_the_guest() {
    let server = serve_tcp(|mut tcp, _| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut request = [0u8; 2048];
        let _ = tcp.read(&mut request).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
    })
    .await;
    let run = probe("observe", &[&server.url()]).await;
    run.assert_failed_at(0, "handshake-rejected 403 ");
}

#[tokio::test]
async fn destroy_while_open_closes_with_1001_and_delivers_nothing_more() {
    let server = serve(echo_journaling).await;
    let run = probe("destroy", &[&server.url()]).await;
    assert_eq!(
        run.stdout,
        [
            "push 1 open state=open",
            "send ok",
            "destroyed state=closed",
            "send-after-destroy err invalid-state the socket was destroyed",
        ]
    );
    server.journal.wait_for("ended").await;
    assert_eq!(
        server.journal.lines(),
        ["text before destroy", "close 1001 ", "ended"]
    );
    assert_eq!(
        run.stats.messages_received, 0,
        "the echo came after destroy"
    );
}

#[tokio::test]
async fn pull_mode_delivers_events_through_update() {
    let server = serve(echo_journaling).await;
    let run = probe("pull", &[&server.url()]).await;
    assert_eq!(
        run.stdout,
        [
            "pull 1 open state=open",
            "send ok",
            "pull 1 message text pulled",
            "close ok",
            "pull 1 close 1000 clean=true reason=done",
            "pull done after 3 rounds, 0 pending",
        ]
    );
}

#[tokio::test]
async fn guest_blocking_on_the_socket_pollable_wakes_for_each_event() {
    let server = serve(echo_journaling).await;
    let run = probe("pollable", &[&server.url()]).await;
    let events: Vec<_> = run.lines_starting("pull ");
    assert_eq!(
        events,
        [
            "pull 1 open",
            "pull 1 message binary [112, 111, 108, 108, 32, 109, 101]",
            "pull 1 close 1005 clean=true reason= state=closed"
        ]
    );
    // Every block ended with the pollable ready.
    assert!(!run.lines_starting("ready-after-block=").is_empty());
    assert!(
        run.lines_starting("ready-after-block=")
            .iter()
            .all(|l| l.ends_with("true"))
    );
}

#[tokio::test]
async fn several_sockets_on_one_device_keep_per_socket_order() {
    let server = serve(echo_journaling).await;
    let url = server.url();
    let run = probe("many", &[&url, &url, &url]).await;
    assert_eq!(run.status, 0);
    for id in 1..=3 {
        let events: Vec<_> = run
            .stdout
            .iter()
            .filter(|line| line.starts_with(&format!("push {id} ")))
            .cloned()
            .collect();
        let mut expected: Vec<String> = (1..=5)
            .map(|n| format!("push {id} message text socket {id} message {n}"))
            .collect();
        expected.push(format!(
            "push {id} close 1000 clean=true reason= state=closed"
        ));
        assert_eq!(events, expected);
    }
    assert_eq!(run.stats.messages_received, 15);
}

#[tokio::test]
async fn close_while_connecting_fails_the_connection() {
    // The browser's rule goes by the state the script has seen: a socket
    // closed while CONNECTING fails, also when its handshake has just
    // finished (the probe waits 300 ms before closing) and its open event
    // is queued but not yet seen.
    let server = serve(echo_journaling).await;
    for scenario in ["close-while-connecting", "close-before-open-is-seen"] {
        let run = probe(scenario, &[&server.url()]).await;
        assert_eq!(
            run.stdout,
            [
                "close ok",
                "after-close state=closing",
                "push 1 error invalid-state the socket was closed before the connection was established state=closed",
                "push 1 close 1006 clean=false reason= state=closed",
            ],
            "{scenario}"
        );
    }
}

#[tokio::test]
async fn take_messages_packs_the_messages_at_the_head_of_the_queue_in_bounded_batches() {
    use tokio_tungstenite::tungstenite::Message;
    // On "go": four small messages, one of 3 MiB (over 64 KiB: it comes
    // alone), one more, 70 of 60 KiB (over the 4 MiB a batch packs), then
    // the close.
    let server = serve(|mut ws: ServerSocket, _| async move {
        use futures_util::SinkExt;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() {
                break;
            }
        }
        let mut messages = vec![
            Message::text("one"),
            Message::binary(vec![1, 2, 3]),
            Message::text(""),
            Message::text("two"),
            Message::binary(vec![7u8; 3 << 20]),
            Message::text("three"),
        ];
        messages.extend((0..70).map(|_| Message::binary(vec![8u8; 60 << 10])));
        for message in messages {
            if ws.feed(message).await.is_err() {
                return;
            }
        }
        let _ = ws.close(None).await;
        while ws.next().await.is_some() {}
    })
    .await;
    let run = probe("take-messages", &[&server.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            "before open: 0 messages",
            "events open",
            "go ok",
            "batch 0: [text \"one\", binary [1, 2, 3], text \"\", text \"two\"]",
            "payloads 9 bytes, used 9",
            "batch 1: [binary 3145728 bytes]",
            "payloads 3145728 bytes, used 3145728",
            // 5 + 68 x 61,440 bytes fit in 4 MiB; one more would not.
            "batch 2: [text \"three\", binary 61440 bytes x68]",
            "payloads 4177925 bytes, used 4177925",
            "batch 3: [binary 61440 bytes x2]",
            "payloads 122880 bytes, used 122880",
            "batch 4: []",
            "payloads 0 bytes, used 0",
            "events close 1005",
        ]
    );
}

#[tokio::test]
async fn send_messages_queues_in_order_and_stops_at_the_first_refused() {
    let server = serve(echo_journaling).await;
    let run = probe("send-messages", &[&server.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            "whole: ok",
            "partway: queued 1 then invalid-utf8 the text is not UTF-8: \
             invalid utf-8 sequence of 1 bytes from index 0",
            "packed: ok",
            "packed partway: queued 0 then invalid-utf8 the text is not UTF-8: \
             invalid utf-8 sequence of 1 bytes from index 0",
            "latin1 ok",
            "close ok",
        ]
    );
    server.journal.wait_for("ended").await;
    assert_eq!(
        server.journal.lines(),
        [
            "text hello",
            "binary [1, 2, 3]",
            "text ",
            "text ok",
            "binary [9, 8]",
            "text abc",
            "binary [255, 0, 233, 65]",
            "close 1000 ",
            "ended"
        ]
    );
    // Lists that disagree are malformed arguments: the call traps.
    let url = server.url();
    for (call, variant) in [
        ("send-messages", "disagree"),
        ("send-packed", "disagree-packed"),
    ] {
        let args = ["send-messages", url.as_str(), variant];
        let error = support::try_run_guest("probe", &args, support::allow_all())
            .await
            .expect_err("the call traps");
        assert!(
            format!("{error:?}").contains(&format!(
                "{call}: 1 binary flags and 1 lengths adding up to 4 bytes, for 3 bytes of payloads"
            )),
            "{error:?}"
        );
    }
    // So is a `send-latin1` character that is not a byte.
    let args = ["send-messages", url.as_str(), "beyond-latin1"];
    let error = support::try_run_guest("probe", &args, support::allow_all())
        .await
        .expect_err("the call traps");
    assert!(
        format!("{error:?}").contains("send-latin1: a character above U+00FF is not a byte"),
        "{error:?}"
    );
}

#[test]
fn guest_components_import_network_and_export_handler_and_watch_handler() {
    for guest in ["echo", "probe"] {
        let component = support::component(guest);
        let ty = component.component_type();
        let engine = wasmtime::Engine::default();
        let imports: Vec<_> = ty
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let exports: Vec<_> = ty
            .exports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        assert!(
            imports.contains(&"wit-websocket:client/network@0.1.6".to_string()),
            "{guest}: {imports:?}"
        );
        assert!(
            exports.contains(&"wit-websocket:client/handler@0.1.6".to_string()),
            "{guest}: {exports:?}"
        );
        assert!(
            exports.contains(&"wit-websocket:client/watch-handler@0.1.6".to_string()),
            "{guest}: {exports:?}"
        );
        assert!(
            exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")),
            "{guest}: {exports:?}"
        );
    }
}

#[tokio::test]
async fn buffered_amount_grows_on_send_and_falls_as_bytes_are_written() {
    // Reads the whole message, then reports its size.
    let server = serve(|mut ws: ServerSocket, _| async move {
        while let Some(Ok(message)) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Binary(bytes) = message {
                let reply = format!("got {} bytes", bytes.len());
                let _ = futures_util::SinkExt::send(&mut ws, reply.into()).await;
            }
        }
    })
    .await;
    let run = probe("buffered", &[&server.url()]).await;
    assert_eq!(run.line("buffered-before-send="), "buffered-before-send=0");
    assert_eq!(run.line("send"), "send ok");
    assert_eq!(
        run.line("buffered-after-send-positive="),
        "buffered-after-send-positive=true"
    );
    assert_eq!(
        run.line("push 1 message"),
        format!("push 1 message text got {} bytes", 8 << 20)
    );
    assert_eq!(run.line("buffered-on-reply="), "buffered-on-reply=0");
}

#[tokio::test]
async fn a_socket_made_in_a_callback_never_gets_the_destroyed_sockets_events() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    // Each connection gets "one" and "two" at once, then is read to the end.
    let server = serve(|mut ws: ServerSocket, _| async move {
        for text in ["one", "two"] {
            let _ = ws.feed(Message::Text(text.into())).await;
        }
        let _ = ws.flush().await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let run = probe("destroy-and-replace", &[&server.url()]).await;
    // A's "two" was queued when A was destroyed: dropped, never B's.
    assert_eq!(
        run.stdout,
        [
            "a text one",
            "b is a new socket: true",
            "b text one",
            "b text two",
            "close ok"
        ]
    );
}

#[tokio::test]
async fn a_ping_is_answered_by_the_peers_pong_with_its_round_trip() {
    let server = serve(echo_journaling).await;
    let run = probe("ping", &[&server.url()]).await;
    assert_eq!(
        run.stdout,
        [
            "ping-126 err message-too-large a ping carries at most 125 bytes, not 126",
            "pong probe rtt>0=true",
            "close ok",
            "ping-after-close err invalid-state cannot send after the socket started closing",
            "close 1000 clean=true reason=done",
        ],
    );
}

#[tokio::test]
async fn a_ping_the_peer_never_answers_settles_when_the_connection_ends() {
    // The peer completes the handshake, never reads (so never pongs), and
    // drops TCP: the guest, blocked on the ping's pollable, is woken then.
    let server = serve_tcp(|tcp, _journal| async move {
        let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
            return;
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(ws);
    })
    .await;
    let run = probe("ping", &[&server.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(run.stdout[1], "no pong", "{:#?}", run.stdout);
    assert_eq!(
        run.stdout.last().map(String::as_str),
        Some("close 1006 clean=false reason="),
        "{:#?}",
        run.stdout
    );
}
