//! HTTP beside WebSockets: a JavaScript guest built with `fetch` (componentize
//! `--fetch`) fetches a token from a real HTTP server (Python's http.server)
//! on loopback, then opens a WebSocket with it, in one run; the same policy
//! that guards sockets refuses a request to a host it does not allow.

mod support;

use std::process::{Child, Command, Stdio};

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
        use std::io::BufRead;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wit-websocket-http-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), token).unwrap();
        // Port 0: the server binds a free port itself and says which, so two
        // tests can never be handed the same one.
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 -m http.server starts");
        let mut banner = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 43123 (http://127.0.0.1:43123/) ..."
        let port = banner
            .split_whitespace()
            .skip_while(|word| *word != "port")
            .nth(1)
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("http.server said {banner:?}"));
        // It prints that before it serves, and resets connections that come
        // too early: serving once it has answered a request of the test's.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !answers(port) {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server does not answer"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
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
            .filter(|line| line.contains("\"GET /token"))
            .map(String::from)
            .collect()
    }
}

/// Whether an HTTP server on `port` answers `GET /ready` (with any status).
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut answer = [0; 5];
    tcp.write_all(b"GET /ready HTTP/1.0\r\n\r\n").is_ok()
        && tcp.read_exact(&mut answer).is_ok()
        && &answer == b"HTTP/"
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
    let token_url = format!("http://127.0.0.1:{}/token", http.port);
    let ws_url = format!("ws://{}/", ws_server.address);
    // Through the CLI, a process of its own: in this test process a wstd
    // request to http.server was now and then reset (2 of 24 runs, with or
    // without the JavaScript test before it; see the closing note of issue
    // 16); never yet through the CLI.
    let guest = format!("{}/fetch-token.wasm", wit_websocket_cli::BUILT_GUESTS_DIR);
    let allow = format!("--allow-net=127.0.0.1:{},{}", http.port, ws_server.address);
    let output = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_wit-websocket"))
            .args(["run", &allow, &guest, "--", &token_url, &ws_url])
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["fetched a token of 7 bytes", "echoed: hello", "closed 1000"],
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        ws_server.journal.lines(),
        ["authorization Some(\"Bearer t0ken-7\")"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_javascript_guest_has_xml_http_request_over_fetch_under_the_same_policy() {
    let http = HttpServer::start("t0ken-42\n");
    let policy = AllowList::deny_all()
        .allow(&format!("127.0.0.1:{}", http.port))
        .unwrap();
    let component = tokio::task::block_in_place(|| {
        support::language_component_with("tests/guests/js-xhr/app.js", &["--fetch"])
    });
    let token_url = format!("http://127.0.0.1:{}/token", http.port);
    let missing_url = format!("http://127.0.0.1:{}/missing", http.port);
    let denied_url = format!("http://localhost:{}/token", http.port);
    let run = support::run_component(
        &component,
        "js-xhr",
        &[&token_url, &missing_url, &denied_url],
        WebSocketConfig::with_policy(policy),
        wit_websocket_host::runner::DEFAULT_MEMORY_LIMIT,
    )
    .await
    .expect("the guest does not trap");
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            // OPENED, HEADERS_RECEIVED, LOADING, DONE.
            "states 1,2,3,4",
            "status 200 text \"t0ken-42\\n\"",
            "length header 9",
            "missing 404",
            "arraybuffer true 9",
            // The policy refused localhost: a network error, as a page sees one.
            "error event, status 0",
            "denied readyState 4",
            "synchronous: InvalidAccessError",
            "data URL data:text/plain;base64,aGk=",
        ]
    );
    assert_eq!(http.requests().len(), 2, "the denied request never left");
}

#[tokio::test]
async fn without_fetch_built_in_a_javascript_request_fails_and_the_guest_goes_on() {
    // StarlingMonkey defines fetch even when the component has no wasi:http
    // (no --fetch), and calling it trapped the guest.
    let run =
        support::run_language_guest("tests/guests/js-xhr/no-fetch.js", &["http://127.0.0.1:9/x"])
            .await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            "fetch: TypeError: true",
            "xhr: error event, status 0, readyState 4",
        ]
    );
}
