//! The chat example's guest: joins a room of the chat server with a nickname,
//! says its lines, prints every line the room sends, and leaves.
//!
//! Usage: `wit-websocket run chat.wasm -- [--leave-after N] ROOM_URL NICK [LINE...]`,
//! e.g. `ws://127.0.0.1:9001/lobby ann "hello all"`. With `--leave-after N` it
//! leaves (close 1000) once it has seen N chat lines (its own included);
//! otherwise it stays until the server closes. The Python and JavaScript
//! guests in `examples/chat/` behave the same.

use std::cell::Cell;
use std::process::exit;

use wit_websocket_guest::{Message, NetworkDevice};

wit_websocket_guest::export_handler!();

const USAGE: &str = "usage: chat [--leave-after N] ROOM_URL NICK [LINE...]";

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let leave_after = if args.first().map(String::as_str) == Some("--leave-after") {
        match args.get(1).map(|n| n.parse::<u32>()) {
            Some(Ok(n)) => {
                args.drain(..2);
                Some(n)
            }
            _ => usage(),
        }
    } else {
        None
    };
    if args.len() < 2 {
        usage();
    }
    let lines = args.split_off(2);
    let (room_url, nick) = (&args[0], &args[1]);

    let device = NetworkDevice::new();
    let ws = match device.create_websocket(&format!("{room_url}?nick={nick}")) {
        Ok(ws) => ws,
        Err(error) => {
            eprintln!("chat: cannot join {room_url}: {error}");
            exit(1);
        }
    };

    let nick = nick.clone();
    ws.on_open(move |ws| {
        println!("joined as {nick}");
        for line in &lines {
            if let Err(error) = ws.send_text(line) {
                eprintln!("chat: cannot send: {error}");
            }
        }
    });
    let chat_lines_seen = Cell::new(0);
    ws.on_message(move |ws, message| {
        let Message::Text(line) = message else {
            return;
        };
        println!("{line}");
        if !line.starts_with("* ") {
            chat_lines_seen.set(chat_lines_seen.get() + 1);
            if Some(chat_lines_seen.get()) == leave_after {
                // Closing twice is harmless, so nothing else is tracked.
                let _ = ws.close_with(1000, "bye");
            }
        }
    });
    ws.on_error(|_, error| eprintln!("error: {error}"));
    ws.on_close(|_, info| println!("left: {}", info.code));
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    exit(2);
}
