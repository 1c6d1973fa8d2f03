//! Protocol fidelity: wss, subprotocols and headers, keepalive, timeouts and
//! handshake failures, each through the probe guest against a real server.

mod support;

use std::time::Duration;

use tokio::net::TcpStream;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::{
    Frame,
    coding::{CloseCode, Data, OpCode},
};
use wit_websocket_cli::echo_server::EchoServer;
use wit_websocket_host::WebSocketConfig;

use support::{
    Journal, ServerSocket, TestPki, echo_journaling, journal_close_codes, probe, probe_with, serve,
    serve_tcp, serve_tls,
};

fn trusting(pki: &TestPki) -> WebSocketConfig {
    WebSocketConfig {
        extra_root_certificates: vec![pki.ca.clone()],
        ..support::allow_all()
    }
}

#[tokio::test]
async fn wss_with_a_trusted_ca_echoes() {
    let pki = TestPki::new(&["127.0.0.1"]).unwrap();
    let server = serve_tls(&pki, echo_journaling).await;
    let url = format!("wss://{}/", server.address);
    let run = probe_with("pull", &[&url], trusting(&pki)).await;
    assert_eq!(run.line("pull 1 message"), "pull 1 message text pulled");
    assert_eq!(
        run.line("pull 1 close"),
        "pull 1 close 1000 clean=true reason=done"
    );
    server.journal.wait_for("ended").await;
    assert_eq!(server.journal.lines()[0], "text pulled");
}

#[tokio::test]
async fn wss_with_an_untrusted_certificate_is_a_tls_error() {
    let pki = TestPki::new(&["127.0.0.1"]).unwrap();
    let server = serve_tls(&pki, echo_journaling).await;
    let url = format!("wss://{}/", server.address);
    // The host does not trust the test CA.
    let run = probe("observe", &[&url]).await;
    run.assert_failed_at(0, "tls ");
    assert!(run.stdout[0].contains("UnknownIssuer"), "{}", run.stdout[0]);
}

#[tokio::test]
async fn wss_with_a_certificate_for_another_host_is_a_tls_error() {
    let pki = TestPki::new(&["other.example"]).unwrap();
    let server = serve_tls(&pki, echo_journaling).await;
    let url = format!("wss://{}/", server.address);
    let run = probe_with("observe", &[&url], trusting(&pki)).await;
    run.assert_failed_at(0, "tls ");
    assert!(
        run.stdout[0].contains("certificate not valid for name"),
        "{}",
        run.stdout[0]
    );
}

