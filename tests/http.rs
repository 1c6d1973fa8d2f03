//! HTTP beside WebSockets: a JavaScript guest built with `fetch` (componentize
//! `--fetch`) fetches a token from a real HTTP server (Python's http.server)
//! on loopback, then opens a WebSocket with it, in one run; the same policy
//! that guards sockets refuses a request to a host it does not allow.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wit_websocket_host::WebSocketConfig;
use wit_websocket_host::policy::AllowList;

use support::{Journal, ServerSocket, serve};

/// `python3 -m http.server` on 127.0.0.1, serving a directory with `token`.
struct HttpServer {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl HttpServer {
    fn start(token: &str) -> Self {
        let port = support::free_port();
        let dir = std::env::temp_dir().join(format!("wit-websocket-http-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), token).unwrap();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 -m http.server starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, dir }
    }

    /// The requests it logged (its access log goes to stderr).
    fn requests(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let output = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|line| line.contains("\"GET "))
            .map(String::from)
            .collect()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Echoes text messages and records each.
async fn echo_recording(mut ws: ServerSocket, journal: Journal) {
    use futures_util::{SinkExt, StreamExt};
    while let Some(Ok(message)) = ws.next().await {
        if message.is_text() {
            journal.record(format!("message {}", message.to_text().unwrap()));
            let _ = ws.send(message).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_javascript_guest_fetches_a_token_then_opens_a_websocket_with_it() {
    let http = HttpServer::start("t0ken-42\n");
    let ws_server = serve(echo_recording).await;
    // The policy allows the two servers by address; `localhost` (the same
    // HTTP server under another name) is refused.
    let policy = AllowList::deny_all()
        .allow(&format!("127.0.0.1:{},{}", http.port, ws_server.address))
        .unwrap();
    let component = tokio::task::block_in_place(|| {
        support::language_component_with("tests/guests/js-fetch/app.js", &["--fetch"])
    });
    let token_url = format!("http://127.0.0.1:{}/token", http.port);
    let denied_url = format!("http://localhost:{}/token", http.port);
    let run = support::run_component(
        &component,
        "js-fetch",
        &[&token_url, &ws_server.url(), &denied_url],
        WebSocketConfig::with_policy(policy),
        wit_websocket_host::runner::DEFAULT_MEMORY_LIMIT,
    )
    .await
    .expect("the guest does not trap");
    assert_eq!(
        run.stdout,
        [
            "denied fetch: TypeError",
            "fetched 200 t0ken-42",
            "echoed: hello with t0ken-42",
            "closed 1000"
        ],
    );
    assert_eq!(ws_server.journal.lines(), ["message hello with t0ken-42"],);
    let requests = tokio::task::block_in_place(|| http.requests());
    assert_eq!(
        requests.len(),
        1,
        "only the allowed request arrived: {requests:?}"
    );
    assert!(requests[0].contains("GET /token"), "{requests:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rust_guest_fetches_a_token_with_wstd_then_sends_it_in_the_authorization_header() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    let http = HttpServer::start("t0ken-7\n");
    // A WebSocket echo server that records the handshake's authorization.
    let ws_server = support::serve_tcp(|tcp, journal| async move {
        let seen = journal.clone();
        #[allow(clippy::result_large_err)] // tungstenite's callback type, not ours
        let record = move |request: &Request, response: Response| {
            let authorization = request
                .headers()
                .get("authorization")
                .map(|value| value.to_str().unwrap_or("?").to_string());
            seen.record(format!("authorization {authorization:?}"));
            Ok(response)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, record).await else {
            return;
        };
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() && ws.send(message).await.is_err() {
                return;
            }
        }
    })
    .await;
    let policy = AllowList::deny_all()
        .allow(&format!("127.0.0.1:{},{}", http.port, ws_server.address))
        .unwrap();
    let token_url = format!("http://127.0.0.1:{}/token", http.port);
    let ws_url = format!("ws://{}/", ws_server.address);
    let run = support::run_guest_with(
        "fetch-token",
        &[&token_url, &ws_url],
        WebSocketConfig::with_policy(policy),
    )
    .await;
    assert_eq!(
        run.stdout,
        ["fetched a token of 7 bytes", "echoed: hello", "closed 1000"]
    );
    assert_eq!(
        ws_server.journal.lines(),
        ["authorization Some(\"Bearer t0ken-7\")"]
    );
}
