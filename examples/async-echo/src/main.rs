//! The echo example written as a tokio-tungstenite user would: connect,
//! send through the `Sink`, read the echoes from the `Stream`, each read
//! bounded by a timeout, then close and read on until the stream ends.
//!
//! Usage: `wit-websocket run --allow-net=HOST async-echo.wasm -- URL`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use wit_websocket_guest::{ErrorCode, Message, block_on, connect, sleep, timeout};

wit_websocket_guest::export_handler!();

async fn echo(url: &str) -> Result<(), ErrorCode> {
    let mut ws = connect(url).await?;
    println!("open: {url}");
    ws.send(Message::Text("hello, async".into())).await?;
    ws.send(Message::Binary(vec![1, 2, 3])).await?;
    for _ in 0..2 {
        match timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => println!("echo: {text}"),
            Ok(Some(Ok(Message::Binary(bytes)))) => println!("echo: {} bytes", bytes.len()),
            Ok(Some(Err(error))) => return Err(error),
            Ok(None) => break,
            Err(elapsed) => return Err(ErrorCode::Timeout(elapsed.to_string())),
        }
    }
    sleep(Duration::from_millis(10)).await;
    ws.close(1000, "done")?;
    while ws.next().await.is_some() {}
    if let Some(info) = ws.close_info() {
        println!("close: {} clean={}", info.code, info.was_clean);
    }
    Ok(())
}

fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: async-echo URL");
        std::process::exit(2)
    });
    if let Err(error) = block_on(echo(&url)) {
        eprintln!("async-echo: {error}");
        std::process::exit(1);
    }
}
