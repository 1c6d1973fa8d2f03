//! The guest-facing `websocket` resource: what `send`, `close`, `ping` and
//! dropping the handle do, as the browser's `WebSocket` (WHATWG) defines
//! them, and the accessors an embedder may read.
//!
//! Owns the guest's side of one socket. It checks each call's arguments and
//! the socket's limits at once, then hands the work to the socket's I/O task
//! (`socket_task`) as a command; it never does I/O or waits itself.
//! The state both sides see lives in `socket_state`.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    Message as WireMessage,
    protocol::{CloseFrame, frame::coding::CloseCode},
};

use crate::bindings::{ConnectOptions, ErrorCode, ReadyState};
use crate::config::WebSocketConfig;
use crate::errors::INTERNAL_ERROR;
use crate::handshake::ConnectionSettings;
use crate::queue::EventQueue;
use crate::rules::Target;
use crate::socket_state::SocketShared;
use crate::socket_task::{Command, SocketTask};
use crate::tasks::SocketTasks;
use crate::tls::ClientTls;

/// The host side of a guest's `websocket` resource.
///
/// ```no_run
/// # use wasmtime::component::{Resource, ResourceTable};
/// # use wit_websocket_host::socket::WebSocket;
/// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
/// // An embedder looking at a socket a guest holds (e.g. one lent to a callback).
/// let socket: &WebSocket = table.get(socket)?;
/// println!("{} ({} buffered)", socket.url(), socket.buffered_amount());
/// # Ok(())
/// # }
/// ```
pub struct WebSocket {
    pub(crate) shared: Arc<SocketShared>,
    /// The queue of the device it was made on.
    pub(crate) queue: Arc<EventQueue>,
    url: String,
    /// `None` once the guest destroyed the socket: dropping the sender tells
    /// the task to close with 1001 and stop.
    commands: Option<mpsc::UnboundedSender<Command>>,
    max_message_size: usize,
    max_buffered_amount: u64,
}

impl WebSocket {
    /// Creates the socket in the CONNECTING state and starts its I/O task,
    /// which reports to `queue`. Must be called inside a tokio runtime.
    pub(crate) fn connect(
        id: u64,
        target: Target,
        tls: Option<ClientTls>,
        options: ConnectOptions,
        config: &WebSocketConfig,
        queue: Arc<EventQueue>,
        tasks: &SocketTasks,
    ) -> Self {
        let shared = Arc::new(SocketShared::new(id, config, queue.live_sockets.clone()));
        let (commands, receiver) = mpsc::unbounded_channel();
        let task = SocketTask::new(
            shared.clone(),
            queue.clone(),
            receiver,
            &options,
            config,
            tasks.lookups.clone(),
        );
        let settings = ConnectionSettings::new(&target, tls, &options, config);
        let url = target.url.to_string();
        // A child of the guest's span, when the embedder keeps one.
        let span = tracing::info_span!("socket", id, host = %target.host, port = target.port);
        span.in_scope(|| tracing::info!(url = %target.url, "connecting"));
        tasks.spawn(
            shared.clone(),
            queue.clone(),
            tracing::Instrument::instrument(task.run(target, options, settings), span),
        );
        Self {
            shared,
            queue,
            url,
            commands: Some(commands),
            max_message_size: config.max_message_size,
            max_buffered_amount: config.max_buffered_amount,
        }
    }

    /// The URL as parsed.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Resource, ResourceTable};
    /// # use wit_websocket_host::socket::WebSocket;
    /// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
    /// assert!(table.get(socket)?.url().starts_with("ws"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's chosen subprotocol, or empty.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Resource, ResourceTable};
    /// # use wit_websocket_host::socket::WebSocket;
    /// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
    /// let protocol = table.get(socket)?.protocol(); // e.g. "chat" once open
    /// # let _ = protocol;
    /// # Ok(())
    /// # }
    /// ```
    pub fn protocol(&self) -> String {
        self.shared.protocol()
    }

    /// The accepted extensions, or empty.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Resource, ResourceTable};
    /// # use wit_websocket_host::socket::WebSocket;
    /// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
    /// let compressed = table.get(socket)?.extensions().contains("permessage-deflate");
    /// # let _ = compressed;
    /// # Ok(())
    /// # }
    /// ```
    pub fn extensions(&self) -> String {
        self.shared.extensions()
    }

    /// Bytes accepted by `send` and not yet written.
    ///
    /// ```no_run
    /// # use wasmtime::component::{Resource, ResourceTable};
    /// # use wit_websocket_host::socket::WebSocket;
    /// # fn example(table: &ResourceTable, socket: &Resource<WebSocket>) -> wasmtime::Result<()> {
    /// if table.get(socket)?.buffered_amount() > 1 << 20 {
    ///     println!("this guest's peer is slow");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn buffered_amount(&self) -> u64 {
        self.shared.buffered()
    }

    /// Queues `message` (text or binary) for sending; see the WIT `send`.
    pub(crate) fn send(&self, message: WireMessage) -> Result<u64, ErrorCode> {
        self.shared.can_send()?;
        let len = message.len();
        if len > self.max_message_size {
            return Err(ErrorCode::MessageTooLarge(format!(
                "the message has {len} bytes; the host allows at most {}",
                self.max_message_size
            )));
        }
        let len = len as u64;
        self.shared.reserve_send(len, self.max_buffered_amount)?;
        if self.command(Command::Send(message, len)).is_err() {
            self.shared.written(1, len);
            return Err(ErrorCode::InvalidState(
                "the connection has ended".to_string(),
            ));
        }
        Ok(len)
    }

    /// Starts the closing handshake; see the WIT `close`. `code` and
    /// `reason` were checked by [`crate::rules::check_close`].
    pub(crate) fn close(&self, code: Option<u16>, reason: String) {
        let command = match self.shared.start_closing() {
            None => return,
            Some(ReadyState::Connecting) => Command::Fail,
            Some(_) => Command::Close(code.map(|code| CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            })),
        };
        self.shared.request_stop();
        // A task that already ended has queued its close event: nothing to do.
        let _ = self.command(command);
    }

    /// `ping`: queues a ping; how many pongs had answered before it.
    pub(crate) fn ping(&self, payload: Vec<u8>) -> Result<u64, ErrorCode> {
        let answered = self.shared.queue_ping(payload.len())?;
        match self.command(Command::Ping(payload)) {
            Ok(()) => Ok(answered),
            Err(()) => {
                self.shared.ping_dequeued(None);
                Err(ErrorCode::InvalidState(
                    "the connection has ended".to_string(),
                ))
            }
        }
    }

    fn command(&self, command: Command) -> Result<(), ()> {
        match &self.commands {
            Some(sender) => sender.send(command).map_err(|_| ()),
            None => Err(()),
        }
    }

    /// Destroys the socket after its guest trapped: no more events, and a
    /// live connection closes with 1011 (internal error).
    pub(crate) fn abort(&mut self) {
        let frame = CloseFrame {
            code: CloseCode::from(INTERNAL_ERROR),
            reason: "the application failed".into(),
        };
        let _ = self.command(Command::Close(Some(frame)));
        self.destroy();
    }

    /// Destroys the socket: no more events, and a live connection closes with 1001.
    pub(crate) fn destroy(&mut self) {
        self.shared.mark_destroyed();
        self.queue.purge(&self.shared);
        self.shared.request_stop();
        self.commands = None;
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        self.destroy();
    }
}
