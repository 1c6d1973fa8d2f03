//! Test guest: runs one named scenario against a URL and prints one line per
//! observation (events, states, errors), which the integration tests read.
//!
//! Usage: `probe SCENARIO URL [URL...]`.

use std::cell::RefCell;
use std::rc::Rc;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use wit_websocket_guest::{
    CloseCode, CloseInfo, ConnectOptions, ErrorCode, Message, NetworkDevice, ReadyState, WebSocket,
    block_on, clear_timer, connect as connect_async, set_interval, set_timeout,
};

wit_websocket_guest::export_handler!();

fn state(ws: &WebSocket) -> &'static str {
    match ws.ready_state() {
        ReadyState::Connecting => "connecting",
        ReadyState::Open => "open",
        ReadyState::Closing => "closing",
        ReadyState::Closed => "closed",
    }
}

/// A socket on a device of its own, through the raw imports (for calls the
/// SDK does not make, such as `send-messages`), pulled until it is no
/// longer connecting.
fn open_pulled(
    url: &str,
) -> (
    wit_websocket_guest::bindings::wit_websocket::client::network::NetworkDevice,
    wit_websocket_guest::bindings::wit_websocket::client::network::Websocket,
) {
    use wit_websocket_guest::bindings::wit_websocket::client::network;
    let raw = network::NetworkDevice::new();
    raw.set_push(false);
    let ws = raw.create_websocket(url, None).expect("a valid URL");
    while ws.ready_state() == ReadyState::Connecting {
        raw.subscribe().block();
        raw.update();
    }
    (raw, ws)
}

fn describe_error(error: &ErrorCode) -> String {
    match error {
        ErrorCode::InvalidUrl(m) => format!("invalid-url {m}"),
        ErrorCode::NotPermitted(m) => format!("not-permitted {m}"),
        ErrorCode::DnsFailure(m) => format!("dns-failure {m}"),
        ErrorCode::ConnectionRefused(m) => format!("connection-refused {m}"),
        ErrorCode::Tls(m) => format!("tls {m}"),
        ErrorCode::HandshakeRejected(r) => format!("handshake-rejected {} {}", r.status, r.message),
        ErrorCode::ProtocolViolation(m) => format!("protocol-violation {m}"),
        ErrorCode::MessageTooLarge(m) => format!("message-too-large {m}"),
        ErrorCode::LimitExceeded(m) => format!("limit-exceeded {m}"),
        ErrorCode::InvalidState(m) => format!("invalid-state {m}"),
        ErrorCode::InvalidOptions(m) => format!("invalid-options {m}"),
        ErrorCode::InvalidUtf8(m) => format!("invalid-utf8 {m}"),
        ErrorCode::InvalidCloseCode(c) => format!("invalid-close-code {c}"),
        ErrorCode::ReasonTooLong(n) => format!("reason-too-long {n}"),
        ErrorCode::Timeout(m) => format!("timeout {m}"),
        ErrorCode::Io(m) => format!("io {m}"),
    }
}

fn describe_message(message: &Message) -> String {
    match message {
        Message::Text(text) => format!("text {text}"),
        Message::Binary(bytes) => format!("binary {bytes:?}"),
    }
}

fn describe_close(info: &CloseInfo) -> String {
    format!(
        "{} clean={} reason={}",
        info.code, info.was_clean, info.reason
    )
}

/// The messages of the `exchange` step: short, long and repetitive, binary.
fn exchange_messages() -> [Message; 3] {
    [
        Message::Text("hello".to_string()),
        // Over 256 KiB: compressed on the blocking pool, where deflate was agreed.
        Message::Text("all work and no play makes jack a dull boy. ".repeat(7_000)),
        Message::Binary((0..=255u8).cycle().take(70_000).collect()),
    ]
}

/// Sends the exchange messages, reports whether each echo matches, and
/// closes once all came back.
fn exchange(ws: &WebSocket) {
    for message in exchange_messages() {
        report("send", ws.send(&message));
    }
    let received = Rc::new(RefCell::new(0));
    ws.on_message(move |ws, message| {
        let n = *received.borrow();
        let expected = &exchange_messages()[n];
        let bytes = match &message {
            Message::Text(got) => got.len(),
            Message::Binary(got) => got.len(),
        };
        let matches = message == *expected; // the SDK's types are PartialEq
        println!("echo {n} {bytes} bytes matches={matches}");
        *received.borrow_mut() += 1;
        if n + 1 == exchange_messages().len() {
            report("close", ws.close_with(CloseCode::NORMAL, ""));
        }
    });
}

