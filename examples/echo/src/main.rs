//! The echo example: connects to a WebSocket echo server, sends N messages one
//! after another, prints each echo, then closes with 1000.
//!
//! Usage: `wit-websocket run echo.wasm -- URL [N]` (N defaults to 3).

use std::cell::Cell;
use std::rc::Rc;

use wit_websocket_guest::{Message, NetworkDevice};

wit_websocket_guest::export_handler!();

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: echo URL [COUNT]");
        std::process::exit(2);
    };
    let count: u32 = match args.next().map(|n| n.parse()) {
        None => 3,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("echo: COUNT must be a positive whole number");
            std::process::exit(2);
        }
    };

    let device = NetworkDevice::new();
    let ws = match device.create_websocket(&url) {
        Ok(ws) => ws,
        Err(error) => {
            eprintln!("echo: cannot connect to {url}: {error}");
            std::process::exit(1);
        }
    };

    let sent = Rc::new(Cell::new(0u32));
    let send_next = {
        let sent = sent.clone();
        move |ws: &wit_websocket_guest::WebSocket| {
            let n = sent.get() + 1;
            let text = format!("message {n} of {count}");
            match ws.send_text(&text) {
                Ok(()) => {
                    sent.set(n);
                    println!("sent: {text}");
                }
                Err(error) => eprintln!("echo: send failed: {error}"),
            }
        }
    };

    ws.on_open({
        let send_next = send_next.clone();
        move |ws| {
            match ws.extensions().as_str() {
                "" => println!("open: {}", ws.url()),
                extensions => println!("open: {} ({extensions})", ws.url()),
            }
            send_next(ws);
        }
    });
    ws.on_message(move |ws, message| {
        match message {
            Message::Text(text) => println!("echoed: {text}"),
            Message::Binary(bytes) => println!("echoed: {} bytes", bytes.len()),
        }
        if sent.get() < count {
            send_next(ws);
        } else if let Err(error) = ws.close_with(1000, "done") {
            eprintln!("echo: close failed: {error}");
        }
    });
    ws.on_error(|_, error| eprintln!("error: {error}"));
    ws.on_close(|_, info| {
        println!(
            "closed: code {} reason {:?} clean {}",
            info.code, info.reason, info.was_clean
        );
    });
}
