//! The host's implementation of `wit-websocket:client/network`: argument
//! checks and table bookkeeping; the socket logic lives in [`crate::socket`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_tungstenite::tungstenite::{Bytes, Message as WireMessage, Utf8Bytes};
use wasmtime::component::Resource;
use wasmtime_wasi_io::bindings::wasi::io::poll::HostPollable as _;
use wasmtime_wasi_io::poll::{DynPollable, subscribe};

use crate::WebSocketCtxView;
use crate::bindings::wit_websocket::client::{network, types};
use crate::bindings::{
    ConnectOptions, ErrorCode, Event, Message, MessageBatch, PackedMessages, Pong, ReadyState,
};
use crate::device::NetworkDevice;
use crate::event::Pending;
use crate::pollables::{DeviceEvents, PongReady, SocketEvents, Writable};
use crate::queue::EventQueue;
use crate::rules;
use crate::socket::WebSocket;

impl types::Host for WebSocketCtxView<'_> {}

impl network::Host for WebSocketCtxView<'_> {}

/// Counts and logs why the host refused a guest's call: limits as warnings
/// (an operator may want to raise them), anything else at debug.
fn refused(stats: &mut crate::Stats, call: &str, error: &ErrorCode) {
    *stats.refusals.entry(error.kind()).or_default() += 1;
    match error {
        ErrorCode::LimitExceeded(limit) | ErrorCode::MessageTooLarge(limit) => {
            tracing::warn!(call, %limit, "limit reached")
        }
        other => tracing::debug!(call, error = ?other, "refused"),
    }
}

impl WebSocketCtxView<'_> {
    /// Every send (`send`, `send-utf8`, `send-binary`, `send-messages`,
    /// `send-packed`): queued, and counted in the stats.
    fn send_wire(
        &mut self,
        socket: Resource<WebSocket>,
        message: WireMessage,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let result = self.table.get(&socket)?.send(message);
        match &result {
            Ok(len) => {
                self.ctx.stats.messages_sent += 1;
                self.ctx.stats.bytes_sent += len;
            }
            Err(error) => refused(&mut self.ctx.stats, "send", error),
        }
        Ok(result.map(drop))
    }

    /// `send-messages` and `send-packed` (`call` names it in a trap): each
    /// message sent in order, stopping at the first refused; `binary` is any
    /// flag that is not 0 or false.
    fn send_each<Flag: Copy + PartialEq + Default>(
        &mut self,
        call: &str,
        socket: Resource<WebSocket>,
        binary: &[Flag],
        lengths: Vec<u32>,
        payloads: Vec<u8>,
    ) -> wasmtime::Result<Result<(), (u32, ErrorCode)>> {
        let total: u64 = lengths.iter().map(|&length| u64::from(length)).sum();
        if binary.len() != lengths.len() || total != payloads.len() as u64 {
            wasmtime::bail!(
                "{call}: {} binary flags and {} lengths adding up to {total} bytes, \
                 for {} bytes of payloads",
                binary.len(),
                lengths.len(),
                payloads.len()
            );
        }
        // Each message is a slice of the lifted payloads, not a copy: they
        // share the one buffer until the last of them is written.
        let payloads = Bytes::from(payloads);
        let mut start = 0;
        for (queued, (&binary, length)) in binary.iter().zip(lengths).enumerate() {
            let payload = payloads.slice(start..start + length as usize);
            start += length as usize;
            let message = match binary != Flag::default() {
                true => Ok(WireMessage::Binary(payload)),
                false => utf8_message(payload),
            };
            let sent = match message {
                Ok(message) => self.send_wire(Resource::new_borrow(socket.rep()), message)?,
                Err(error) => Err(error),
            };
            if let Err(error) = sent {
                return Ok(Err((queued as u32, error)));
            }
        }
        Ok(Ok(()))
    }

    /// `create-websocket`: the checks, then the socket.
    fn create(
        &mut self,
        device: Resource<NetworkDevice>,
        url: String,
        options: Option<ConnectOptions>,
    ) -> wasmtime::Result<Result<Resource<WebSocket>, ErrorCode>> {
        let queue = self.table.get(&device)?.queue.clone();
        let target = match rules::parse_url(&url) {
            Ok(target) => target,
            Err(error) => return Ok(Err(error)),
        };
        let options = options.unwrap_or(ConnectOptions {
            protocols: Vec::new(),
            headers: Vec::new(),
            connect_timeout_ms: None,
            keepalive_interval_ms: None,
            compression: None,
        });
        if let Err(error) = rules::check_options(&options) {
            return Ok(Err(error));
        }
        // An address written in the URL is judged now, as a name's addresses are
        // once resolved: the guest learns at once, and nothing is dialled.
        let connect_target = target.as_connect_target();
        let policy = &self.ctx.config.policy;
        let verdict = policy.check_host(&connect_target).and_then(|()| {
            match connect_target.host.parse::<std::net::IpAddr>() {
                Ok(address) => policy.check_address(&connect_target, address),
                Err(_) => Ok(()),
            }
        });
        if let Err(message) = verdict {
            tracing::info!(url = %target.url, reason = %message, "not permitted");
            return Ok(Err(ErrorCode::NotPermitted(message)));
        }
        let config = &self.ctx.config;
        if self.ctx.socket_reps.len() >= config.max_held_sockets {
            return Ok(Err(ErrorCode::LimitExceeded(format!(
                "this guest holds {} socket handles, the most the host allows: drop closed ones",
                config.max_held_sockets
            ))));
        }
        if self.ctx.live_sockets >= config.max_sockets {
            return Ok(Err(ErrorCode::LimitExceeded(format!(
                "this guest already has {} live sockets, the most the host allows",
                config.max_sockets
            ))));
        }
        if queue.live_sockets.load(Ordering::Acquire) >= config.max_sockets_per_device {
            return Ok(Err(ErrorCode::LimitExceeded(format!(
                "this network-device already has {} live sockets, the most the host allows",
                config.max_sockets_per_device
            ))));
        }
        let tls = match target.tls {
            true => match self.ctx.tls_config(&target.host) {
                Ok(config) => Some(config),
                Err(error) => return Ok(Err(error)),
            },
            false => None,
        };
        let config = &self.ctx.config;
        let id = self.ctx.next_socket_id;
        self.ctx.next_socket_id += 1;
        let socket = WebSocket::connect(id, target, tls, options, config, queue, &self.ctx.tasks);
        let resource = self.table.push(socket)?;
        self.ctx.socket_reps.insert(id, resource.rep());
        self.ctx.live_sockets += 1;
        Ok(Ok(resource))
    }
}