/// Sets callbacks that print every event, with the socket's id and state.
fn log_events(ws: &WebSocket, mode: &'static str) {
    ws.on_open(move |ws| println!("{mode} {} open state={}", ws.id(), state(ws)));
    ws.on_message(move |ws, message| {
        println!(
            "{mode} {} message {} state={}",
            ws.id(),
            describe_message(&message),
            state(ws)
        )
    });
    ws.on_error(move |ws, error| {
        println!(
            "{mode} {} error {} state={}",
            ws.id(),
            describe_error(&error),
            state(ws)
        )
    });
    ws.on_close(move |ws, info| {
        println!(
            "{mode} {} close {} state={}",
            ws.id(),
            describe_close(&info),
            state(ws)
        )
    });
}

fn report<T>(what: &str, result: Result<T, ErrorCode>) {
    match result {
        Ok(_) => println!("{what} ok"),
        Err(error) => println!("{what} err {}", describe_error(&error)),
    }
}

fn report_io<T>(what: &str, result: std::io::Result<T>) {
    match result {
        Ok(_) => println!("{what} ok"),
        Err(error) => println!("{what} err {error}"),
    }
}

/// Connection `n` of `count`: close on open, start the next on close.
fn churn(device: NetworkDevice, url: String, count: u32, n: u32) {
    if n > count {
        println!("churned {count}");
        return;
    }
    let ws = device.create_websocket(&url).expect("valid URL");
    ws.on_open(|ws| ws.close().expect("open sockets close"));
    ws.on_error(|_, error| println!("error {}", describe_error(&error)));
    ws.on_close(move |_, info| {
        if !info.was_clean {
            println!("unclean close {}", info.code);
        }
        churn(device.clone(), url.clone(), count, n + 1);
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (scenario, urls) = args.split_first().expect("usage: probe SCENARIO URL...");
    let device = NetworkDevice::new();
    let connect = |url: &str| {
        device
            .create_websocket(url)
            .expect("the test gives valid URLs")
    };
    match scenario.as_str() {
        // Push-mode timers: ordering by deadline, an interval cleared by its
        // own callback after three ticks, a cleared timeout, and a timer set
        // in `on_open` that sends; main keeps the guest busy for 40 ms so
        // that several timers are due at the first wake-up.
        "timers" => {
            let start = Instant::now();
            let at = move || start.elapsed().as_millis();
            set_timeout(Duration::from_millis(60), move || {
                println!("timeout 60 at={}", at())
            });
            set_timeout(Duration::from_millis(20), || println!("timeout 20"));
            let cancelled = set_timeout(Duration::from_millis(10), || println!("cancelled fired"));
            clear_timer(cancelled);
            let ticks = Rc::new(RefCell::new(0));
            let interval = Rc::new(RefCell::new(None));
            let own = interval.clone();
            *interval.borrow_mut() = Some(set_interval(Duration::from_millis(15), move || {
                *ticks.borrow_mut() += 1;
                println!("tick {}", ticks.borrow());
                if *ticks.borrow() == 3 {
                    clear_timer(own.borrow().expect("set before it runs"));
                }
            }));
            let ws = connect(&urls[0]);
            ws.on_open(move |ws| {
                let ws = ws.clone();
                set_timeout(Duration::from_millis(30), move || {
                    report("send-late", ws.send_text("late"))
                });
            });
            ws.on_message(|ws, message| {
                println!("message {}", describe_message(&message));
                report("close", ws.close_with(1000, ""));
            });
            ws.on_close(|_, info| println!("close {}", describe_close(&info)));
            while start.elapsed() < Duration::from_millis(40) {}
        }
        // The async API: a writer that sends COUNT binary messages of SIZE
        // bytes through the `Sink`, waiting for room, and reports the most
        // the host ever held for it; then reads the server's one reply.
        "async-writer" => {
            let [url, count, size] = urls else {
                panic!("async-writer URL COUNT SIZE")
            };
            let (count, size): (usize, usize) = (count.parse().unwrap(), size.parse().unwrap());
            block_on(async {
                let mut ws = connect_async(url).await.expect("connects");
                let mut most_buffered = 0;
                for n in 0..count {
                    let mut message = vec![(n % 251) as u8; size];
                    message[..8].copy_from_slice(&(n as u64).to_be_bytes());
                    ws.feed(Message::Binary(message))
                        .await
                        .expect("the host accepts every send");
                    most_buffered = most_buffered.max(ws.buffered_amount());
                }
                ws.flush().await.expect("flushes");
                println!("sent {count} most-buffered={most_buffered}");
                let reply = ws.next().await.expect("a reply").expect("no error");
                println!("reply {}", describe_message(&reply));
                ws.close(1000, "done").expect("closes");
                while ws.next().await.is_some() {}
                println!("close {}", describe_close(ws.close_info().expect("ended")));
            });
        }
        // The server says goodbye and sends its close frame first; 200 ms
        // later (the close frame has arrived, the connection is still up)
        // the guest looks at its state and tries to send.
        "send-after-peer-close" => {
            let ws = connect(&urls[0]);
            ws.on_message(|ws, message| {
                println!("message {} state={}", describe_message(&message), state(ws));
                let ws = ws.clone();
                set_timeout(Duration::from_millis(200), move || {
                    println!("later state={}", state(&ws));
                    report("send", ws.send_text("too late"));
                });
            });
            ws.on_close(|ws, info| println!("close {} state={}", describe_close(&info), state(ws)));
        }
        // Options a hostile guest might pass: each is refused at create,
        // nothing is connected; then a plain socket still works.
        // Pings once open: a payload over 125 bytes is refused; then waits
        // (blocking this callback: the socket's I/O runs in the host) for the
        // pong and prints it, and pings again after the peer's close started.
        "ping" => {
            let ws = connect(&urls[0]);
            ws.on_open(|ws| {
                report("ping-126", ws.ping(&[0; 126]).map(drop));
                let pong = ws.ping(b"probe").expect("an open socket pings");
                wit_websocket_guest::bindings::wasi::io::poll::poll(&[&pong]);
                match ws.last_pong() {
                    Some(pong) => println!(
                        "pong {} rtt>0={}",
                        String::from_utf8_lossy(&pong.payload),
                        pong.round_trip_ns > 0
                    ),
                    None => println!("no pong"),
                }
                report("close", ws.close_with(1000, "done"));
                report("ping-after-close", ws.ping(b"late").map(drop));
            });
            ws.on_close(|_, info| println!("close {}", describe_close(&info)));
        }
        // One create-websocket per URL, each result printed; nothing is kept.
        // Connects to every URL at once (pull mode), then closes them all.
        "open-all" => {
            let sockets: Vec<WebSocket> = urls.iter().map(|url| connect(url)).collect();
            while sockets
                .iter()
                .any(|ws| ws.ready_state() == ReadyState::Connecting)
            {
                device.wait();
                device.update();
            }
            let open = sockets
                .iter()
                .filter(|ws| ws.ready_state() == ReadyState::Open);
            println!("opened {} of {}", open.count(), sockets.len());
            for ws in &sockets {
                _ = ws.close();
            }
            while sockets
                .iter()
                .any(|ws| ws.ready_state() != ReadyState::Closed)
            {
                device.wait();
                device.update();
            }
        }
        // A callback holding its own socket, the app's handle dropped.
        "self-owning" => {
            let ws = connect(&urls[0]);
            let me = ws.clone();
            ws.on_open(move |_| report("close", me.close()));
            ws.on_close(|_, info| println!("closed {}", info.code));
        }
        // Sets a zero timer again from each timer's callback, COUNT times.
        "rewatch" => {
            fn again(left: u32) {
                if left == 0 {
                    println!("rewatched");
                    return;
                }
                wit_websocket_guest::set_timeout(std::time::Duration::ZERO, move || {
                    again(left - 1)
                });
            }
            again(urls[0].parse().unwrap());
        }
        "create-each" => {
            for url in urls {
                report(&format!("create {url}"), device.create_websocket(url));
            }
        }
        "hostile-options" => {
            let url = &urls[0];
            let with = |options: ConnectOptions| device.create_websocket_with(url, &options);
            let headers = |headers: Vec<(String, String)>| ConnectOptions {
                headers,
                ..ConnectOptions::default()
            };
            let many_headers = (0..30_000)
                .map(|i| (format!("x-h{i}"), "v".to_string()))
                .collect();
            report("30000-headers", with(headers(many_headers)));
            report(
                "c0-in-value",
                with(headers(vec![("x-a".into(), "a\u{1}b".into())])),
            );
            report(
                "del-in-value",
                with(headers(vec![("x-a".into(), "a\u{7f}b".into())])),
            );
            let big_value = vec![("x-a".into(), "v".repeat(20_000))];
            report("20k-header-bytes", with(headers(big_value)));
            let protocols = |protocols: Vec<String>| ConnectOptions {
                protocols,
                ..ConnectOptions::default()
            };
            report(
                "100k-protocols",
                with(protocols((0..100_000).map(|i| format!("p{i}")).collect())),
            );
            report(
                "case-duplicates",
                with(protocols(vec!["echo".into(), "eCho".into()])),
            );
            let timeout = |connect: Option<u32>, keepalive: Option<u32>| ConnectOptions {
                connect_timeout_ms: connect,
                keepalive_interval_ms: keepalive,
                ..ConnectOptions::default()
            };
            report("keepalive-1ms", with(timeout(None, Some(1))));
            report("connect-timeout-0", with(timeout(Some(0), None)));
            report(
                "long-url",
                device
                    .create_websocket(&format!("{url}{}", "a".repeat(20_000)))
                    .map(drop),
            );
            let ws = connect(url);
            ws.on_open(|ws| report("plain-close", ws.close()));
            ws.on_close(|_, info| println!("close {}", describe_close(&info)));
        }
        // Text and binary round trip, then a guest-initiated close with a code
        // and reason; the state is printed at every step.
        "echo" => {
            let ws = connect(&urls[0]);
            println!("created state={}", state(&ws));
            report("send-while-connecting", ws.send_text("too early"));
            log_events(&ws, "push");
            let received = Rc::new(RefCell::new(0));
            ws.on_open(|ws| {
                println!("push {} open state={}", ws.id(), state(ws));
                report("send-text", ws.send_text("hello"));
                report("send-binary", ws.send_binary(&[0, 1, 2, 255]));
            });
            ws.on_message(move |ws, message| {
                println!(
                    "push {} message {} state={}",
                    ws.id(),
                    describe_message(&message),
                    state(ws)
                );
                *received.borrow_mut() += 1;
                if *received.borrow() == 2 {
                    report("close", ws.close_with(3001, "bye now"));
                    println!("after-close state={}", state(ws));
                    report("send-while-closing", ws.send_text("too late"));
                    report("close-again", ws.close_with(1000, ""));
                }
            });
            ws.on_close(|ws, info| {
                println!(
                    "push {} close {} state={}",
                    ws.id(),
                    describe_close(&info),
                    state(ws)
                );
                report("send-after-close", ws.send_text("much too late"));
            });
        }
        // Bad arguments: each is a typed error and creates no socket.
        "bad-input" => {
            for url in [
                "ws://example.com/#fragment",
                "ftp://example.com/",
                "/relative",
                "ws://",
            ] {
                report(&format!("create {url}"), device.create_websocket(url));
            }
            let ws = connect(&urls[0]);
            ws.on_open(|ws| {
                report("close-code-1001", ws.close_with(1001, ""));
                report("close-code-2999", ws.close_with(2999, ""));
                report("close-code-5000", ws.close_with(5000, ""));
                report("reason-124-bytes", ws.close_with(1000, &"é".repeat(62)));
                // "é" cut after its first byte.
                report("send-utf8-invalid", ws.send_utf8(&[b'h', 0xc3]));
                println!("state-after-bad-closes={}", state(ws));
                report("close", ws.close_with(1000, &"a".repeat(123)));
            });
            ws.on_close(|_, info| println!("closed {}", describe_close(&info)));
        }
        // Only observes: the server decides how the connection ends.
        "observe" => {
            for url in urls {
                log_events(&connect(url), "push");
            }
        }
        // Sends one large message and watches buffered-amount fall.
        "buffered" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "push");
            ws.on_open(|ws| {
                println!("buffered-before-send={}", ws.buffered_amount());
                report("send", ws.send_binary(&vec![7u8; 8 << 20]));
                let buffered = ws.buffered_amount();
                println!(
                    "buffered-after-send-positive={}",
                    buffered > 0 && buffered <= 8 << 20
                );
            });
            ws.on_message(|ws, message| {
                println!("push {} message {}", ws.id(), describe_message(&message));
                println!("buffered-on-reply={}", ws.buffered_amount());
                report("close", ws.close());
            });
        }
        // Panics (traps) in its message callback.
        "trap" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "push");
            ws.on_open(|ws| report("send", ws.send_text("trigger")));
            ws.on_message(|_, _| panic!("the guest fails on purpose"));
        }
        // Connects, then panics (traps) in `run` itself.
        "trap-in-run" => {
            let ws = connect(&urls[0]);
            while ws.ready_state() == ReadyState::Connecting {
                device.wait();
                device.update();
            }
            println!("open, about to fail");
            panic!("run fails on purpose");
        }
        // Never returns from its open callback.
        "spin" => {
            let ws = connect(&urls[0]);
            ws.on_open(|_| {
                println!("spinning");
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            });
        }
        // Pull mode: waits for open, then takes nothing for MS milliseconds
        // while the server floods, then drains what is queued and closes.
        "hold" => {
            let ws = connect(&urls[0]);
            let hold_ms: u64 = urls[1].parse().unwrap();
            let received = Rc::new(RefCell::new(0usize));
            let messages = Rc::new(RefCell::new(0usize));
            let (counter, tally) = (received.clone(), messages.clone());
            ws.on_message(move |_, message| {
                *tally.borrow_mut() += 1;
                if let Message::Binary(bytes) = message {
                    *counter.borrow_mut() += bytes.len();
                }
            });
            while ws.ready_state() == ReadyState::Connecting {
                device.wait();
                device.update();
            }
            println!("received-before-hold={}", received.borrow());
            *received.borrow_mut() = 0;
            *messages.borrow_mut() = 0;
            std::thread::sleep(std::time::Duration::from_millis(hold_ms));
            device.update();
            println!("received-after-hold={}", received.borrow());
            println!("messages-in-one-update={}", messages.borrow());
            report("close", ws.close_with(1000, ""));
            while ws.ready_state() != ReadyState::Closed {
                device.wait();
                device.update();
            }
            println!("closed");
        }
        // Sends 1 MiB messages until the host refuses one.
        "stuff" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "push");
            ws.on_open(|ws| {
                let chunk = vec![1u8; 1 << 20];
                let mut accepted: u64 = 0;
                loop {
                    match ws.send_binary(&chunk) {
                        Ok(()) => accepted += 1,
                        Err(error) => {
                            println!("refused-after={accepted} {}", describe_error(&error));
                            break;
                        }
                    }
                }
                println!("buffered-mib={}", ws.buffered_amount() >> 20);
                report("close", ws.close_with(1000, ""));
            });
        }
        // Socket A destroys itself in its first message's callback and
        // creates socket B there (the host table may give B A's slot); every
        // message is printed with the socket that got it.
        "destroy-and-replace" => {
            let device = Rc::new(NetworkDevice::new());
            let url = urls[0].clone();
            let a = device.create_websocket(&url).expect("valid URL");
            let a_id = a.id();
            let first = Rc::new(RefCell::new(true));
            a.on_message(move |ws, message| {
                println!("a {}", describe_message(&message));
                if first.replace(false) {
                    ws.clone().destroy();
                    let b = device.create_websocket(&url).expect("valid URL");
                    println!("b is a new socket: {}", b.id() != a_id);
                    b.on_message(|ws, message| {
                        println!("b {}", describe_message(&message));
                        if matches!(&message, Message::Text(t) if t == "two") {
                            report("close", ws.close());
                        }
                    });
                }
            });
        }
        // What an app takes from its host besides the network: an
        // environment variable and a file in a directory it was given.
        // Echoes its stdin line by line, then exits with the number of lines.
        "stdin-lines" => {
            let mut count = 0;
            for line in std::io::stdin().lines() {
                println!("stdin {}", line.expect("stdin reads"));
                count += 1;
            }
            std::process::exit(count);
        }
        "env-and-dir" => {
            println!(
                "TOKEN={}",
                std::env::var("TOKEN").unwrap_or_else(|_| "(unset)".into())
            );
            println!(
                "UNSET={}",
                std::env::var("UNSET").unwrap_or_else(|_| "(unset)".into())
            );
            match std::fs::read_to_string("/config/settings.txt") {
                Ok(text) => println!("settings {}", text.trim()),
                Err(error) => println!("settings error {error}"),
            }
            report_io(
                "write",
                std::fs::write("/config/written.txt", "from the guest"),
            );
            match std::fs::read_to_string("/etc/passwd") {
                Ok(_) => println!("outside: readable"),
                Err(_) => println!("outside: not readable"),
            }
        }
        // Watches hour-long timers until the host refuses one, then cancels
        // them all: the run must end (no pending watch keeps it alive).
        "many-watches" => {
            use wit_websocket_guest::bindings::wasi::clocks::monotonic_clock;
            use wit_websocket_guest::bindings::wit_websocket::client::network;
            let raw = network::NetworkDevice::new();
            let mut watches = Vec::new();
            loop {
                match raw.watch(monotonic_clock::subscribe_duration(3_600_000_000_000)) {
                    Ok(watch) => watches.push(watch),
                    Err(error) => {
                        println!("refused after {} {}", watches.len(), describe_error(&error));
                        break;
                    }
                }
            }
            let cancelled = watches.iter().filter(|&&w| raw.unwatch(w)).count();
            println!("cancelled {cancelled}, again {}", raw.unwatch(watches[0]));
        }
        // Pull mode with the raw imports: takes the open event, sends "go",
        // and once the server has sent its messages and started closing,
        // takes them packed until a batch is empty (alternately with
        // `take-messages` and `take-packed`), then the rest (the close) with
        // `update`.
        "take-messages" => {
            use wit_websocket_guest::bindings::wit_websocket::client::network;
            use wit_websocket_guest::bindings::wit_websocket::client::types::EventKind;
            let describe = |kind: &EventKind| match kind {
                EventKind::Open => "open".to_string(),
                EventKind::Message(_) => "message".to_string(),
                EventKind::Error(error) => format!("error {}", describe_error(error)),
                EventKind::Close(info) => format!("close {}", info.code),
            };
            let raw = network::NetworkDevice::new();
            raw.set_push(false);
            let ws = raw.create_websocket(&urls[0], None).expect("a valid URL");
            println!(
                "before open: {} messages",
                raw.take_messages().lengths.len()
            );
            let mut kinds = Vec::new();
            while kinds.is_empty() {
                raw.subscribe().block();
                kinds.extend(raw.update().iter().map(|event| describe(&event.kind)));
            }
            println!("events {}", kinds.join(", "));
            report("go", ws.send(&Message::Text("go".to_string())));
            let waiting = Instant::now();
            while ws.ready_state() != ReadyState::Closing {
                assert!(
                    waiting.elapsed() < Duration::from_secs(20),
                    "the server never closed"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            for batch_number in 0.. {
                // Alternately with `take-messages` and `take-packed` (the
                // kinds as bytes), which take the same.
                let batch = match batch_number % 2 {
                    0 => raw.take_messages(),
                    _ => {
                        let packed = raw.take_packed();
                        network::MessageBatch {
                            sockets: packed.sockets,
                            binary: packed.binary.iter().map(|&kind| kind != 0).collect(),
                            lengths: packed.lengths,
                            payloads: packed.payloads,
                        }
                    }
                };
                let mut start = 0;
                let mut described = Vec::new();
                for ((socket, binary), length) in
                    batch.sockets.iter().zip(&batch.binary).zip(&batch.lengths)
                {
                    let payload = &batch.payloads[start..start + *length as usize];
                    start += *length as usize;
                    assert_eq!(*socket, ws.id(), "each message names its socket");
                    described.push(match (binary, payload.len() > 16) {
                        (true, true) => format!("binary {} bytes", payload.len()),
                        (true, false) => format!("binary {payload:?}"),
                        (false, _) => format!("text {:?}", String::from_utf8_lossy(payload)),
                    });
                }
                // Runs of the same description as one, with their count.
                let mut runs: Vec<(String, usize)> = Vec::new();
                for description in described {
                    match runs.last_mut() {
                        Some((last, count)) if *last == description => *count += 1,
                        _ => runs.push((description, 1)),
                    }
                }
                let runs: Vec<String> = runs
                    .into_iter()
                    .map(|(description, count)| match count {
                        1 => description,
                        count => format!("{description} x{count}"),
                    })
                    .collect();
                println!("batch {batch_number}: [{}]", runs.join(", "));
                println!("payloads {} bytes, used {start}", batch.payloads.len());
                if batch.lengths.is_empty() {
                    break;
                }
            }
            let mut kinds = Vec::new();
            while !kinds.iter().any(|kind: &String| kind.starts_with("close")) {
                raw.subscribe().block();
                kinds.extend(raw.update().iter().map(|event| describe(&event.kind)));
            }
            println!("events {}", kinds.join(", "));
        }
        // Sends packed messages with the raw imports once open: a batch the
        // host takes whole, then one it refuses partway (invalid UTF-8 in
        // the second message), each with `send-messages` then `send-packed`,
        // then one binary message with `send-latin1`; with `disagree` (or
        // `disagree-packed`), lists that disagree instead, and with
        // `beyond-latin1` a character above U+00FF (each a trap).
        "send-messages" => {
            let (raw, ws) = open_pulled(&urls[0]);
            match urls.get(1).map(String::as_str) {
                Some("disagree") => {
                    let _ = ws.send_messages(&[true], &[4], b"abc");
                    println!("not reached");
                    return;
                }
                Some("disagree-packed") => {
                    let _ = ws.send_packed(&[1], &[4], b"abc");
                    println!("not reached");
                    return;
                }
                Some("beyond-latin1") => {
                    let _ = ws.send_latin1("\u{ff}\u{100}");
                    println!("not reached");
                    return;
                }
                _ => {}
            }
            let describe = |result: Result<(), (u32, ErrorCode)>| match result {
                Ok(()) => "ok".to_string(),
                Err((queued, error)) => format!("queued {queued} then {}", describe_error(&error)),
            };
            let whole = ws.send_messages(&[false, true, false], &[5, 3, 0], b"hello\x01\x02\x03");
            println!("whole: {}", describe(whole));
            let partway = ws.send_messages(&[false, false, false], &[2, 2, 2], b"ok\xff\xfeno");
            println!("partway: {}", describe(partway));
            // The same with the kinds as bytes: any that is not 0 is binary.
            let packed = ws.send_packed(&[2, 0], &[2, 3], b"\x09\x08abc");
            println!("packed: {}", describe(packed));
            let packed_partway = ws.send_packed(&[0, 1], &[2, 1], b"\xff\xfe\x07");
            println!("packed partway: {}", describe(packed_partway));
            // A binary message as the characters U+0000..=U+00FF of a string.
            report("latin1", ws.send_latin1("\u{ff}\u{0}\u{e9}A"));
            report("close", ws.close(Some(1000), None));
            while ws.ready_state() != ReadyState::Closed {
                raw.subscribe().block();
                raw.update();
            }
        }
        // Creates devices (keeping them) until the host says no.
        "many-devices" => {
            let mut devices = Vec::new();
            loop {
                devices.push(NetworkDevice::new());
                println!("devices {}", devices.len());
            }
        }
        // Opens and closes COUNT sockets one after another, keeping every
        // handle; reports the first refusal.
        "hold-closed" => {
            let count: usize = urls[1].parse().unwrap();
            let held = Rc::new(RefCell::new(Vec::new()));
            fn next(
                device: Rc<NetworkDevice>,
                url: String,
                held: Rc<RefCell<Vec<WebSocket>>>,
                left: usize,
            ) {
                if left == 0 {
                    println!("held {}", held.borrow().len());
                    return;
                }
                match device.create_websocket(&url) {
                    Ok(ws) => {
                        ws.on_open(|ws| {
                            let _ = ws.close();
                        });
                        let (device, url, again) = (device.clone(), url.clone(), held.clone());
                        ws.on_close(move |_, _| {
                            next(device.clone(), url.clone(), again.clone(), left - 1)
                        });
                        held.borrow_mut().push(ws);
                    }
                    Err(error) => println!(
                        "refused after {} {}",
                        held.borrow().len(),
                        describe_error(&error)
                    ),
                }
            }
            next(Rc::new(NetworkDevice::new()), urls[0].clone(), held, count);
        }
        // Pull mode: waits for open, holds still for MS (the server fills
        // the inbound queue), closes without taking a message, holds still
        // ten times as long again, then takes events until the close.
        "hold-then-close" => {
            let ws = connect(&urls[0]);
            let hold_ms: u64 = urls[1].parse().unwrap();
            ws.on_close(|_, info| println!("close {}", describe_close(&info)));
            ws.on_error(|_, error| println!("error {}", describe_error(&error)));
            while ws.ready_state() == ReadyState::Connecting {
                device.wait();
                device.update();
            }
            std::thread::sleep(Duration::from_millis(hold_ms));
            report("close", ws.close_with(1000, "enough"));
            std::thread::sleep(Duration::from_millis(hold_ms * 10));
            while ws.ready_state() != ReadyState::Closed {
                device.wait();
                device.update();
            }
        }
        // Fills the connection with 48 MiB (more than the kernel's buffers
        // take from a peer that does not read), then sends empty messages
        // until the host refuses one (or 10 million were accepted).
        "stuff-empty" => {
            let ws = connect(&urls[0]);
            ws.on_open(|ws| {
                for _ in 0..48 {
                    report("send-1mib", ws.send_binary(&vec![1u8; 1 << 20]));
                }
                let mut accepted: u64 = 0;
                while accepted < 10_000_000 {
                    match ws.send_binary(&[]) {
                        Ok(()) => accepted += 1,
                        Err(error) => {
                            println!("refused-after={accepted} {}", describe_error(&error));
                            break;
                        }
                    }
                }
                println!("accepted={accepted}");
                ws.clone().destroy();
            });
        }
        // As `stuff-empty`, with the empty messages in one `send-messages`
        // call of 200,000 (the raw import; the Rust SDK sends one by one).
        "stuff-packed" => {
            let (_device, ws) = open_pulled(&urls[0]);
            for _ in 0..48 {
                report("send-1mib", ws.send_binary(&vec![1u8; 1 << 20]));
            }
            let count = 200_000;
            match ws.send_messages(&vec![true; count], &vec![0; count], &[]) {
                Ok(()) => println!("accepted={count}"),
                Err((queued, error)) => {
                    println!("refused-after={queued} {}", describe_error(&error))
                }
            }
        }
        // As `stuff`, then destroys the socket instead of closing it.
        "stuff-then-destroy" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "push");
            ws.on_open(|ws| {
                let chunk = vec![1u8; 1 << 20];
                while ws.send_binary(&chunk).is_ok() {}
                println!("buffered-mib={}", ws.buffered_amount() >> 20);
                ws.clone().destroy();
                println!("destroyed");
            });
        }
        // Creates COUNT sockets on one device, then closes those it got.
        "many-at-once" => {
            let count: u32 = urls[1].parse().unwrap();
            let mut created = Vec::new();
            for n in 1..=count {
                match device.create_websocket(&urls[0]) {
                    Ok(ws) => created.push(ws),
                    Err(error) => println!("create {n} err {}", describe_error(&error)),
                }
            }
            println!("created {}", created.len());
            for ws in created {
                ws.on_open(|ws| ws.close().expect("open sockets close"));
            }
        }
        // Allocates MIB mebibytes, touching every page.
        "hog" => {
            let mib: usize = urls[0].parse().unwrap();
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            for n in 1..=mib {
                hoard.push(vec![n as u8; 1 << 20]);
            }
            println!("allocated {} MiB", hoard.len());
        }
        // Opens and closes COUNT connections one after another, each from
        // the last one's on_close (with a clone of the device).
        "churn" => {
            let count: u32 = urls[1].parse().unwrap();
            let device = NetworkDevice::new();
            churn(device, urls[0].clone(), count, 1);
        }
        // Closes at once, while the socket is still connecting.
        "close-while-connecting" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "push");
            report("close", ws.close_with(1000, "never mind"));
            println!("after-close state={}", state(&ws));
        }
        // The same, once the host has had time to finish the handshake (its
        // open event is queued, not yet seen).
        "close-before-open-is-seen" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "push");
            std::thread::sleep(std::time::Duration::from_millis(300));
            report("close", ws.close_with(1000, "never mind"));
            println!("after-close state={}", state(&ws));
        }
        // Sends a message on open, then observes.
        "greet" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "push");
            ws.on_open(|ws| {
                println!("push {} open state={}", ws.id(), state(ws));
                report("send", ws.send_text("hello"));
            });
        }
        // Destroys the socket as soon as it opens, then tries to use it.
        "destroy" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "push");
            let keep = ws.clone();
            ws.on_open(move |ws| {
                println!("push {} open state={}", ws.id(), state(ws));
                report("send", ws.send_text("before destroy"));
                keep.clone().destroy();
                println!("destroyed state={}", state(ws));
                report("send-after-destroy", ws.send_text("after destroy"));
            });
        }
        // Pull mode: the guest runs its own loop with `wait` and `update`.
        "pull" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "pull");
            ws.on_open(|ws| {
                println!("pull {} open state={}", ws.id(), state(ws));
                report("send", ws.send_text("pulled"));
            });
            ws.on_message(|ws, message| {
                println!("pull {} message {}", ws.id(), describe_message(&message));
                report("close", ws.close_with(1000, "done"));
            });
            let closed = Rc::new(RefCell::new(false));
            let seen = closed.clone();
            ws.on_close(move |ws, info| {
                println!("pull {} close {}", ws.id(), describe_close(&info));
                *seen.borrow_mut() = true;
            });
            let mut rounds = 0;
            while !*closed.borrow() {
                device.wait();
                let delivered = device.update();
                assert!(delivered > 0, "wait returned with nothing to deliver");
                rounds += 1;
            }
            println!(
                "pull done after {rounds} rounds, {} pending",
                device.update()
            );
        }
        // Blocks on the socket's own pollable before each update.
        "pollable" => {
            let ws = connect(&urls[0]);
            log_events(&ws, "pull");
            ws.on_open(|ws| {
                println!("pull {} open", ws.id());
                report("send", ws.send_binary(b"poll me"));
            });
            ws.on_message(|ws, message| {
                println!("pull {} message {}", ws.id(), describe_message(&message));
                report("close", ws.close());
            });
            while ws.ready_state() != ReadyState::Closed || device.update() > 0 {
                let pollable = ws.subscribe().expect("not destroyed");
                println!("ready-before-block={}", pollable.ready());
                pollable.block();
                println!("ready-after-block={}", pollable.ready());
                drop(pollable);
                device.update();
            }
        }
        // Several sockets on one device, each sending numbered messages.
        "many" => {
            let per_socket = 5;
            for url in urls {
                let ws = connect(url);
                log_events(&ws, "push");
                ws.on_open(move |ws| {
                    for n in 1..=per_socket {
                        report(
                            "send",
                            ws.send_text(&format!("socket {} message {n}", ws.id())),
                        );
                    }
                });
                let received = Rc::new(RefCell::new(0));
                ws.on_message(move |ws, message| {
                    println!("push {} message {}", ws.id(), describe_message(&message));
                    *received.borrow_mut() += 1;
                    if *received.borrow() == per_socket {
                        report("close", ws.close_with(1000, ""));
                    }
                });
            }
        }
        // Connects with options given as KEY=VALUE arguments after the URL:
        // protocols=a,b  header=name:value  connect-timeout=MS  keepalive=MS
        // compression=true|false
        // then=close|send|exchange|exit|wait (what to do once open; default wait):
        // exchange sends a short text, a long repetitive text and a binary
        // message, reports each echo, and closes after the third; exit ends
        // the guest with status 3.
        "connect" => {
            // Built with the SDK's builder, so these tests cover it too.
            let mut options = ConnectOptions::new();
            let mut then = "wait".to_string();
            let millis = |value: &str| std::time::Duration::from_millis(value.parse().unwrap());
            for setting in &urls[1..] {
                let (key, value) = setting.split_once('=').expect("KEY=VALUE");
                match key {
                    "protocols" => {
                        for protocol in value.split(',') {
                            options = options.protocol(protocol);
                        }
                    }
                    "header" => {
                        let (name, value) = value.split_once(':').expect("name:value");
                        options = options.header(name, value);
                    }
                    "connect-timeout" => options = options.connect_timeout(millis(value)),
                    "keepalive" => options = options.keepalive_interval(millis(value)),
                    "compression" => options = options.compression(value.parse().unwrap()),
                    "then" => then = value.to_string(),
                    other => panic!("unknown setting {other}"),
                }
            }
            let ws = match device.create_websocket_with(&urls[0], &options) {
                Ok(ws) => ws,
                Err(error) => {
                    println!("create err {}", describe_error(&error));
                    return;
                }
            };
            log_events(&ws, "push");
            ws.on_open(move |ws| {
                println!(
                    "push {} open protocol={} extensions={}",
                    ws.id(),
                    ws.protocol(),
                    ws.extensions()
                );
                match then.as_str() {
                    "close" => report("close", ws.close_with(1000, "")),
                    "send" => report("send", ws.send_text("hello")),
                    "exchange" => exchange(ws),
                    "exit" => std::process::exit(3),
                    _ => {}
                }
            });
        }
        other => panic!("unknown scenario {other}"),
    }
}
