//! Fetches a token over HTTP, then opens a WebSocket with it in the
//! `authorization` header, sends one message and prints the echo:
//! HTTP and WebSockets in one guest, both under the host's network policy.
//!
//! `fetch-token TOKEN_URL WS_URL`

use wit_websocket_guest::{ConnectOptions, Message, NetworkDevice};

wit_websocket_guest::export_handler!();

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(token_url), Some(ws_url)) = (args.next(), args.next()) else {
        eprintln!("usage: fetch-token TOKEN_URL WS_URL");
        std::process::exit(2);
    };
    // The request runs to completion here, in wstd's own loop over
    // wasi:io/poll; the socket's events come after `main` returns.
    // One retry: a GET is idempotent, and a server that closes with the
    // request's (empty, chunked) body unread can reset the connection.
    let token = wstd::runtime::block_on(async {
        match fetch_token(&token_url).await {
            Ok(token) => Ok(token),
            Err(_) => {
                wstd::task::sleep(wstd::time::Duration::from_millis(50)).await;
                fetch_token(&token_url).await
            }
        }
    });
    let token = match token {
        Ok(token) => token,
        Err(error) => {
            eprintln!("fetching {token_url}: {error}");
            std::process::exit(1);
        }
    };
    println!("fetched a token of {} bytes", token.len());
    let options = ConnectOptions {
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
        ..ConnectOptions::default()
    };
    let ws = NetworkDevice::new()
        .create_websocket_with(&ws_url, &options)
        .unwrap_or_else(|error| {
            eprintln!("connecting to {ws_url}: {error}");
            std::process::exit(1);
        });
    ws.on_open(|ws| ws.send_text("hello").expect("open sockets accept text"));
    ws.on_message(|ws, message| {
        if let Message::Text(text) = message {
            println!("echoed: {text}");
        }
        ws.close_with(1000, "done").expect("1000 is a valid code");
    });
    ws.on_error(|_, error| eprintln!("error: {error}"));
    ws.on_close(|_, info| println!("closed {}", info.code));
}

/// The body of a GET of `url`, trimmed.
async fn fetch_token(url: &str) -> Result<String, Box<dyn std::error::Error>> {
    let request = wstd::http::Request::get(url).body(wstd::http::Body::empty())?;
    let response = wstd::http::Client::new().send(request).await?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()).into());
    }
    let mut body = response.into_body();
    Ok(String::from_utf8(body.contents().await?.to_vec())?
        .trim()
        .to_string())
}