impl network::HostNetworkDevice for WebSocketCtxView<'_> {
    fn new(&mut self) -> wasmtime::Result<Resource<NetworkDevice>> {
        // Dropped devices' entries go; live ones are capped.
        self.ctx.devices.retain(|queue| queue.strong_count() > 0);
        let limit = self.ctx.config.max_devices;
        if self.ctx.devices.len() >= limit {
            wasmtime::bail!(
                "the guest already holds {limit} network devices, the most the host allows"
            );
        }
        let queue = Arc::new(EventQueue::new(self.ctx.events_ready.clone()));
        self.ctx.devices.push(Arc::downgrade(&queue));
        Ok(self.table.push(NetworkDevice { queue })?)
    }

    fn create_websocket(
        &mut self,
        device: Resource<NetworkDevice>,
        url: String,
        options: Option<ConnectOptions>,
    ) -> wasmtime::Result<Result<Resource<WebSocket>, ErrorCode>> {
        let created = self.create(device, url, options);
        match &created {
            Ok(Ok(_)) => self.ctx.stats.sockets_created += 1,
            Ok(Err(error)) => refused(&mut self.ctx.stats, "create-websocket", error),
            Err(_) => {}
        }
        created
    }

    fn update(&mut self, device: Resource<NetworkDevice>) -> wasmtime::Result<Vec<Event>> {
        let events = self.table.get(&device)?.queue.take_batch();
        Ok(events
            .into_iter()
            .filter(|event| self.ctx.note_delivery(&event.socket, &event.kind))
            .inspect(|event| {
                // Handed over: the guest handles it before it looks again.
                if matches!(event.kind, Pending::Open) {
                    event.socket.open_settled();
                }
            })
            .map(|event| Event {
                socket: event.socket.id(),
                kind: event.kind.into_event_kind(),
            })
            .collect())
    }

    fn take_messages(&mut self, device: Resource<NetworkDevice>) -> wasmtime::Result<MessageBatch> {
        let packed = self.take_packed(device)?;
        Ok(MessageBatch {
            sockets: packed.sockets,
            binary: packed.binary.into_iter().map(|kind| kind != 0).collect(),
            lengths: packed.lengths,
            payloads: packed.payloads,
        })
    }

    fn take_packed(&mut self, device: Resource<NetworkDevice>) -> wasmtime::Result<PackedMessages> {
        let messages = self.table.get(&device)?.queue.take_messages();
        let mut delivered = Vec::with_capacity(messages.len());
        for event in messages {
            if !self.ctx.note_delivery(&event.socket, &event.kind) {
                continue;
            }
            let Pending::Message(message) = event.kind else {
                continue; // take_messages takes messages only
            };
            let Ok(length) = u32::try_from(message.len()) else {
                // As lowering it in an `update` would: a 32-bit guest has no room.
                wasmtime::bail!(
                    "a message of {} bytes cannot reach a 32-bit guest",
                    message.len()
                );
            };
            delivered.push((event.socket.id(), length, message));
        }
        let batch = PackedMessages {
            sockets: delivered.iter().map(|(socket, ..)| *socket).collect(),
            binary: delivered
                .iter()
                .map(|(.., message)| u8::from(message.is_binary()))
                .collect(),
            lengths: delivered.iter().map(|(_, length, _)| *length).collect(),
            payloads: Vec::new(),
        };
        // One message (a large one always comes alone) is handed over as it
        // is; several are copied next to each other.
        let payloads = if delivered.len() == 1 {
            let (.., message) = delivered.remove(0);
            message.into_payload()
        } else {
            let total = delivered.iter().map(|(.., message)| message.len()).sum();
            let mut payloads = Vec::with_capacity(total);
            for (.., message) in &delivered {
                payloads.extend_from_slice(message.payload());
            }
            payloads
        };
        Ok(PackedMessages { payloads, ..batch })
    }

    fn subscribe(
        &mut self,
        device: Resource<NetworkDevice>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let queue = self.table.get(&device)?.queue.clone();
        let events = self.table.push(DeviceEvents(queue))?;
        subscribe(self.table, events)
    }

    fn set_push(&mut self, device: Resource<NetworkDevice>, enabled: bool) -> wasmtime::Result<()> {
        self.table.get(&device)?.queue.set_pushed(enabled);
        Ok(())
    }

    fn watch(
        &mut self,
        device: Resource<NetworkDevice>,
        condition: Resource<DynPollable>,
    ) -> wasmtime::Result<Result<u64, ErrorCode>> {
        let queue = self.table.get(&device)?.queue.clone();
        if let Some(refusal) = self.ctx.watch_limit_reached() {
            self.table.drop(condition)?;
            return Ok(Err(refusal));
        }
        Ok(Ok(self.ctx.watches.add(&queue, condition, false)))
    }

    fn watch_events(
        &mut self,
        device: Resource<NetworkDevice>,
    ) -> wasmtime::Result<Result<u64, ErrorCode>> {
        let queue = self.table.get(&device)?.queue.clone();
        if let Some(refusal) = self.ctx.watch_limit_reached() {
            return Ok(Err(refusal));
        }
        queue.set_pushed(false);
        // The pollable `subscribe` gives the guest, kept by the host.
        let pollable =
            network::HostNetworkDevice::subscribe(self, Resource::new_borrow(device.rep()))?;
        Ok(Ok(self.ctx.watches.add(&queue, pollable, true)))
    }

    fn unwatch(&mut self, device: Resource<NetworkDevice>, watch: u64) -> wasmtime::Result<bool> {
        let queue = self.table.get(&device)?.queue.clone();
        self.ctx.watches.cancel(self.table, &queue, watch)
    }

    fn drop(&mut self, device: Resource<NetworkDevice>) -> wasmtime::Result<()> {
        // The queue lives on while the device's sockets still report (push
        // mode); its watches end with it.
        let device = self.table.delete(device)?;
        self.ctx.watches.cancel_device(self.table, &device.queue)
    }
}

