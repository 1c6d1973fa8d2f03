//! The bench's in-guest baseline: the same workloads as the `bench` guest, but
//! with tungstenite compiled into the guest over `wasi:sockets` (Rust's
//! `std::net`), as an app would do without this host's WebSocket API.
//!
//! Three components share this code: `bench-tungstenite` (ws://), with the
//! `tls` feature `bench-tungstenite-tls` (wss://, rustls and ring compiled
//! into the guest too, trusting the CA in PEM given as `BENCH_CA_PEM`), and
//! with the `deflate` feature `bench-tungstenite-deflate` (permessage-deflate:
//! the host's own deflate layer and zlib-rs compiled into the guest).
//!
//! Usage: `bench-tungstenite[-tls|-deflate] WORKLOAD URL COUNT SIZE WINDOW
//! [TEXT]`; prints `rtt-ns P50 P99` or `pipe-ns ELAPSED`, as the `bench`
//! guest does. With TEXT, the messages are text repeating it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use tungstenite::{Message, WebSocket};

/// A WebSocket connection the workload runs on.
pub trait Connection {
    /// Sends one message.
    fn send(&mut self, message: Message);
    /// Reads until a message arrives; true when it is a data message.
    fn receive(&mut self) -> bool;
    /// Closes the connection, best effort: the measurement is done.
    fn close(self);
}

impl<S: Read + Write> Connection for WebSocket<S> {
    fn send(&mut self, message: Message) {
        WebSocket::send(self, message).expect("send");
    }

    fn receive(&mut self) -> bool {
        matches!(
            self.read().expect("read"),
            Message::Binary(_) | Message::Text(_)
        )
    }

    fn close(mut self) {
        let _ = WebSocket::close(&mut self, None);
        while self.read().is_ok() {}
    }
}

/// The command line.
pub struct Args {
    /// `rtt` or `pipe`.
    pub workload: String,
    /// The echo server's `ws://` or `wss://` URL.
    pub url: String,
    count: usize,
    size: usize,
    window: usize,
    /// Text messages repeating this, instead of binary ones.
    text: Option<String>,
}

impl Args {
    /// Parses the process's arguments; exits with a usage line if they are wrong.
    pub fn from_env() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let (workload, url, count, size, window, text) = match args.as_slice() {
            [workload, url, count, size, window] => (workload, url, count, size, window, None),
            [workload, url, count, size, window, text] => {
                (workload, url, count, size, window, Some(text.clone()))
            }
            _ => {
                eprintln!("usage: bench-tungstenite WORKLOAD URL COUNT SIZE WINDOW [TEXT]");
                std::process::exit(2);
            }
        };
        Self {
            workload: workload.clone(),
            url: url.clone(),
            count: count.parse().expect("COUNT"),
            size: size.parse().expect("SIZE"),
            window: window.parse().expect("WINDOW"),
            text,
        }
    }

    /// The server's host name, as the URL gives it.
    pub fn host(&self) -> &str {
        let authority = self.authority();
        match authority.rsplit_once(':') {
            Some((host, _)) => host,
            None => authority,
        }
    }

    fn authority(&self) -> &str {
        self.url
            .split_once("://")
            .and_then(|(_, rest)| rest.split('/').next())
            .expect("a ws:// or wss:// URL")
    }

    /// A TCP connection to the server, without Nagle's algorithm.
    pub fn connect(&self) -> TcpStream {
        let tcp = TcpStream::connect(self.authority()).expect("the echo server accepts");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        tcp
    }
}

/// The WebSocket handshake over `stream`, then the workload; prints the result.
pub fn measure<S: Read + Write>(args: &Args, stream: S) {
    let (ws, _) = tungstenite::client(args.url.as_str(), stream).expect("the handshake succeeds");
    run(args, ws);
}

/// The workload on `ws`; prints the result.
pub fn run(args: &Args, mut ws: impl Connection) {
    let payload = match &args.text {
        Some(text) => Message::text(text.chars().cycle().take(args.size).collect::<String>()),
        None => Message::binary(vec![0x5a_u8; args.size]),
    };
    let rtt = args.workload == "rtt";
    let in_flight = if rtt { 1 } else { args.window.min(args.count) };
    let started = Instant::now();
    let mut last_send = Instant::now();
    let mut round_trips = Vec::with_capacity(args.count);
    for _ in 0..in_flight {
        last_send = Instant::now();
        ws.send(payload.clone());
    }
    let (mut sent, mut received) = (in_flight, 0);
    while received < args.count {
        if ws.receive() {
            received += 1;
            if rtt {
                round_trips.push(last_send.elapsed().as_nanos() as u64);
            }
            if sent < args.count {
                last_send = Instant::now();
                ws.send(payload.clone());
                sent += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_nanos();
    if rtt {
        round_trips.sort_unstable();
        let at = |q: f64| round_trips[((round_trips.len() - 1) as f64 * q) as usize];
        println!("rtt-ns {} {}", at(0.5), at(0.99));
    } else {
        println!("pipe-ns {elapsed}");
    }
    ws.close();
}
