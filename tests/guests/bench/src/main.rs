//! Benchmark guest for `wit-websocket bench`: echoes through the host and
//! times itself with the monotonic clock.
//!
//! Usage: `bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT]` where MODE is
//! `push` (callbacks after `main` returns), `pull` (`wait` + `update` in
//! `main`) or `async` (the SDK's `Stream`/`Sink` socket under `block_on`, as
//! a tokio-tungstenite user writes it), and WORKLOAD is `rtt` (one message at
//! a time; prints `rtt-ns P50 P99`) or `pipe` (WINDOW messages in flight;
//! prints `pipe-ns ELAPSED`); in push mode also `timer`: `pipe` with a 10 ms
//! interval timer beside it, printing `lateness-ns P50 P99` of its ticks.
//! Messages are SIZE bytes of binary, or, with TEXT, text messages that
//! repeat TEXT, sent with permessage-deflate offered. `bench pull
//! hold URL COUNT 0 0` opens COUNT sockets at once, waits in its own loop until
//! all are open, prints `open-ns ELAPSED` and returns with them still open.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use wit_websocket_guest::{
    ConnectOptions, Message, NetworkDevice, ReadyState, TimerId, WebSocket, block_on, clear_timer,
    connect_with, set_interval,
};

wit_websocket_guest::export_handler!();

struct Run {
    workload: String,
    count: usize,
    payload: Payload,
    window: usize,
    sent: usize,
    received: usize,
    started: Option<Instant>,
    last_send: Option<Instant>,
    round_trips: Vec<u64>,
    /// The `timer` workload's interval, when it last ran, and how late each
    /// of its ticks ran.
    ticker: Option<(TimerId, Instant, Vec<u64>)>,
}

/// How often the `timer` workload's interval ticks.
const TICK: Duration = Duration::from_millis(10);

impl Run {
    fn send(&mut self, ws: &WebSocket) {
        self.sent += 1;
        // The clock (an import) only where a figure needs it.
        if self.workload == "rtt" {
            self.last_send = Some(Instant::now());
        }
        match &self.payload {
            Payload::Binary(bytes) => ws.send_binary(bytes),
            Payload::Text(text) => ws.send_text(text),
        }
        .expect("the echo socket is open");
    }

    fn on_open(&mut self, ws: &WebSocket) {
        self.started = Some(Instant::now());
        let first = if self.workload == "rtt" {
            1
        } else {
            self.window.min(self.count)
        };
        for _ in 0..first {
            self.send(ws);
        }
    }

    fn on_message(&mut self, ws: &WebSocket) {
        self.received += 1;
        if self.workload == "rtt"
            && let Some(sent_at) = self.last_send
        {
            self.round_trips.push(sent_at.elapsed().as_nanos() as u64);
        }
        if self.sent < self.count {
            self.send(ws);
        } else if self.received == self.count {
            self.report();
            ws.close().expect("no code: always valid");
        }
    }

    fn report(&mut self) {
        if let Some((timer, _, mut lateness)) = self.ticker.take() {
            clear_timer(timer);
            lateness.sort_unstable();
            println!(
                "lateness-ns {} {}",
                percentile(&lateness, 0.5),
                percentile(&lateness, 0.99)
            );
        }
        if self.workload == "rtt" {
            self.round_trips.sort_unstable();
            let at = |q| percentile(&self.round_trips, q);
            println!("rtt-ns {} {}", at(0.5), at(0.99));
        } else {
            let elapsed = self.started.map_or(0, |s| s.elapsed().as_nanos());
            println!("pipe-ns {elapsed}");
        }
    }
}

/// The `q` quantile of sorted `values`.
fn percentile(values: &[u64], q: f64) -> u64 {
    values[((values.len() - 1) as f64 * q) as usize]
}

