//! `chat-server [ADDRESS]`: serves chat rooms on ADDRESS (default 127.0.0.1:9001)
//! until interrupted.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    match chat_server::ChatServer::start(&address).await {
        Ok(server) => {
            println!(
                "chat server: join with ws://{}/ROOM?nick=NAME",
                server.address()
            );
            std::future::pending::<()>().await;
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("chat server: cannot listen on {address}: {error}");
            ExitCode::FAILURE
        }
    }
}