/// Text lifted as bytes (`send-utf8`, `send-messages`), checked as UTF-8
/// where it lies.
fn utf8_message(bytes: Bytes) -> Result<WireMessage, ErrorCode> {
    match Utf8Bytes::try_from(bytes) {
        Ok(text) => Ok(WireMessage::Text(text)),
        Err(error) => Err(ErrorCode::InvalidUtf8(format!(
            "the text is not UTF-8: {error}"
        ))),
    }
}

/// The bytes a `send-latin1` string stands for: each character's value, or
/// `None` for a character above U+00FF. ASCII text, the same bytes in UTF-8
/// and in Latin-1, is taken as it is, without a copy.
fn latin1_bytes(text: String) -> Option<Vec<u8>> {
    if text.is_ascii() {
        return Some(text.into_bytes());
    }
    text.chars().map(|c| u8::try_from(c).ok()).collect()
}

impl network::HostWebsocket for WebSocketCtxView<'_> {
    fn send(
        &mut self,
        socket: Resource<WebSocket>,
        message: Message,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let message = match message {
            Message::Text(text) => WireMessage::text(text),
            Message::Binary(bytes) => WireMessage::binary(bytes),
        };
        self.send_wire(socket, message)
    }

    fn send_utf8(
        &mut self,
        socket: Resource<WebSocket>,
        text: Vec<u8>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        match utf8_message(text.into()) {
            Ok(message) => self.send_wire(socket, message),
            Err(error) => Ok(Err(error)),
        }
    }

    fn send_binary(
        &mut self,
        socket: Resource<WebSocket>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        self.send_wire(socket, WireMessage::binary(data))
    }

    fn send_latin1(
        &mut self,
        socket: Resource<WebSocket>,
        data: String,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let Some(bytes) = latin1_bytes(data) else {
            wasmtime::bail!("send-latin1: a character above U+00FF is not a byte");
        };
        self.send_binary(socket, bytes)
    }

    fn send_messages(
        &mut self,
        socket: Resource<WebSocket>,
        binary: Vec<bool>,
        lengths: Vec<u32>,
        payloads: Vec<u8>,
    ) -> wasmtime::Result<Result<(), (u32, ErrorCode)>> {
        self.send_each("send-messages", socket, &binary, lengths, payloads)
    }

    fn send_packed(
        &mut self,
        socket: Resource<WebSocket>,
        binary: Vec<u8>,
        lengths: Vec<u32>,
        payloads: Vec<u8>,
    ) -> wasmtime::Result<Result<(), (u32, ErrorCode)>> {
        self.send_each("send-packed", socket, &binary, lengths, payloads)
    }

    fn close(
        &mut self,
        socket: Resource<WebSocket>,
        code: Option<u16>,
        reason: Option<String>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let socket = self.table.get(&socket)?;
        Ok(rules::check_close(code, reason.as_deref())
            .map(|code| socket.close(code, reason.unwrap_or_default())))
    }

    fn ready_state(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<ReadyState> {
        Ok(self.table.get(&socket)?.shared.ready_state())
    }

    fn url(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<String> {
        Ok(self.table.get(&socket)?.url().to_string())
    }

    fn protocol(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<String> {
        Ok(self.table.get(&socket)?.protocol())
    }

    fn extensions(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<String> {
        Ok(self.table.get(&socket)?.extensions())
    }

    fn buffered_amount(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&socket)?.buffered_amount())
    }

    fn id(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&socket)?.shared.id())
    }

    fn subscribe(
        &mut self,
        socket: Resource<WebSocket>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let websocket = self.table.get(&socket)?;
        let events = SocketEvents {
            socket: websocket.shared.clone(),
            queued: websocket.queue.ready(),
        };
        let events = self.table.push(events)?;
        subscribe(self.table, events)
    }

    fn subscribe_writable(
        &mut self,
        socket: Resource<WebSocket>,
        low_water_mark: u64,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let socket = self.table.get(&socket)?.shared.clone();
        let writable = self.table.push(Writable {
            socket,
            low_water_mark,
        })?;
        subscribe(self.table, writable)
    }

    fn ping(
        &mut self,
        socket: Resource<WebSocket>,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<Resource<DynPollable>, ErrorCode>> {
        let websocket = self.table.get(&socket)?;
        let answered = match websocket.ping(payload) {
            Ok(answered) => answered,
            Err(error) => {
                refused(&mut self.ctx.stats, "ping", &error);
                return Ok(Err(error));
            }
        };
        let socket = websocket.shared.clone();
        let pong = self.table.push(PongReady { socket, answered })?;
        Ok(Ok(subscribe(self.table, pong)?))
    }

    fn last_pong(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<Option<Pong>> {
        let last = self.table.get(&socket)?.shared.last_pong();
        Ok(last.map(|(payload, round_trip)| Pong {
            payload,
            round_trip_ns: u64::try_from(round_trip.as_nanos()).unwrap_or(u64::MAX),
        }))
    }

    fn drop(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<()> {
        let mut socket = self.table.delete(socket)?;
        socket.destroy();
        self.ctx.socket_reps.remove(&socket.shared.id());
        self.ctx.retire(&socket.shared);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::latin1_bytes;

    #[test]
    fn latin1_text_stands_for_the_bytes_of_its_characters() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let text: String = every_byte.iter().map(|&byte| char::from(byte)).collect();
        assert_eq!(latin1_bytes(text), Some(every_byte));
        assert_eq!(latin1_bytes("ascii".into()), Some(b"ascii".to_vec()));
        assert_eq!(latin1_bytes(String::new()), Some(Vec::new()));
        assert_eq!(latin1_bytes("caf\u{e9} \u{100}".into()), None);
        assert_eq!(latin1_bytes("\u{1f600}".into()), None);
    }
}