#[tokio::test]
async fn a_ca_file_is_loaded_and_trusted() {
    let pki = TestPki::new(&["127.0.0.1"]).unwrap();
    let server = serve_tls(&pki, echo_journaling).await;
    let dir = std::env::temp_dir().join(format!("wit-websocket-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let config = WebSocketConfig {
        extra_root_certificates: wit_websocket_host::tls::load_ca_file(&ca_file).unwrap(),
        ..support::allow_all()
    };
    let url = format!("wss://{}/", server.address);
    let run = probe_with("pull", &[&url], config).await;
    assert_eq!(
        run.line("pull 1 close"),
        "pull 1 close 1000 clean=true reason=done"
    );
    assert!(wit_websocket_host::tls::load_ca_file(&dir.join("missing.pem")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A server that journals the upgrade request's `sec-websocket-protocol`,
/// `authorization` and `x-trace` headers, answers with the `answer` headers
/// added, then runs `behaviour`.
#[allow(clippy::result_large_err)] // tungstenite's callback type, not ours
async fn answering_server<F, Fut>(
    answer: Vec<(&'static str, &'static str)>,
    behaviour: F,
) -> support::TestServer
where
    F: Fn(ServerSocket, Journal) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    serve_tcp(move |tcp, journal: Journal| {
        let behaviour = behaviour.clone();
        let answer = answer.clone();
        async move {
            let seen = journal.clone();
            let callback = move |request: &Request, mut response: Response| {
                for name in ["sec-websocket-protocol", "authorization", "x-trace"] {
                    if let Some(value) = request.headers().get(name) {
                        seen.record(format!("{name}: {}", value.to_str().unwrap()));
                    }
                }
                for (name, value) in answer {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                Ok(response)
            };
            if let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await {
                behaviour(ws, journal).await;
            }
        }
    })
    .await
}

/// An echo server that answers with `choose` as its subprotocol.
async fn choosing_server(choose: Option<&'static str>) -> support::TestServer {
    let answer = choose.map(|protocol| ("sec-websocket-protocol", protocol));
    answering_server(answer.into_iter().collect(), echo_journaling::<TcpStream>).await
}

#[tokio::test]
async fn subprotocols_and_headers_are_sent_and_the_choice_reported() {
    let server = choosing_server(Some("superchat")).await;
    let run = probe(
        "connect",
        &[
            &server.url(),
            "protocols=chat,superchat",
            "header=Authorization:Bearer t0ken",
            "header=X-Trace:42",
            "then=close",
        ],
    )
    .await;
    assert_eq!(
        run.line("push 1 open"),
        "push 1 open protocol=superchat extensions="
    );
    assert_eq!(
        run.line("push 1 close"),
        "push 1 close 1000 clean=true reason= state=closed"
    );
    let seen = server.journal.lines();
    assert!(
        seen.contains(&"sec-websocket-protocol: chat, superchat".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"authorization: Bearer t0ken".to_string()),
        "{seen:?}"
    );
    assert!(seen.contains(&"x-trace: 42".to_string()), "{seen:?}");
}

#[tokio::test]
async fn a_subprotocol_not_offered_fails_the_connection() {
    let server = choosing_server(Some("other")).await;
    let run = probe("connect", &[&server.url(), "protocols=chat"]).await;
    run.assert_failed_at(0, "handshake-rejected 101 ");
}

#[tokio::test]
async fn forbidden_or_malformed_options_are_refused_before_connecting() {
    let server = choosing_server(None).await;
    for setting in [
        "header=Sec-WebSocket-Key:abc",
        "header=Host:evil",
        "header=bad name:x",
        "protocols=a b",
        "protocols=x,x",
    ] {
        let run = probe("connect", &[&server.url(), setting]).await;
        assert!(
            run.line("create")
                .starts_with("create err invalid-options "),
            "{setting}: {:?}",
            run.stdout
        );
    }
    assert!(server.journal.lines().is_empty(), "nothing connected");
}

#[tokio::test]
async fn pings_from_the_server_are_answered() {
    let server = serve(|mut ws: ServerSocket, journal: Journal| async move {
        ws.send(Message::Ping(b"are you there".as_ref().into()))
            .await
            .unwrap();
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Pong(payload) = message {
                journal.record(format!("pong {}", String::from_utf8_lossy(&payload)));
                let _ = ws.close(None).await;
            }
        }
    })
    .await;
    let run = probe("observe", &[&server.url()]).await;
    assert_eq!(server.journal.lines(), ["pong are you there"]);
    assert_eq!(
        run.line("push 1 close"),
        "push 1 close 1005 clean=true reason= state=closed"
    );
}

/// A server that completes the handshake, then neither reads nor writes.
async fn silent_server() -> support::TestServer {
    serve(|ws: ServerSocket, _| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(ws);
    })
    .await
}

#[tokio::test]
async fn keepalive_fails_a_connection_whose_peer_stopped_answering() {
    let server = silent_server().await;
    let run = probe("connect", &[&server.url(), "keepalive=150"]).await;
    assert_eq!(run.stdout[0], "push 1 open protocol= extensions=");
    run.assert_failed_at(1, "timeout no pong arrived within 150ms");
}

#[tokio::test]
async fn keepalive_keeps_a_live_connection_open() {
    // This server answers pings (tungstenite does) and closes after a while.
    let server = serve(|mut ws: ServerSocket, journal: Journal| async move {
        let deadline = tokio::time::sleep(Duration::from_millis(700));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                message = ws.next() => match message {
                    Some(Ok(Message::Ping(_))) => journal.record("ping"),
                    Some(Ok(_)) => {}
                    _ => return,
                },
                () = &mut deadline => break,
            }
        }
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let run = probe("connect", &[&server.url(), "keepalive=100"]).await;
    assert_eq!(
        run.line("push 1 close"),
        "push 1 close 1005 clean=true reason= state=closed"
    );
    assert!(
        server.journal.lines().len() >= 3,
        "pinged every 100 ms: {:?}",
        server.journal.lines()
    );
}

#[tokio::test]
async fn a_closing_handshake_the_peer_never_completes_times_out() {
    let server = silent_server().await;
    let config = WebSocketConfig {
        close_timeout: Duration::from_millis(200),
        ..support::allow_all()
    };
    let run = probe_with("connect", &[&server.url(), "then=close"], config).await;
    assert_eq!(run.stdout[1], "close ok");
    run.assert_failed_at(
        2,
        "timeout the peer did not complete the closing handshake within 200ms",
    );
}

#[tokio::test]
async fn a_handshake_that_hangs_times_out() {
    // Accepts TCP, never answers the upgrade request.
    let server = serve_tcp(|tcp, _| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(tcp);
    })
    .await;
    let run = probe("connect", &[&server.url(), "connect-timeout=200"]).await;
    run.assert_failed_at(0, "timeout the connection was not established within 200ms");
}

/// A server that answers the upgrade request with `response` verbatim.
async fn raw_http_server(response: &'static str) -> support::TestServer {
    serve_tcp(move |mut tcp, _| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut request = [0u8; 4096];
        let _ = tcp.read(&mut request).await;
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn http_errors_and_redirects_are_rejected_handshakes_with_their_status() {
    for (response, status) in [
        ("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", 404),
        (
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
            500,
        ),
        (
            "HTTP/1.1 302 Found\r\nlocation: ws://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n",
            302,
        ),
    ] {
        let server = raw_http_server(response).await;
        let run = probe("observe", &[&server.url()]).await;
        run.assert_failed_at(0, &format!("handshake-rejected {status} "));
    }
}

#[tokio::test]
async fn a_bad_accept_key_is_a_rejected_handshake() {
    let server = raw_http_server(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n",
    )
    .await;
    let run = probe("observe", &[&server.url()]).await;
    run.assert_failed_at(0, "handshake-rejected 101 ");
    assert!(
        run.stdout[0].contains("Sec-WebSocket-Accept"),
        "{}",
        run.stdout[0]
    );
}

#[tokio::test]
async fn http_urls_map_to_ws() {
    let server = serve(echo_journaling).await;
    let url = format!("http://{}/chat?room=1", server.address);
    let run = probe("pull", &[&url]).await;
    assert_eq!(
        run.line("pull 1 close"),
        "pull 1 close 1000 clean=true reason=done"
    );
}

// permessage-deflate (RFC 7692).

/// The exchange lines the probe prints when every echo matched.
const EXCHANGED: [&str; 3] = [
    "echo 0 5 bytes matches=true",
    "echo 1 308000 bytes matches=true",
    "echo 2 70000 bytes matches=true",
];

#[tokio::test]
async fn compression_is_offered_by_default_and_messages_travel_compressed() {
    let server = EchoServer::start().await.unwrap();
    let run = probe("connect", &[&server.url(), "then=exchange"]).await;
    assert_eq!(
        run.line("push 1 open"),
        "push 1 open protocol= extensions=permessage-deflate"
    );
    assert_eq!(run.lines_starting("echo "), EXCHANGED);
    assert_eq!(
        run.line("push 1 close"),
        "push 1 close 1000 clean=true reason= state=closed"
    );
    // The server inflated every message the guest sent; the guest's echoes
    // matched, so it inflated every message the server compressed.
    assert_eq!(server.compressed_messages_received(), 3);
}

#[tokio::test]
async fn compression_can_be_declined() {
    let server = EchoServer::start().await.unwrap();
    let run = probe(
        "connect",
        &[&server.url(), "compression=false", "then=exchange"],
    )
    .await;
    assert_eq!(run.line("push 1 open"), "push 1 open protocol= extensions=");
    assert_eq!(run.lines_starting("echo "), EXCHANGED);
    assert_eq!(server.compressed_messages_received(), 0);
}

/// A server that answers the upgrade with `extensions` as its
/// `Sec-WebSocket-Extensions`, then runs `behaviour`.
async fn extension_server<F, Fut>(extensions: &'static str, behaviour: F) -> support::TestServer
where
    F: Fn(ServerSocket, Journal) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    answering_server(vec![("sec-websocket-extensions", extensions)], behaviour).await
}

#[tokio::test]
async fn extensions_not_offered_or_malformed_fail_the_connection() {
    for (extensions, setting) in [
        ("permessage-deflate", "compression=false"),
        ("x-webkit-deflate-frame", "compression=true"),
        (
            "permessage-deflate; client_max_window_bits=20",
            "compression=true",
        ),
        ("permessage-deflate; hyper_mode", "compression=true"),
    ] {
        let server = extension_server(extensions, journal_close_codes::<TcpStream>).await;
        let run = probe("connect", &[&server.url(), setting]).await;
        run.assert_failed_at(0, "handshake-rejected 101 ");
    }
}

/// A compressed frame carrying `message`, as a server with deflate sends it.
fn compressed(message: Message) -> Message {
    let (params, _) = wit_websocket_host::deflate::answer_offers(&["permessage-deflate"]).unwrap();
    params.server_deflater().deflate(message)
}

#[tokio::test]
async fn a_message_that_does_not_inflate_fails_the_connection_with_1002() {
    let server = extension_server(
        "permessage-deflate",
        |mut ws: ServerSocket, journal| async move {
            // RSV1 set on a final text frame whose payload is not deflate data.
            let mut frame = Frame::message(vec![0xff, 0xff], OpCode::Data(Data::Text), true);
            frame.header_mut().rsv1 = true;
            let _ = ws.send(Message::Frame(frame)).await;
            journal_close_codes(ws, journal).await;
        },
    )
    .await;
    let run = probe("observe", &[&server.url()]).await;
    run.assert_failed_at(
        1,
        "protocol-violation a compressed message does not inflate",
    );
    assert_eq!(server.journal.wait_for("close").await, "close 1002");
}

#[tokio::test]
async fn a_small_frame_inflating_past_the_message_limit_fails_with_1009() {
    let server = extension_server(
        "permessage-deflate",
        |mut ws: ServerSocket, journal| async move {
            // 8 MiB of zeros compress to about 8 KiB.
            let bomb = compressed(Message::binary(vec![0u8; 8 << 20]));
            let _ = ws.send(bomb).await;
            journal_close_codes(ws, journal).await;
        },
    )
    .await;
    let config = WebSocketConfig {
        max_message_size: 1 << 20,
        ..support::allow_all()
    };
    let run = probe_with("observe", &[&server.url()], config).await;
    run.assert_failed_at(1, "message-too-large ");
    assert_eq!(server.journal.wait_for("close").await, "close 1009");
}

#[tokio::test]
async fn a_compressed_frame_announcing_more_than_the_frame_limit_fails_with_1009() {
    let server = extension_server(
        "permessage-deflate",
        |mut ws: ServerSocket, journal| async move {
            use tokio::io::AsyncWriteExt;
            // FIN + RSV1 + binary, 64-bit length 2^63 - 1, then a few bytes.
            let header = [
                0xc2, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3,
            ];
            ws.get_mut().write_all(&header).await.unwrap();
            journal_close_codes(ws, journal).await;
        },
    )
    .await;
    let run = probe("observe", &[&server.url()]).await;
    run.assert_failed_at(1, "message-too-large ");
    assert_eq!(server.journal.wait_for("close").await, "close 1009");
}

#[tokio::test]
async fn after_the_peers_close_frame_the_socket_is_closing_and_sends_are_refused() {
    // Says goodbye, sends its close frame, reads the answer, then holds the
    // TCP connection for a second before dropping it.
    let server = serve(|mut ws, journal| async move {
        let _ = ws.send(Message::Text("bye".into())).await;
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "server done".into(),
        };
        let _ = ws.close(Some(frame)).await;
        while let Some(message) = ws.next().await {
            journal.record(format!("after close {message:?}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    })
    .await;
    let run = probe("send-after-peer-close", &[&server.url()]).await;
    // The message is delivered `open` or, if the close frame has arrived
    // meanwhile, `closing`, as in a browser.
    assert!(
        run.stdout[0].starts_with("message text bye state="),
        "{:#?}",
        run.stdout
    );
    assert_eq!(
        run.stdout[1..],
        [
            "later state=closing",
            "send err invalid-state cannot send after the socket started closing",
            "close 1000 clean=true reason=server done state=closed",
        ]
    );
    // Nothing the guest sent reached the server after its close frame.
    assert!(
        !server
            .journal
            .lines()
            .iter()
            .any(|l| l.contains("too late")),
        "{:?}",
        server.journal.lines()
    );
}

#[tokio::test]
async fn a_101_selecting_two_subprotocols_fails_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    // A valid 101 in every other respect, with two Sec-WebSocket-Protocol headers.
    let server = serve_tcp(|mut tcp: TcpStream, _| async move {
        let mut request = vec![0u8; 4096];
        let read = tcp.read(&mut request).await.unwrap_or(0);
        let request = String::from_utf8_lossy(&request[..read]).to_string();
        let key = request
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key").then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-accept: {}\r\nsec-websocket-protocol: chat\r\nsec-websocket-protocol: evil\r\n\r\n",
            derive_accept_key(key.as_bytes())
        );
        let _ = tcp.write_all(response.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let run = probe("connect", &[&server.url(), "protocols=chat,evil"]).await;
    run.assert_failed_at(
        0,
        "handshake-rejected 101 the server selected 2 subprotocols (chat, evil)",
    );
}

#[tokio::test]
async fn an_uncompressed_message_inside_a_fragmented_compressed_one_fails_with_1002() {
    let server = extension_server(
        "permessage-deflate",
        |mut ws: ServerSocket, journal| async move {
            use tokio::io::AsyncWriteExt;
            // A compressed text message's first fragment (RSV1, not final,
            // no payload yet), then a whole uncompressed text message "hi"
            // where only its continuation may come (RFC 6455 §5.4).
            let frames = [0x41, 0x00, 0x81, 0x02, b'h', b'i'];
            ws.get_mut().write_all(&frames).await.unwrap();
            journal_close_codes(ws, journal).await;
        },
    )
    .await;
    let run = probe("observe", &[&server.url()]).await;
    // Open, then the failure: no message "hi" was delivered.
    assert!(
        !run.stdout.iter().any(|l| l.contains("message text")),
        "{:#?}",
        run.stdout
    );
    run.assert_failed_at(
        1,
        "protocol-violation a compressed message does not inflate: a new data message began",
    );
    assert_eq!(server.journal.wait_for("close").await, "close 1002");
}
