//! The I/O task of one socket: connecting, then the conversation (OPEN and
//! CLOSING: messages both ways, pings, keepalive, the closing handshake),
//! then the close event. One tokio task per socket.
//!
//! Owns the connection's life. It learns what the guest wants only through
//! [`Command`]s, tells the guest only through events on its device's queue,
//! and bounds every write in time and every read by the inbound queue's
//! limit: a peer can make it wait, never block it forever or grow it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{
    self, Message as WireMessage,
    protocol::{CloseFrame, frame::coding::CloseCode},
};

use crate::bindings::{CloseInfo, ConnectOptions, ErrorCode};
use crate::compression::{MessageDeflater, compress};
use crate::config::WebSocketConfig;
use crate::direct_write::{large_and_ours, write_masked};
use crate::dns::Lookups;
use crate::errors::{
    ABNORMAL_CLOSURE, GOING_AWAY, NO_STATUS_RECEIVED, failure_close_code, is_late_close_error,
    wire_error,
};
use crate::event::{Pending, Received};
use crate::handshake::{self, ConnectionSettings, Stream};
use crate::policy::NetworkPolicy;
use crate::queue::EventQueue;
use crate::rules::Target;
use crate::socket_state::SocketShared;

/// What the guest asks of the I/O task.
pub(crate) enum Command {
    /// Write a message; the length is what `buffered` counted for it.
    Send(WireMessage, u64),
    /// Start (or, while connecting, fail with) the closing handshake.
    Close(Option<CloseFrame>),
    /// Write a ping with this payload.
    Ping(Vec<u8>),
    /// The guest closed a socket it had not seen open: fail the connection,
    /// even if the handshake has finished meanwhile (its open event is then
    /// never delivered), as the browser does.
    Fail,
}

/// How many bytes of queued sends one flush may carry: enough to batch small
/// messages, small enough that reading is not held up for long.
const BURST_BYTES: usize = 256 << 10;

/// How a burst of sends ended.
enum BurstEnd {
    /// No more sends were queued, or the burst reached [`BURST_BYTES`].
    Drained,
    /// The guest's next command, taken from the channel: not a send, or
    /// `None` when the guest destroyed the socket.
    Next(Option<Command>),
}

/// How a connection ended, for the close event.
enum Ending {
    /// Both sides exchanged close frames.
    Clean(Option<CloseFrame>),
    /// It failed: report the error, then close with 1006.
    Failed(ErrorCode),
    /// The guest destroyed the socket: report nothing.
    Destroyed,
}

/// The I/O task of one socket.
pub(crate) struct SocketTask {
    /// The guest's DNS lookups.
    lookups: Lookups,
    shared: Arc<SocketShared>,
    /// The device's queue the socket's events go to.
    queue: Arc<EventQueue>,
    commands: mpsc::UnboundedReceiver<Command>,
    close_timeout: Duration,
    keepalive: Option<Duration>,
    policy: Arc<dyn NetworkPolicy>,
    max_queued_bytes: u64,
}

impl SocketTask {
    /// The task of `shared`, taking the guest's commands from `commands`
    /// and reporting to `queue`.
    pub(crate) fn new(
        shared: Arc<SocketShared>,
        queue: Arc<EventQueue>,
        commands: mpsc::UnboundedReceiver<Command>,
        options: &ConnectOptions,
        config: &WebSocketConfig,
        lookups: Lookups,
    ) -> Self {
        Self {
            lookups,
            shared,
            queue,
            commands,
            close_timeout: config.close_timeout,
            policy: config.policy.clone(),
            max_queued_bytes: config.max_queued_bytes,
            keepalive: options
                .keepalive_interval_ms
                .filter(|&ms| ms > 0)
                .map(|ms| Duration::from_millis(ms.into())),
        }
    }

