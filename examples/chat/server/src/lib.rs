//! The chat example's room server, the native side of the multiplayer chat
//! Turbulenz shipped as a sample.
//!
//! A client joins room `ROOM` as `NAME` by connecting to `ws://ADDRESS/ROOM?nick=NAME`.
//! Every line it then receives is one text message:
//!
//! - on joining: the room's scrollback (its last [`SCROLLBACK`] lines), then
//!   `* NAME joined`, which everyone in the room gets;
//! - `NAME: TEXT` for each text message a member sends, to everyone,
//!   the sender included (so each member sees one order, the room's);
//! - `* NAME left` when a member's connection ends.
//!
//! A nickname already in the room is refused with close code 4001; a missing
//! or malformed one with HTTP 400.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// How many of a room's lines a newcomer is shown.
pub const SCROLLBACK: usize = 100;

/// The close code for a nickname already in the room.
pub const NICK_TAKEN: u16 = 4001;

/// A running chat server; it stops when dropped.
pub struct ChatServer {
    address: SocketAddr,
    rooms: Rooms,
    accept_loop: JoinHandle<()>,
}

impl ChatServer {
    /// Listens on `address` (e.g. `127.0.0.1:0`) and serves rooms in the background.
    pub async fn start(address: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let rooms = Rooms::default();
        let accept_loop = tokio::spawn(accept_members(listener, rooms.clone()));
        Ok(Self {
            address,
            rooms,
            accept_loop,
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The lines room `room` has seen (its scrollback), oldest first.
    pub fn scrollback(&self, room: &str) -> Vec<String> {
        self.rooms
            .lock()
            .get(room)
            .map(|room| room.scrollback.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// Every room by name. One lock for all: a chat server's work under it is a
/// few channel sends.
#[derive(Clone, Default)]
struct Rooms(Arc<Mutex<HashMap<String, Room>>>);

impl Rooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        // A member task that panicked cannot leave a room half-updated: every
        // change under the lock is a single insert, remove or push.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Room {
    members: HashMap<String, mpsc::UnboundedSender<Utf8Bytes>>,
    scrollback: VecDeque<String>,
}

impl Room {
    /// Sends `line` to every member and keeps it for newcomers. Done under the
    /// rooms' lock, so all members receive lines in the same order.
    fn broadcast(&mut self, line: String) {
        let message = Utf8Bytes::from(line.clone());
        for member in self.members.values() {
            // A member whose task has ended is being removed; nothing to do.
            let _ = member.send(message.clone());
        }
        if self.scrollback.len() == SCROLLBACK {
            self.scrollback.pop_front();
        }
        self.scrollback.push_back(line);
    }
}

async fn accept_members(listener: TcpListener, rooms: Rooms) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_member(stream, rooms.clone()));
            }
            // Out of file descriptors and the like: the listener itself is fine.
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

/// Room and nickname from the request target `/ROOM?nick=NAME`.
fn parse_target(target: &str) -> Result<(String, String), String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let room = match path.trim_start_matches('/') {
        "" => "lobby",
        room => room,
    };
    let nick = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("nick="))
        .unwrap_or("");
    for (what, name) in [("room", room), ("nick", nick)] {
        let well_formed = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(format!(
                "{what} must be 1 to 32 letters, digits, '-' or '_'; join with /ROOM?nick=NAME"
            ));
        }
    }
    Ok((room.to_string(), nick.to_string()))
}

async fn serve_member(stream: TcpStream, rooms: Rooms) {
    let mut joining = None;
    // The signature is tungstenite's handshake callback's.
    #[allow(clippy::result_large_err)]
    let accept = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match parse_target(&request.uri().to_string()) {
            Ok(names) => {
                joining = Some(names);
                Ok(response)
            }
            Err(problem) => {
                let mut refusal = ErrorResponse::new(Some(problem));
                *refusal.status_mut() = StatusCode::BAD_REQUEST;
                Err(refusal)
            }
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, accept).await else {
        return;
    };
    let Some((room_name, nick)) = joining else {
        return;
    };

    let (to_member, mut lines) = mpsc::unbounded_channel();
    let joined = {
        let mut rooms = rooms.lock();
        let room = rooms.entry(room_name.clone()).or_default();
        if room.members.contains_key(&nick) {
            false
        } else {
            for line in &room.scrollback {
                let _ = to_member.send(Utf8Bytes::from(line.clone()));
            }
            room.members.insert(nick.clone(), to_member);
            room.broadcast(format!("* {nick} joined"));
            true
        }
    };
    if !joined {
        let refusal = CloseFrame {
            code: CloseCode::from(NICK_TAKEN),
            reason: "nickname taken".into(),
        };
        let _ = ws.close(Some(refusal)).await;
        while let Some(Ok(_)) = ws.next().await {}
        return;
    }

    // After the member's close frame nothing more is sent: tungstenite answers
    // it, and reading on until the end lets that answer go out.
    let mut closing = false;
    loop {
        tokio::select! {
            received = ws.next() => match received {
                Some(Ok(Message::Text(text))) => {
                    if let Some(room) = rooms.lock().get_mut(&room_name) {
                        room.broadcast(format!("{nick}: {text}"));
                    }
                }
                Some(Ok(Message::Close(_))) => closing = true,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(line) = lines.recv(), if !closing => {
                // A broken connection also ends the reading, which the arm above sees.
                let _ = ws.send(Message::Text(line)).await;
            }
        }
    }

    let mut rooms = rooms.lock();
    if let Some(room) = rooms.get_mut(&room_name) {
        room.members.remove(&nick);
        room.broadcast(format!("* {nick} left"));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn targets_name_a_room_and_a_nick() {
        assert_eq!(
            parse_target("/games?nick=ann_1"),
            Ok(("games".into(), "ann_1".into()))
        );
        assert_eq!(
            parse_target("/?x=1&nick=bo"),
            Ok(("lobby".into(), "bo".into()))
        );
        for bad in ["/lobby", "/lobby?nick=", "/lobby?nick=a%20b", "/a/b?nick=x"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
