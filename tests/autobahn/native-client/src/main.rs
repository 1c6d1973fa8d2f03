//! The native baseline of the Autobahn run: the same echo client as the
//! `autobahn` guest, written directly against tokio-tungstenite, so the
//! report compares both in one fuzzing-server run.
//!
//! Usage: `autobahn-native SERVER_URL AGENT`.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::{Error, Message};

async fn case_count(server: &str) -> Result<u32, Error> {
    let (mut ws, _) = connect_async(format!("{server}/getCaseCount")).await?;
    let mut count = 0;
    while let Some(message) = ws.next().await {
        if let Message::Text(text) = message? {
            count = text.trim().parse().unwrap_or(0);
        }
    }
    Ok(count)
}

async fn run_case(server: &str, agent: &str, case: u32) -> Result<(), Error> {
    let (mut ws, _) = connect_async(format!("{server}/runCase?case={case}&agent={agent}")).await?;
    while let Some(message) = ws.next().await {
        if let message @ (Message::Text(_) | Message::Binary(_)) = message? {
            ws.send(message).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, server, agent] = args.as_slice() else {
        eprintln!("usage: autobahn-native SERVER_URL AGENT");
        std::process::exit(2);
    };
    let server = server.trim_end_matches('/');
    let count = match case_count(server).await {
        Ok(count) => count,
        Err(error) => {
            eprintln!("autobahn-native: cannot get the case count: {error}");
            std::process::exit(1);
        }
    };
    println!("autobahn-native: {count} cases");
    for case in 1..=count {
        // A failing case is the report's business, not a reason to stop.
        let _ = run_case(server, agent, case).await;
    }
    let update = format!("{server}/updateReports?agent={agent}");
    if let Ok((mut ws, _)) = connect_async(update).await {
        while let Some(Ok(_)) = ws.next().await {}
    }
    println!("autobahn-native: reports updated");
}
