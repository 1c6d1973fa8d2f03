//! Guests in JavaScript and Python, built with componentize-js and
//! componentize-py by `guest/componentize`, in the real host against real
//! servers on 127.0.0.1.

mod support;

use chat_server::ChatServer;
use support::{
    GuestRun, allow_all, language_component, run_component, run_guest, run_language_guest,
    run_language_guest_with,
};
use wit_websocket_cli::echo_server::EchoServer;
use wit_websocket_host::WebSocketConfig;

/// A `ws://` URL on 127.0.0.1 where nothing listens.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("ws://{address}/")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_javascript_websocket_class_behaves_as_the_whatwg_spec_says() {
    let echo = EchoServer::start().await.unwrap();
    // Messages of at most 8 MiB, so that a case can send one too large.
    let config = WebSocketConfig {
        max_message_size: 8 << 20,
        ..support::allow_all()
    };
    let run = run_language_guest_with(
        "tests/guests/js-browser/suite.js",
        &[&echo.url(), &refused_url()],
        config,
    )
    .await;
    let failed = run.lines_starting("not ok");
    assert!(failed.is_empty(), "{failed:#?}\n{:#?}", run.stdout);
    let passed = run.lines_starting("ok - ").len();
    assert!(passed >= 25, "only {passed} cases ran: {:#?}", run.stdout);
    assert_eq!(
        run.line("suite: "),
        format!("suite: {passed} passed, 0 failed")
    );
    assert_eq!(run.status, 0);
}