    /// Connects, converses until the connection ends, and queues the close.
    pub(crate) async fn run(
        mut self,
        target: Target,
        options: ConnectOptions,
        settings: ConnectionSettings,
    ) {
        let connect_timeout = settings.timeout;
        // Boxed, and done with before the conversation starts: every open
        // socket's task would otherwise keep room for the connecting state
        // (DNS, proxy, TLS and HTTP handshakes) beside the conversation's.
        let connecting = Box::pin(tokio::time::timeout(
            connect_timeout,
            handshake::open(&target, &*self.policy, &options, settings, &self.lookups),
        ));
        let connected = tokio::select! {
            connected = connecting => match connected {
                Ok(Ok(connection)) => Ok(connection),
                Ok(Err(error)) => Err(Ending::Failed(error)),
                Err(_) => Err(Ending::Failed(ErrorCode::Timeout(format!(
                    "the connection was not established within {connect_timeout:?}"
                )))),
            },
            command = self.commands.recv() => match command {
                // Send is refused while connecting, so only close or destroy reach here.
                Some(_) => Err(closed_while_connecting()),
                None => Err(Ending::Destroyed),
            },
        };
        // The conversation's state boxed too: the connection moves into it,
        // so the task keeps one copy of the stream (about 1.5 KB), not two.
        let ending = {
            let conversation = match connected {
                Ok(connection) => {
                    tracing::info!(protocol = %connection.protocol, extensions = %connection.extensions, "open");
                    if self
                        .shared
                        .opened(connection.protocol, connection.extensions)
                    {
                        self.queue.push(&self.shared, Pending::Open);
                        Ok(Box::pin(
                            self.converse(connection.stream, connection.deflater),
                        ))
                    } else {
                        // The guest closed while the handshake finished.
                        Err(closed_while_connecting())
                    }
                }
                Err(ending) => Err(ending),
            };
            match conversation {
                Ok(conversation) => conversation.await,
                Err(ending) => ending,
            }
        };
        self.finish(ending);
    }

    fn finish(&self, ending: Ending) {
        self.shared.connection_ended();
        let info = match ending {
            Ending::Destroyed => {
                tracing::debug!("destroyed: the guest dropped the socket");
                return;
            }
            Ending::Clean(frame) => CloseInfo {
                code: frame.as_ref().map_or(NO_STATUS_RECEIVED, |f| f.code.into()),
                reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                was_clean: true,
            },
            Ending::Failed(error) => {
                tracing::info!(?error, "failed");
                self.queue.push(&self.shared, Pending::Error(error));
                CloseInfo {
                    code: ABNORMAL_CLOSURE,
                    reason: String::new(),
                    was_clean: false,
                }
            }
        };
        tracing::info!(code = info.code, reason = %info.reason, clean = info.was_clean, "closed");
        self.queue.push(&self.shared, Pending::Close(info));
    }

    /// Runs one write to the peer, bounded in time, so that a peer that stops
    /// reading cannot hold the socket (and its file descriptor) forever:
    /// once the guest closes or destroys the socket, the write has
    /// `close_timeout` left; with keepalive on, a write blocked for twice
    /// the interval fails as an unanswered ping would (the ping could not
    /// even be sent).
    async fn bounded<T>(
        &self,
        write: impl Future<Output = Result<T, tungstenite::Error>>,
    ) -> Result<T, Ending> {
        let shared = &self.shared;
        let stopped = async {
            shared.stop_requested().await;
            tokio::time::sleep(self.close_timeout).await;
        };
        let stalled = sleep_until(self.keepalive.map(|interval| Instant::now() + interval * 2));
        let stuck = |why: String| match shared.is_destroyed() {
            true => Ending::Destroyed,
            false => Ending::Failed(ErrorCode::Timeout(why)),
        };
        tokio::select! {
            result = write => result.map_err(|error| Ending::Failed(wire_error(error))),
            () = stopped => Err(stuck(format!(
                "the peer did not take our data within {:?} of the close",
                self.close_timeout
            ))),
            () = stalled => Err(stuck(format!(
                "the peer has not read our data for {:?} (keepalive)",
                self.keepalive.unwrap_or_default() * 2
            ))),
        }
    }

