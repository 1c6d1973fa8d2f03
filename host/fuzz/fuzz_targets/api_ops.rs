//! Drives the guest-facing API (`network-device` and `websocket`) with
//! arbitrary sequences of operations and arguments, as a hostile guest
//! could: URLs, options, messages, close codes and reasons, drops in any
//! order. The only server it may reach is an echo server on 127.0.0.1 (the
//! policy refuses everything else). The host must never panic, and once
//! everything is dropped no socket may stay live.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wasmtime::component::{Resource, ResourceTable};
use wit_websocket_cli::echo_server::EchoServer;
use wit_websocket_host::bindings::wit_websocket::client::network::{
    HostNetworkDevice, HostWebsocket,
};
use wit_websocket_host::bindings::{ConnectOptions, Message};
use wit_websocket_host::device::NetworkDevice;
use wit_websocket_host::policy::AllowList;
use wit_websocket_host::socket::WebSocket;
use wit_websocket_host::{WebSocketConfig, WebSocketCtx, WebSocketCtxView};

#[derive(Arbitrary, Debug)]
enum Url {
    /// A path on the echo server.
    Echo(String),
    /// Anything at all.
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Op {
    NewDevice,
    DropDevice(u8),
    Update(u8),
    TakeMessages(u8),
    TakePacked(u8),
    SubscribeDevice(u8),
    Create {
        device: u8,
        url: Url,
        protocols: Vec<String>,
        headers: Vec<(String, String)>,
        timeout_ms: Option<u16>,
        keepalive_ms: Option<u16>,
        compression: Option<bool>,
    },
    SendText(u8, String),
    SendBinary(u8, Vec<u8>),
    SendUtf8(u8, Vec<u8>),
    SendMessages(u8, Vec<bool>, Vec<u32>, Vec<u8>),
    SendPacked(u8, Vec<u8>, Vec<u32>, Vec<u8>),
    SendLatin1(u8, String),
    Close(u8, Option<u16>, Option<String>),
    DropSocket(u8),
    SubscribeSocket(u8),
    DropPollable(u8),
    Observe(u8),
    Pause(u8),
}

struct World {
    runtime: tokio::runtime::Runtime,
    echo_port: u16,
    _server: EchoServer,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let server = runtime
            .block_on(EchoServer::start())
            .expect("an echo server on loopback");
        World {
            echo_port: server.address().port(),
            _server: server,
            runtime,
        }
    })
}

fn pick<T>(items: &[T], index: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(index) % items.len()])
}

