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
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/js-npm-library");
    let installed = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&dir)
        .status()
        .expect("npm runs");
    assert!(installed.success(), "npm ci in {}", dir.display());
    let echo = EchoServer::start().await.unwrap();
    let run = run_language_guest("tests/guests/js-npm-library/app.js", &[&echo.url()]).await;
    assert_eq!(run.status, 0, "{:#?}", run.stdout);
    assert_eq!(
        run.stdout,
        ["echo: through reconnecting-websocket", "closed"]
    );
}