/// The chat lines (`NICK: TEXT`) a chat guest printed, in order.
fn chat_lines(run: &GuestRun) -> Vec<&str> {
    run.stdout
        .iter()
        .map(String::as_str)
        .filter(|line| {
            ["ann: ", "bob: ", "cat: "]
                .iter()
                .any(|n| line.starts_with(n))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_python_and_javascript_guests_chat_in_one_room() {
    let server = ChatServer::start("127.0.0.1:0").await.unwrap();
    let room = format!("ws://{}/lobby", server.address());
    // Compiled before the clock of any run starts.
    language_component("examples/chat/python/app.py");
    language_component("examples/chat/js/app.js");

    // Each says two lines and leaves once it has seen all six; the room's
    // scrollback shows a late joiner what was said before it came.
    let leave_after = ["--leave-after", "6", &room];
    let args = |nick: &'static str, first: &'static str, second: &'static str| {
        let mut args = leave_after.to_vec();
        args.extend([nick, first, second]);
        args
    };
    let ann = args("ann", "hello from Rust", "Rust again");
    let bob = args("bob", "hello from Python", "Python again");
    let cat = args("cat", "hello from JavaScript", "JavaScript again");
    let (rust, python, javascript) = tokio::join!(
        run_guest("chat", &ann),
        run_language_guest("examples/chat/python/app.py", &bob),
        run_language_guest("examples/chat/js/app.js", &cat),
    );

    let room_order: Vec<String> = server
        .scrollback("lobby")
        .into_iter()
        .filter(|line| !line.starts_with("* "))
        .collect();
    assert_eq!(room_order.len(), 6, "{room_order:#?}");
    for (nick, run) in [("ann", &rust), ("bob", &python), ("cat", &javascript)] {
        assert_eq!(run.status, 0, "{nick}: {:#?}", run.stdout);
        assert_eq!(
            run.stdout.first().map(String::as_str),
            Some(&*format!("joined as {nick}"))
        );
        assert_eq!(chat_lines(run), room_order, "{nick} saw the room's order");
        assert_eq!(
            run.stdout.last().map(String::as_str),
            Some("left: 1000"),
            "{nick}"
        );
        assert_eq!(run.live_sockets, 0, "{nick}");
    }
    for (nick, first, second) in [
        ("ann", "hello from Rust", "Rust again"),
        ("bob", "hello from Python", "Python again"),
        ("cat", "hello from JavaScript", "JavaScript again"),
    ] {
        let said: Vec<&String> = room_order
            .iter()
            .filter(|line| line.starts_with(&format!("{nick}: ")))
            .collect();
        assert_eq!(
            said,
            [&format!("{nick}: {first}"), &format!("{nick}: {second}")]
        );
    }

    // The server saw everyone leave (their close frames end their sessions).
    for _ in 0..100 {
        if server
            .scrollback("lobby")
            .iter()
            .filter(|l| l.ends_with(" left"))
            .count()
            == 3
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let left: Vec<String> = server
        .scrollback("lobby")
        .into_iter()
        .filter(|line| line.ends_with(" left"))
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_nickname_is_refused_with_4001() {
    let server = ChatServer::start("127.0.0.1:0").await.unwrap();
    let room = format!("ws://{}/lobby", server.address());
    language_component("examples/chat/python/app.py");
    let first_ann = ["--leave-after", "2", &room, "ann", "first"];
    let (ann, (second_ann, bob)) = tokio::join!(
        // Stays until bob's line, so the second ann meets her in the room.
        run_guest("chat", &first_ann),
        async {
            while !server
                .scrollback("lobby")
                .contains(&"* ann joined".to_string())
            {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let second_ann =
                run_language_guest("examples/chat/python/app.py", &[&room, "ann"]).await;
            let bob = run_guest("chat", &["--leave-after", "1", &room, "bob", "done"]).await;
            (second_ann, bob)
        },
    );
    assert_eq!(
        second_ann.stdout.last().map(String::as_str),
        Some("left: 4001"),
        "{:#?}",
        second_ann.stdout
    );
    for run in [&ann, &bob] {
        assert_eq!(
            run.stdout.last().map(String::as_str),
            Some("left: 1000"),
            "{:#?}",
            run.stdout
        );
    }
    assert_eq!(chat_lines(&ann), ["ann: first", "bob: done"]);
}

#[tokio::test]
async fn python_sdk_idioms_assigned_callbacks_error_classes_with_blocks_and_seconds() {
    // `ws.on_message = f` (websocket-client's habit) used to shadow the
    // decorator method and the callback never ran.
    let echo = EchoServer::start().await.unwrap();
    let run = run_language_guest("tests/guests/py-callbacks/app.py", &[&echo.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            "bad url: InvalidURI ValueError WebSocketError kind=invalid-url",
            "bad close code: InvalidCloseCode ValueError WebSocketError kind=invalid-close-code",
            "negative timeout: ValueError",
            "with: echoed 'in a with block', then CLOSING",
            "open",
            "message assigned",
            "close 1000"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_guest_sends_more_binary_than_its_memory_holds() {
    // componentize-py 0.25 never frees the buffer it lowers a `bytes`
    // argument into: sent with `send-binary`, every message stayed in the
    // guest's memory, and this guest, limited to 32 MiB, failed with a
    // MemoryError within its first 64 messages of 512 KiB. The SDK now sends
    // binary with `send-latin1`, whose string argument is freed.
    let echo = EchoServer::start().await.unwrap();
    let entry = "tests/guests/py-binary/app.py";
    let component = language_component(entry);
    for mode in ["callbacks", "asyncio"] {
        let run = run_component(
            &component,
            entry,
            &[mode, &echo.url(), "64", "524288"],
            allow_all(),
            32 << 20,
        )
        .await
        .expect("the guest does not trap");
        assert_eq!(run.status, 0, "{:#?}", run.stdout);
        assert_eq!(run.stdout, [format!("{mode}: 64 echoed intact")]);
    }
}

#[tokio::test]
async fn an_unmodified_npm_library_for_browsers_runs_in_a_javascript_guest() {
    // reconnecting-websocket 4.4.0: it uses the global WebSocket and
    // setTimeout, and its module's top level calls Math.random(), which
    // runs when the component is built (that failed the build before).
    npm_ci(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/js-npm-library"));
    let echo = EchoServer::start().await.unwrap();
    let run = run_language_guest("tests/guests/js-npm-library/app.js", &[&echo.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        ["echo: through reconnecting-websocket", "closed"]
    );
}

/// `npm ci` in a test guest's directory: its npm packages, as its lock file pins them.
fn npm_ci(dir: &std::path::Path) {
    let installed = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(dir)
        .status()
        .expect("npm runs");
    assert!(installed.success(), "npm ci in {}", dir.display());
}

/// A node server of a test guest's (`node SCRIPT`), on 127.0.0.1; killed when dropped.
struct NodeServer {
    process: std::process::Child,
    port: u16,
}

impl NodeServer {
    /// Starts `script` (relative to the workspace root), which prints
    /// `listening PORT` once it listens.
    fn start(script: &str) -> Self {
        use std::io::BufRead as _;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
        let mut process = std::process::Command::new("node")
            .arg(&path)
            .current_dir(path.parent().unwrap())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        let mut lines = std::io::BufReader::new(process.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the server prints its port").unwrap();
        let port = first
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("{script} printed {first:?}"));
        Self { process, port }
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Runs the app of the test guest `tests/guests/NAME` (an npm library in a
/// guest, installed by `npm ci`) against its `server.mjs`, at
/// `SCHEME://127.0.0.1:PORT/`; its run, which must have exited 0.
async fn run_against_its_server(name: &str, scheme: &str) -> GuestRun {
    let dir = format!("tests/guests/{name}");
    npm_ci(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&dir));
    let server = NodeServer::start(&format!("{dir}/server.mjs"));
    let url = format!("{scheme}://127.0.0.1:{}/", server.port);
    let run = run_language_guest(&format!("{dir}/app.js"), &[&url]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    run
}

#[tokio::test]
async fn mqtt_js_unchanged_from_npm_publishes_subscribes_pings_and_reconnects_in_a_guest() {
    // MQTT.js 5 (its browser build: it recognises the guest as a web worker)
    // against aedes over ws, both from npm. MQTT.js is imported before the
    // SDK, so its module's first timer is set before the SDK's timers exist.
    let run = run_against_its_server("js-mqtt", "ws").await;
    assert_eq!(
        run.stdout,
        [
            // A client id of MQTT.js's own making (mqttjs_ and random hex).
            "connect 1 true",
            "subscribed t/# qos 1",
            "message t/text hello from a component",
            "message t/binary 0,1,2,254,255",
            // Idle with keepalive 1 s: its pings were answered.
            "pings answered true",
            // The broker dropped the connection (no close frame).
            "offline",
            "reconnecting",
            "connect 2 true",
            // The subscription restored, by MQTT.js.
            "message t/after back again",
            "end",
        ]
    );
}

#[tokio::test]
async fn two_instances_of_one_javascript_component_draw_different_randomness() {
    // One compiled component, two instances in this host: the references
    // its top level took (Math.random, crypto.getRandomValues bound) are
    // the same snapshot's, and still draw from the host's randomness.
    let entry = "tests/guests/js-worker-scope/app.js";
    let first = run_language_guest(entry, &[]).await;
    let second = run_language_guest(entry, &[]).await;
    let json = |run: &GuestRun| -> serde_json::Value {
        assert_eq!(run.status, 0, "{:#?}", run.stdout);
        serde_json::from_str(&run.stdout[0]).unwrap()
    };
    let (first, second) = (json(&first), json(&second));
    for drawn in ["random", "words", "uuid"] {
        assert_ne!(first[drawn], second[drawn], "{drawn}: {first}\n{second}");
    }
}

#[tokio::test]
async fn rpc_websockets_unchanged_from_npm_calls_subscribes_and_reconnects_in_a_guest() {
    // rpc-websockets 10's browser build (it reaches the class as
    // `window.WebSocket`) against its own Server, both from npm.
    let run = run_against_its_server("js-rpc", "ws").await;
    assert_eq!(
        run.stdout,
        [
            "open 1",
            "sum 42",
            // A JSON-RPC error result, as the server's library made it.
            "fail -32000 Error refused on purpose",
            "ticked 7",
            // The server dropped the connection (no close frame).
            "error error",
            "close 1006",
            // Reconnected by rpc-websockets itself.
            "open 2",
            "sum again 2",
            "close 1000",
        ]
    );
}

#[tokio::test]
async fn socket_io_client_unchanged_from_npm_acks_binary_heartbeats_and_reconnects_in_a_guest() {
    // socket.io-client 4's browser build against socket.io, both from npm.
    // engine.io-client keeps the WebSocket class it finds when its module
    // is evaluated, which is before the SDK's here.
    let run = run_against_its_server("js-socketio", "http").await;
    assert_eq!(
        run.stdout,
        [
            "connect 1 true",
            "sum 42",
            "echo true 0,1,2,254,255",
            "heartbeat true",
            // The server dropped the connection (no close frame).
            "disconnect transport error",
            "reconnecting",
            "connect 2 true",
            "sum again 2",
            "disconnect io client disconnect",
        ]
    );
}

#[tokio::test]
async fn partysocket_unchanged_from_npm_reconnects_and_keeps_what_was_sent_meanwhile_in_a_guest() {
    // partysocket's reconnecting WebSocket against a ws echo server, both from npm.
    let run = run_against_its_server("js-partysocket", "ws").await;
    assert_eq!(
        run.stdout,
        [
            "open 1",
            "message hello",
            "message 0,1,2,254,255",
            // The server dropped the connection (no close frame).
            "close without a code",
            "open 2",
            // Sent while the connection was down.
            "message after the drop",
            "close 1000",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn yjs_documents_in_two_guests_converge_through_y_websocket_with_their_own_client_ids() {
    // Yjs and y-websocket against @y/websocket-server, all from npm. lib0
    // reads location.search and takes BroadcastChannel (else Node's Buffer)
    // at load, and binds getRandomValues for Yjs' client ids: two instances
    // of one component must not share them, or their edits would collide.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/js-yjs");
    npm_ci(&dir);
    let server = NodeServer::start("tests/guests/js-yjs/server.mjs");
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let entry = "tests/guests/js-yjs/app.js";
    let (args_a, args_b) = ([url.as_str(), "A", "B"], [url.as_str(), "B", "A"]);
    let (a, b) = tokio::join!(
        run_language_guest(entry, &args_a),
        run_language_guest(entry, &args_b),
    );
    for run in [&a, &b] {
        assert_eq!(run.status, 0, "{:#?}", run.stdout);
        assert_eq!(run.stdout[0], "converged A B", "{:#?}", run.stdout);
        assert!(run.stdout[1].starts_with("client "), "{:#?}", run.stdout);
    }
    assert_ne!(
        a.stdout[1], b.stdout[1],
        "the two instances' Yjs client ids"
    );
}

#[tokio::test]
async fn broadcast_channels_of_one_name_reach_each_other_within_a_javascript_guest() {
    let run = run_language_guest("tests/guests/js-worker-scope/broadcast.js", &[]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            // Not to itself, not to another name, not after close; a clone.
            "b got {\"n\":1} from an own copy true",
            "c got {\"n\":1} from an own copy true",
            "b got {\"n\":2} from an own copy true",
            "posting on a closed channel: InvalidStateError",
        ]
    );
}