    /// Writes `first` and every send queued behind it (up to [`BURST_BYTES`]),
    /// then flushes once. After the peer's close frame nothing more may be
    /// sent: with `discard`, like the browser, the messages are dropped.
    async fn send_burst(
        &mut self,
        stream: &mut Stream,
        deflater: &mut Option<MessageDeflater>,
        first: (WireMessage, u64),
        discard: bool,
    ) -> Result<BurstEnd, Ending> {
        let mut next = Some(first);
        let (mut written, mut accounted, mut messages) = (0, 0, 0);
        let outcome = loop {
            let Some((message, len)) = next.take() else {
                break Ok(BurstEnd::Drained);
            };
            accounted += len;
            messages += 1;
            if !discard {
                let message = compress(deflater, message).await;
                written += message.len();
                let fed = match large_and_ours(message) {
                    Ok((opcode, payload)) => {
                        self.bounded(write_masked(stream, opcode, payload)).await
                    }
                    Err(message) => self.bounded(stream.feed(message)).await,
                };
                if let Err(ending) = fed {
                    break Err(ending);
                }
            }
            if written >= BURST_BYTES {
                break Ok(BurstEnd::Drained);
            }
            match self.commands.try_recv() {
                Ok(Command::Send(message, len)) => next = Some((message, len)),
                Ok(other) => break Ok(BurstEnd::Next(Some(other))),
                Err(TryRecvError::Empty) => break Ok(BurstEnd::Drained),
                Err(TryRecvError::Disconnected) => break Ok(BurstEnd::Next(None)),
            }
        };
        let outcome = match outcome {
            Ok(command) => self.bounded(stream.flush()).await.map(|()| command),
            Err(ending) => Err(ending),
        };
        self.shared.written(messages, accounted);
        outcome
    }

