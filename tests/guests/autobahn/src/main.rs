//! The Autobahn|Testsuite client as a guest: asks the fuzzing server for its
//! case count, runs every case by echoing each message back, then asks the
//! server to write its report. One case at a time, each started from the
//! previous one's `close` callback, as a browser page would chain them.
//!
//! Usage: `autobahn SERVER_URL AGENT` (SERVER_URL like `ws://127.0.0.1:9001`).

use std::cell::Cell;
use std::rc::Rc;

use wit_websocket_guest::{Message, NetworkDevice};

wit_websocket_guest::export_handler!();

struct Suite {
    device: NetworkDevice,
    server: String,
    agent: String,
    case_count: Cell<u32>,
}

impl Suite {
    fn connect(&self, path: &str) -> wit_websocket_guest::WebSocket {
        let url = format!("{}{path}", self.server);
        match self.device.create_websocket(&url) {
            Ok(ws) => ws,
            Err(error) => {
                eprintln!("autobahn: cannot connect to {url}: {error:?}");
                std::process::exit(1);
            }
        }
    }

    fn run_case(self: &Rc<Self>, case: u32) {
        if case > self.case_count.get() {
            self.update_reports();
            return;
        }
        let ws = self.connect(&format!("/runCase?case={case}&agent={}", self.agent));
        ws.on_message(|ws, message| {
            // The case decides what is valid; a refused echo is its business.
            let _ = ws.send(&message);
        });
        let suite = self.clone();
        ws.on_close(move |_, _| suite.run_case(case + 1));
    }

    fn update_reports(&self) {
        let ws = self.connect(&format!("/updateReports?agent={}", self.agent));
        ws.on_close(|_, _| println!("autobahn: reports updated"));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, server, agent] = args.as_slice() else {
        eprintln!("usage: autobahn SERVER_URL AGENT");
        std::process::exit(2);
    };
    let suite = Rc::new(Suite {
        device: NetworkDevice::new(),
        server: server.trim_end_matches('/').to_string(),
        agent: agent.clone(),
        case_count: Cell::new(0),
    });
    let ws = suite.connect("/getCaseCount");
    let counter = suite.clone();
    ws.on_message(move |_, message| {
        if let Message::Text(text) = message {
            counter.case_count.set(text.trim().parse().unwrap_or(0));
        }
    });
    let starter = suite.clone();
    ws.on_close(move |_, _| {
        println!("autobahn: {} cases", starter.case_count.get());
        starter.run_case(1);
    });
}
