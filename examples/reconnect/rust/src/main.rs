//! A client that stays connected: it sends a heartbeat (`ping N`) every
//! HEARTBEAT_MS and, when the connection is lost, reconnects after an
//! exponential backoff with jitter (BACKOFF_MS doubling up to 30 times it,
//! each wait drawn between half and all of it), resetting once connected.
//! It stops after ECHOES heartbeats came back (0: never). The same program
//! as `examples/reconnect/js` and `examples/reconnect/python`; all three
//! print the same lines.
//!
//! Usage: `wit-websocket run --allow-net=HOST reconnect.wasm -- URL [HEARTBEAT_MS] [ECHOES] [BACKOFF_MS]`
//! (defaults 1000, 0, 1000).

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::time::Duration;

use wit_websocket_guest::{
    Message, NetworkDevice, TimerId, WebSocket, clear_timer, set_interval, set_timeout,
};

wit_websocket_guest::export_handler!();

struct Client {
    device: NetworkDevice,
    url: String,
    heartbeat: Duration,
    /// Stop after this many echoes; 0: never.
    echoes_wanted: u32,
    backoff: Duration,
    echoes: Cell<u32>,
    connections: Cell<u32>,
    /// Failed attempts since the last successful connection.
    attempts: Cell<u32>,
}

/// A number in 0..1 from the host's random source (std's hasher keys).
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

impl Client {
    /// The wait before the next attempt: BACKOFF × 2^attempts, at most 30 ×
    /// BACKOFF, of which a random half to all.
    fn next_delay(&self) -> Duration {
        let attempts = self.attempts.get();
        self.attempts.set(attempts + 1);
        let ceiling = self.backoff * 30;
        let backoff = self
            .backoff
            .saturating_mul(1 << attempts.min(16))
            .min(ceiling);
        backoff.mul_f64(0.5 + random_fraction() / 2.0)
    }

    fn done(&self) -> bool {
        self.echoes_wanted > 0 && self.echoes.get() >= self.echoes_wanted
    }
}

fn connect(client: Rc<Client>) {
    let ws = match client.device.create_websocket(&client.url) {
        Ok(ws) => ws,
        Err(error) => {
            // Refused by the host (bad URL, not permitted): retrying won't help.
            eprintln!("reconnect: {error}");
            std::process::exit(1);
        }
    };
    let heartbeat: Rc<Cell<Option<TimerId>>> = Rc::default();

    let (on_open, beat) = (client.clone(), heartbeat.clone());
    ws.on_open(move |ws| {
        on_open.attempts.set(0);
        on_open.connections.set(on_open.connections.get() + 1);
        println!("connected {}", on_open.connections.get());
        let (ws, sent) = (ws.clone(), Cell::new(0));
        beat.set(Some(set_interval(on_open.heartbeat, move || {
            sent.set(sent.get() + 1);
            // Refused only once the socket is closing: its close event comes next.
            let _ = ws.send_text(&format!("ping {}", sent.get()));
        })));
    });

    let (on_message, beat) = (client.clone(), heartbeat.clone());
    ws.on_message(move |ws: &WebSocket, message| {
        if let Message::Text(text) = message {
            on_message.echoes.set(on_message.echoes.get() + 1);
            println!("echo {text}");
        }
        if on_message.done() {
            if let Some(timer) = beat.take() {
                clear_timer(timer);
            }
            let _ = ws.close_with(1000, "done");
        }
    });

    ws.on_error(|_, error| println!("error {error}"));

    ws.on_close(move |_, info| {
        if let Some(timer) = heartbeat.take() {
            clear_timer(timer);
        }
        if client.done() {
            println!(
                "done: {} echoes over {} connections",
                client.echoes.get(),
                client.connections.get()
            );
            return;
        }
        let delay = client.next_delay();
        println!(
            "disconnected {}; reconnecting in {} ms",
            info.code,
            delay.as_millis()
        );
        let client = client.clone();
        set_timeout(delay, move || connect(client));
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize, default: u64| -> u64 {
        args.get(index).map_or(default, |arg| {
            arg.parse().unwrap_or_else(|_| {
                eprintln!("reconnect: {arg:?} is not a whole number");
                std::process::exit(2)
            })
        })
    };
    let Some(url) = args.first() else {
        eprintln!("usage: reconnect URL [HEARTBEAT_MS] [ECHOES] [BACKOFF_MS]");
        std::process::exit(2);
    };
    connect(Rc::new(Client {
        device: NetworkDevice::new(),
        url: url.clone(),
        heartbeat: Duration::from_millis(number(1, 1000)),
        echoes_wanted: number(2, 0) as u32,
        backoff: Duration::from_millis(number(3, 1000)),
        echoes: Cell::new(0),
        connections: Cell::new(0),
        attempts: Cell::new(0),
    }));
}
