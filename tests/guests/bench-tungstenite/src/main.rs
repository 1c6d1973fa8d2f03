//! The bench's in-guest baseline: the same workloads as the `bench` guest, but
//! with tungstenite compiled into the guest over `wasi:sockets` (Rust's
//! `std::net`), as an app would do without this host's WebSocket API.
//!
//! Usage: `bench-tungstenite WORKLOAD URL COUNT SIZE WINDOW`; prints
//! `rtt-ns P50 P99` or `pipe-ns ELAPSED`, as the `bench` guest does.

use std::net::TcpStream;
use std::time::Instant;

use tungstenite::Message;

wit_websocket_guest::export_handler!();

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, url, count, size, window] = args.as_slice() else {
        eprintln!("usage: bench-tungstenite WORKLOAD URL COUNT SIZE WINDOW");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT");
    let window: usize = window.parse().expect("WINDOW");
    let payload = vec![0x5a_u8; size.parse().expect("SIZE")];
    let address = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .expect("a ws:// URL");
    let tcp = TcpStream::connect(address).expect("the echo server accepts");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let (mut ws, _) = tungstenite::client(url.as_str(), tcp).expect("the handshake succeeds");

    let in_flight = if workload == "rtt" {
        1
    } else {
        window.min(count)
    };
    let started = Instant::now();
    let mut last_send = Instant::now();
    let mut round_trips = Vec::with_capacity(count);
    for _ in 0..in_flight {
        last_send = Instant::now();
        ws.send(Message::binary(payload.clone())).expect("send");
    }
    let (mut sent, mut received) = (in_flight, 0);
    while received < count {
        if let Message::Binary(_) = ws.read().expect("read") {
            received += 1;
            if workload == "rtt" {
                round_trips.push(last_send.elapsed().as_nanos() as u64);
            }
            if sent < count {
                last_send = Instant::now();
                ws.send(Message::binary(payload.clone())).expect("send");
                sent += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_nanos();
    if workload == "rtt" {
        round_trips.sort_unstable();
        let at = |q: f64| round_trips[((round_trips.len() - 1) as f64 * q) as usize];
        println!("rtt-ns {} {}", at(0.5), at(0.99));
    } else {
        println!("pipe-ns {elapsed}");
    }
    // Best effort: the measurement is done.
    let _ = ws.close(None);
    while ws.read().is_ok() {}
}