    /// The OPEN and CLOSING states: relays messages both ways until the
    /// connection ends.
    async fn converse(
        &mut self,
        mut stream: Stream,
        mut deflater: Option<MessageDeflater>,
    ) -> Ending {
        // Set once a close frame was received from the peer.
        let mut received_close: Option<Option<CloseFrame>> = None;
        // Set when the closing handshake started; the peer must finish by then.
        let mut close_deadline: Option<Instant> = None;
        let mut keepalive = self.keepalive.map(Keepalive::new);
        loop {
            // While the guest has not taken what it was sent, stop reading:
            // TCP then pushes back on the server. A destroyed socket's events
            // are dropped, so it reads on (to finish its closing handshake);
            // so does a closing one, dropping what does not fit, or the
            // peer's close frame would never be read and the close never clean.
            let full = self.shared.inbound_full(self.max_queued_bytes);
            let paused = full && !self.shared.is_destroyed() && close_deadline.is_none();
            let timer = match (close_deadline, &keepalive) {
                (Some(deadline), _) => Some(deadline),
                // Silence is ours while paused, not the peer's.
                (None, Some(keepalive)) if !paused => Some(keepalive.deadline()),
                (None, _) => None,
            };
            tokio::select! {
                command = self.commands.recv(), if close_deadline.is_none() => {
                    // Sends queued together are written together, with one
                    // flush: one write(2) for a burst instead of one each.
                    let command = match command {
                        Some(Command::Send(message, len)) => {
                            let discard = received_close.is_some();
                            match self.send_burst(&mut stream, &mut deflater, (message, len), discard).await {
                                Ok(BurstEnd::Drained) => continue,
                                Ok(BurstEnd::Next(command)) => command,
                                Err(ending) => return ending,
                            }
                        }
                        other => other,
                    };
                    match command {
                        None => {
                            // Destroyed: say goodbye, but do not wait long for the peer.
                            let goodbye = CloseFrame { code: CloseCode::from(GOING_AWAY), reason: "".into() };
                            let _ = tokio::time::timeout(self.close_timeout, async {
                                if stream.close(Some(goodbye)).await.is_ok() {
                                    while let Some(Ok(_)) = stream.next().await {}
                                }
                            }).await;
                            return Ending::Destroyed;
                        }
                        // A burst ends at the first command that is not a send.
                        Some(Command::Send(..)) => {}
                        Some(Command::Ping(payload)) if received_close.is_none() => {
                            if let Err(ending) = self.bounded(stream.send(WireMessage::Ping(payload.clone().into()))).await {
                                return ending;
                            }
                            self.shared.ping_dequeued(Some(payload));
                        }
                        Some(Command::Ping(_)) => self.shared.ping_dequeued(None),
                        Some(Command::Fail) => return closed_while_connecting(),
                        Some(Command::Close(frame)) => {
                            tracing::debug!(frame = ?frame, "the guest closes");
                            close_deadline = Some(Instant::now() + self.close_timeout);
                            if let Err(ending) = self.bounded(stream.close(frame)).await {
                                return ending;
                            }
                        }
                    }
                }
                () = self.shared.drained(), if paused => {
                    if let Some(keepalive) = &mut keepalive {
                        keepalive.heard();
                    }
                }
                incoming = stream.next(), if !paused => {
                    if let Some(keepalive) = &mut keepalive {
                        keepalive.heard();
                    }
                    match incoming {
                        // Closing with the queue full: the guest has said goodbye.
                        Some(Ok(WireMessage::Text(_) | WireMessage::Binary(_))) if full && close_deadline.is_some() => {}
                        Some(Ok(WireMessage::Text(text))) => {
                            self.queue.push(&self.shared, Pending::Message(Received::Text(text.as_str().to_string())));
                        }
                        Some(Ok(WireMessage::Binary(bytes))) => {
                            self.queue.push(&self.shared, Pending::Message(Received::binary(bytes)));
                        }
                        Some(Ok(WireMessage::Close(frame))) => {
                            // tungstenite answers the peer's close frame itself;
                            // the connection ends when the peer drops TCP.
                            tracing::debug!(frame = ?frame, "the peer's close frame arrived");
                            received_close = Some(frame);
                            self.shared.peer_closing();
                            close_deadline.get_or_insert(Instant::now() + self.close_timeout);
                        }
                        Some(Ok(WireMessage::Pong(payload))) => self.shared.pong_received(&payload),
                        // tungstenite answers pings itself.
                        Some(Ok(WireMessage::Ping(_) | WireMessage::Frame(_))) => {}
                        Some(Err(tungstenite::Error::ConnectionClosed)) | None => {
                            return match received_close {
                                Some(frame) => Ending::Clean(frame),
                                None => Ending::Failed(ErrorCode::Io(
                                    "the connection ended without a closing handshake".to_string(),
                                )),
                            };
                        }
                        Some(Err(error)) => {
                            if let Some(frame) = received_close.take() && is_late_close_error(&error) {
                                return Ending::Clean(frame);
                            }
                            // Fail the connection (RFC 6455 §7.1.7), telling
                            // the peer why when the error has a close code.
                            if let Some(code) = failure_close_code(&error) {
                                let frame = CloseFrame { code: CloseCode::from(code), reason: "".into() };
                                let _ = tokio::time::timeout(self.close_timeout, stream.close(Some(frame))).await;
                            }
                            return Ending::Failed(wire_error(error));
                        }
                    }
                },
                () = sleep_until(timer) => {
                    if close_deadline.is_some() {
                        return match received_close {
                            // The peer sent its close frame and we answered: the
                            // handshake is complete even if it is slow to drop TCP.
                            Some(frame) => Ending::Clean(frame),
                            None => Ending::Failed(ErrorCode::Timeout(format!(
                                "the peer did not complete the closing handshake within {:?}",
                                self.close_timeout
                            ))),
                        };
                    }
                    if let Some(keepalive) = &mut keepalive {
                        if keepalive.ping_unanswered() {
                            return Ending::Failed(ErrorCode::Timeout(format!(
                                "no pong arrived within {:?} of a keepalive ping",
                                keepalive.interval
                            )));
                        }
                        keepalive.pinged();
                        if let Err(ending) = self.bounded(stream.send(WireMessage::Ping(Default::default()))).await {
                            return ending;
                        }
                    }
                }
            }
        }
    }
}

/// Keepalive pings: after `interval` without hearing from the peer, ping; if
/// another `interval` passes in silence, the connection is dead.
struct Keepalive {
    interval: Duration,
    last_heard: Instant,
    ping_sent: Option<Instant>,
}

impl Keepalive {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_heard: Instant::now(),
            ping_sent: None,
        }
    }

    /// When to ping, or when to give up waiting for the pong.
    fn deadline(&self) -> Instant {
        self.ping_sent.unwrap_or(self.last_heard) + self.interval
    }

    /// Any frame from the peer shows it is alive.
    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.ping_sent = None;
    }

    fn pinged(&mut self) {
        self.ping_sent = Some(Instant::now());
    }

    fn ping_unanswered(&self) -> bool {
        self.ping_sent.is_some()
    }
}

/// The browser fails a connection that is closed while connecting.
fn closed_while_connecting() -> Ending {
    Ending::Failed(ErrorCode::InvalidState(
        "the socket was closed before the connection was established".to_string(),
    ))
}

/// Resolves when `deadline` passes; never when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