fuzz_target!(|ops: Vec<Op>| {
    let world = world();
    world.runtime.block_on(async {
        let config = WebSocketConfig {
            close_timeout: Duration::from_millis(50),
            max_message_size: 1 << 20,
            max_buffered_amount: 4 << 20,
            ..WebSocketConfig::with_policy(
                AllowList::deny_all()
                    .allow(&format!("127.0.0.1:{}", world.echo_port))
                    .unwrap(),
            )
        };
        let mut ctx = WebSocketCtx::new(config);
        let mut table = ResourceTable::new();
        let mut devices: Vec<u32> = Vec::new();
        let mut sockets: Vec<u32> = Vec::new();
        let mut pollables: Vec<u32> = Vec::new();
        for op in ops.into_iter().take(64) {
            let mut view = WebSocketCtxView {
                ctx: &mut ctx,
                table: &mut table,
            };
            let device = |i| pick(&devices, i).map(|&rep| Resource::<NetworkDevice>::new_own(rep));
            let socket = |i| pick(&sockets, i).map(|&rep| Resource::<WebSocket>::new_own(rep));
            // Errors are what a guest gets for misuse (traps); only panics are bugs.
            match op {
                Op::NewDevice => {
                    if let Ok(d) = HostNetworkDevice::new(&mut view) {
                        devices.push(d.rep());
                    }
                }
                Op::DropDevice(i) => {
                    if let Some(d) = device(i) {
                        let rep = d.rep();
                        if HostNetworkDevice::drop(&mut view, d).is_ok() {
                            devices.retain(|&r| r != rep);
                        }
                    }
                }
                Op::Update(i) => {
                    if let Some(d) = device(i) {
                        let _ = view.update(d);
                    }
                }
                Op::TakeMessages(i) => {
                    if let Some(d) = device(i) {
                        let _ = view.take_messages(d);
                    }
                }
                Op::TakePacked(i) => {
                    if let Some(d) = device(i) {
                        let _ = view.take_packed(d);
                    }
                }
                Op::SubscribeDevice(i) => {
                    if let Some(d) = device(i)
                        && let Ok(p) = HostNetworkDevice::subscribe(&mut view, d)
                    {
                        pollables.push(p.rep());
                    }
                }
                Op::Create {
                    device: i,
                    url,
                    protocols,
                    headers,
                    timeout_ms,
                    keepalive_ms,
                    compression,
                } => {
                    let Some(d) = device(i) else { continue };
                    let url = match url {
                        Url::Echo(path) => format!("ws://127.0.0.1:{}/{path}", world.echo_port),
                        Url::Raw(url) => url,
                    };
                    let options = ConnectOptions {
                        protocols,
                        headers,
                        connect_timeout_ms: timeout_ms.map(u32::from),
                        keepalive_interval_ms: keepalive_ms.map(u32::from),
                        compression,
                    };
                    if let Ok(Ok(s)) = view.create_websocket(d, url, Some(options)) {
                        sockets.push(s.rep());
                    }
                }
                Op::SendText(i, text) => {
                    if let Some(s) = socket(i) {
                        let _ = view.send(s, Message::Text(text));
                    }
                }
                Op::SendBinary(i, bytes) => {
                    if let Some(s) = socket(i) {
                        let _ = view.send_binary(s, bytes);
                    }
                }
                Op::SendUtf8(i, bytes) => {
                    if let Some(s) = socket(i) {
                        let _ = view.send_utf8(s, bytes);
                    }
                }
                Op::SendMessages(i, binary, lengths, payloads) => {
                    if let Some(s) = socket(i) {
                        let _ = view.send_messages(s, binary, lengths, payloads);
                    }
                }
                Op::SendPacked(i, binary, lengths, payloads) => {
                    if let Some(s) = socket(i) {
                        let _ = view.send_packed(s, binary, lengths, payloads);
                    }
                }
                Op::SendLatin1(i, data) => {
                    if let Some(s) = socket(i) {
                        let _ = view.send_latin1(s, data);
                    }
                }
                Op::Close(i, code, reason) => {
                    if let Some(s) = socket(i) {
                        let _ = view.close(s, code, reason);
                    }
                }
                Op::DropSocket(i) => {
                    if let Some(s) = socket(i) {
                        let rep = s.rep();
                        if HostWebsocket::drop(&mut view, s).is_ok() {
                            sockets.retain(|&r| r != rep);
                        }
                    }
                }
                Op::SubscribeSocket(i) => {
                    if let Some(s) = socket(i)
                        && let Ok(p) = HostWebsocket::subscribe(&mut view, s)
                    {
                        pollables.push(p.rep());
                    }
                }
                Op::DropPollable(i) => {
                    if let Some(&rep) = pick(&pollables, i) {
                        let pollable =
                            Resource::<wasmtime_wasi_io::poll::DynPollable>::new_own(rep);
                        if table.delete(pollable).is_ok() {
                            pollables.retain(|&r| r != rep);
                        }
                    }
                }
                Op::Observe(i) => {
                    if let Some(s) = socket(i) {
                        let rep = s.rep();
                        let _ = view.ready_state(s);
                        let _ = view.url(Resource::new_own(rep));
                        let _ = view.protocol(Resource::new_own(rep));
                        let _ = view.extensions(Resource::new_own(rep));
                        let _ = view.buffered_amount(Resource::new_own(rep));
                        let _ = view.id(Resource::new_own(rep));
                    }
                }
                Op::Pause(ms) => {
                    tokio::time::sleep(Duration::from_millis(u64::from(ms % 20))).await
                }
            }
        }
        // A guest's end: pollables, then sockets, then devices.
        for rep in pollables {
            let _ = table.delete(Resource::<wasmtime_wasi_io::poll::DynPollable>::new_own(
                rep,
            ));
        }
        let mut view = WebSocketCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        for rep in sockets {
            HostWebsocket::drop(&mut view, Resource::new_own(rep)).expect("no pollable is left");
        }
        for rep in devices {
            HostNetworkDevice::drop(&mut view, Resource::new_own(rep)).expect("devices drop");
        }
        assert_eq!(ctx.live_sockets(), 0, "every socket was destroyed");
        assert_eq!(ctx.held_sockets(), 0);
        let tasks = ctx.tasks();
        tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), tasks.wait()).await;
    });
});