/// What each message carries.
#[derive(Clone)]
enum Payload {
    Binary(Vec<u8>),
    Text(String),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, workload, url, count, size, window, text) = match args.as_slice() {
        [mode, workload, url, count, size, window] => {
            (mode, workload, url, count, size, window, None)
        }
        [mode, workload, url, count, size, window, text] => {
            (mode, workload, url, count, size, window, Some(text))
        }
        _ => {
            eprintln!("usage: bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT]");
            std::process::exit(2);
        }
    };
    let size: usize = size.parse().expect("SIZE");
    let payload = match text {
        Some(text) => Payload::Text(text.chars().cycle().take(size).collect()),
        None => Payload::Binary(vec![0x5a; size]),
    };
    let run = Rc::new(RefCell::new(Run {
        workload: workload.clone(),
        count: count.parse().expect("COUNT"),
        payload,
        window: window.parse().expect("WINDOW"),
        sent: 0,
        received: 0,
        started: None,
        last_send: None,
        round_trips: Vec::new(),
        ticker: None,
    }));
    let device = NetworkDevice::new();
    // Compression only for the text workloads, as the native baseline.
    let options = ConnectOptions {
        compression: Some(text.is_some()),
        ..ConnectOptions::default()
    };
    if workload == "hold" {
        hold(&device, &options, url, run.borrow().count);
        return;
    }
    if mode == "async" {
        let run = run.borrow();
        let message = match &run.payload {
            Payload::Binary(bytes) => Message::Binary(bytes.clone()),
            Payload::Text(text) => Message::Text(text.clone()),
        };
        block_on(echo_async(
            url,
            &options,
            &run.workload,
            message,
            run.count,
            run.window,
        ));
        return;
    }
    if workload == "timer" {
        run.borrow_mut().workload = "pipe".to_string();
        let ticks = run.clone();
        let started = Instant::now();
        let timer = set_interval(TICK, move || {
            let mut run = ticks.borrow_mut();
            if let Some((_, last, lateness)) = &mut run.ticker {
                // An interval is set again TICK after each run, as a browser's.
                let now = Instant::now();
                lateness.push((now - *last).saturating_sub(TICK).as_nanos() as u64);
                *last = now;
            }
        });
        run.borrow_mut().ticker = Some((timer, started, Vec::new()));
    }
    let ws = device
        .create_websocket_with(url, &options)
        .expect("a valid URL");
    let opener = run.clone();
    ws.on_open(move |ws| opener.borrow_mut().on_open(ws));
    let receiver = run.clone();
    ws.on_message(move |ws, _| receiver.borrow_mut().on_message(ws));
    ws.on_error(|_, error| eprintln!("bench: {error:?}"));
    if mode == "pull" {
        while ws.ready_state() != ReadyState::Closed {
            device.wait();
            device.update();
        }
    }
}

/// Opens `count` sockets at once and waits until every one is open.
fn hold(device: &NetworkDevice, options: &ConnectOptions, url: &str, count: usize) {
    let started = Instant::now();
    let opened = Rc::new(std::cell::Cell::new(0));
    for _ in 0..count {
        let ws = device
            .create_websocket_with(url, options)
            .expect("the host allows this many sockets");
        let opened = opened.clone();
        ws.on_open(move |_| opened.set(opened.get() + 1));
        ws.on_error(|_, error| {
            eprintln!("bench: a held socket failed: {error:?}");
            std::process::exit(1);
        });
    }
    while opened.get() < count {
        device.wait();
        device.update();
    }
    println!("open-ns {}", started.elapsed().as_nanos());
}

/// The echo workloads with the async socket: `rtt` sends each message and
/// waits for its echo (`send` then `next`); `pipe` keeps WINDOW in flight
/// (`feed`, which waits only for room).
async fn echo_async(
    url: &str,
    options: &ConnectOptions,
    workload: &str,
    message: Message,
    count: usize,
    window: usize,
) {
    let mut ws = connect_with(url, options).await.expect("connects");
    let started = Instant::now();
    if workload == "rtt" {
        let mut round_trips = Vec::with_capacity(count);
        // `send` waits until the message is written, as tokio-tungstenite's.
        for _ in 0..count {
            let sent_at = Instant::now();
            ws.send(message.clone()).await.expect("sends");
            ws.next().await.expect("an echo").expect("no error");
            round_trips.push(sent_at.elapsed().as_nanos() as u64);
        }
        round_trips.sort_unstable();
        println!(
            "rtt-ns {} {}",
            percentile(&round_trips, 0.5),
            percentile(&round_trips, 0.99)
        );
    } else {
        // `feed` hands each message to the host at once (the sink keeps no
        // buffer of its own), so no flush is needed to keep them moving.
        let mut sent = 0;
        while sent < window.min(count) {
            ws.feed(message.clone()).await.expect("sends");
            sent += 1;
        }
        for _ in 0..count {
            ws.next().await.expect("an echo").expect("no error");
            if sent < count {
                ws.feed(message.clone()).await.expect("sends");
                sent += 1;
            }
        }
        println!("pipe-ns {}", started.elapsed().as_nanos());
    }
    ws.close(1000, "").expect("closes");
    while ws.next().await.is_some() {}
}
