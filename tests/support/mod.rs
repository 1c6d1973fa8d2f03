//! Shared test harness: real guest components in the real host, against real
//! WebSocket servers on 127.0.0.1.

#![allow(dead_code)] // Each test file uses its own part of the harness.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use wasmtime::component::Component;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wit_websocket_cli::BUILT_GUESTS_DIR;
use wit_websocket_host::policy::AllowList;
use wit_websocket_host::runner::{GuestRunner, GuestState};
use wit_websocket_host::{Stats, WebSocketConfig, WebSocketCtx};

/// How long one guest run may take before the test fails instead of hanging.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// What a guest run produced.
#[derive(Debug)]
pub struct GuestRun {
    pub status: i32,
    pub stdout: Vec<String>,
    pub stats: Stats,
    /// After the run, before shutdown: live sockets, socket handles the
    /// guest still holds, and socket I/O tasks still running.
    pub live_sockets: usize,
    pub held_sockets: usize,
    pub running_tasks: usize,
    /// After the run: watches (timers) still pending.
    pub pending_watches: usize,
}

impl GuestRun {
    /// The lines starting with `prefix`.
    pub fn lines_starting(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .iter()
            .map(String::as_str)
            .filter(|line| line.starts_with(prefix))
            .collect()
    }

    /// Asserts that line `index` is an error event for socket 1 starting
    /// with `error` (e.g. `"io "`) and the next one its abnormal close (1006).
    pub fn assert_failed_at(&self, index: usize, error: &str) {
        let line = self.stdout.get(index).map(String::as_str).unwrap_or("");
        assert!(
            line.starts_with(&format!("push 1 error {error}")),
            "{:#?}",
            self.stdout
        );
        assert_eq!(
            self.stdout.get(index + 1).map(String::as_str),
            Some("push 1 close 1006 clean=false reason= state=closed"),
            "{:#?}",
            self.stdout
        );
    }

    /// The one line starting with `prefix`; panics with the whole output otherwise.
    pub fn line(&self, prefix: &str) -> &str {
        match self.lines_starting(prefix).as_slice() {
            [line] => line,
            found => panic!(
                "expected one line starting {prefix:?}, found {found:?} in {:#?}",
                self.stdout
            ),
        }
    }
}

fn runner() -> &'static GuestRunner {
    static RUNNER: OnceLock<GuestRunner> = OnceLock::new();
    RUNNER.get_or_init(|| GuestRunner::new().expect("a default engine and linker"))
}

/// The compiled component of a workspace guest package, compiled once per test binary.
pub fn component(name: &str) -> Component {
    static COMPONENTS: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    let mut components = COMPONENTS.get_or_init(Default::default).lock().unwrap();
    components
        .entry(name.to_string())
        .or_insert_with(|| {
            let path = format!("{BUILT_GUESTS_DIR}/{name}.wasm");
            runner()
                .load_file(path.as_ref())
                .expect("the build script built the guests")
        })
        .clone()
}

/// Runs the component in the file `path` (relative to the workspace root)
/// with `args`, every host allowed, the way the CLI does.
pub async fn run_file(path: &str, args: &[&str]) -> GuestRun {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let component = runner().load_file(&path).expect("the component compiles");
    run_component(
        &component,
        "guest",
        args,
        allow_all(),
        wit_websocket_host::runner::DEFAULT_MEMORY_LIMIT,
    )
    .await
    .expect("the guest does not trap")
}

/// Runs guest `name` with `args` (argv[1..]) the way the CLI does: `run`,
/// then dispatch until no socket is live. Captures its stdout.
pub async fn run_guest(name: &str, args: &[&str]) -> GuestRun {
    run_guest_with(name, args, allow_all()).await
}

/// The default configuration, with every host allowed (the servers of the
/// tests are all on loopback).
pub fn allow_all() -> WebSocketConfig {
    WebSocketConfig::with_policy(AllowList::allow_all())
}

/// As [`run_guest`], with the host enforcing `config`.
pub async fn run_guest_with(name: &str, args: &[&str], config: WebSocketConfig) -> GuestRun {
    try_run_guest(name, args, config)
        .await
        .expect("the guest does not trap")
}

/// As [`run_guest_with`]; a trap is returned (after its sockets are
/// aborted with 1011) instead of failing the test.
pub async fn try_run_guest(
    name: &str,
    args: &[&str],
    config: WebSocketConfig,
) -> wasmtime::Result<GuestRun> {
    try_run_guest_limited(
        name,
        args,
        config,
        wit_websocket_host::runner::DEFAULT_MEMORY_LIMIT,
    )
    .await
}

/// As [`try_run_guest`], with the guest's memory capped at `memory_limit` bytes.
pub async fn try_run_guest_limited(
    name: &str,
    args: &[&str],
    config: WebSocketConfig,
    memory_limit: usize,
) -> wasmtime::Result<GuestRun> {
    run_component(&component(name), name, args, config, memory_limit).await
}

/// Runs `component` with argv `[program, args..]` as the CLI does.
pub async fn run_component(
    component: &Component,
    program: &str,
    args: &[&str],
    config: WebSocketConfig,
    memory_limit: usize,
) -> wasmtime::Result<GuestRun> {
    let stdout = MemoryOutputPipe::new(1 << 20);
    let mut argv = vec![program];
    argv.extend_from_slice(args);
    let wasi = WasiCtx::builder()
        .args(&argv)
        .stdout(stdout.clone())
        .inherit_stderr()
        .build();
    let state = GuestState::new(wasi, WebSocketCtx::new(config)).with_memory_limit(memory_limit);
    let mut guest = runner()
        .instantiate(component, state)
        .await
        .expect("instantiates");
    let outcome = tokio::time::timeout(RUN_LIMIT, guest.run_to_completion())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the guest did not finish within {RUN_LIMIT:?}; its output: {}",
                String::from_utf8_lossy(&stdout.contents())
            )
        });
    let status = match outcome {
        Ok(status) => status,
        Err(trap) => {
            guest.abort().await;
            return Err(trap);
        }
    };
    let websockets = guest.state().websockets();
    // Every run of every test: a socket task's panic is a host bug.
    assert_eq!(websockets.socket_task_panics(), 0, "a socket task panicked");
    let stats = websockets.stats().clone();
    let (live_sockets, held_sockets) = (websockets.live_sockets(), websockets.held_sockets());
    let pending_watches = websockets.pending_watches();
    // A task ends right after queuing its close event; give it a moment.
    let tasks = websockets.tasks();
    for _ in 0..100 {
        if tasks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let running_tasks = tasks.len();
    guest.shutdown().await;
    let stdout = String::from_utf8_lossy(&stdout.contents())
        .lines()
        .map(str::to_string)
        .collect();
    Ok(GuestRun {
        status,
        stdout,
        stats,
        live_sockets,
        held_sockets,
        running_tasks,
        pending_watches,
    })
}

/// A JavaScript or Python guest (`entry` relative to the workspace root, e.g.
/// `examples/js-echo/app.js`), built by `guest/componentize` (which installs
/// the toolchain on first use and rebuilds only what changed), compiled once
/// per test binary. The compiled form is kept beside the component, so later
/// test binaries and runs load it in milliseconds instead of compiling 15 MB.
pub fn language_component(entry: &str) -> Component {
    language_component_with(entry, &[])
}

/// As [`language_component`], with `guest/componentize` flags (`--fetch`).
pub fn language_component_with(entry: &str, flags: &[&str]) -> Component {
    // One slot per entry, so that a test finding its component built does not
    // wait (blocking its runtime's thread) for another test's compilation.
    type Slot = Arc<OnceLock<Component>>;
    static COMPONENTS: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    let slot = COMPONENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(entry.to_string())
        .or_default()
        .clone();
    slot.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out_dir = root.join("target").join("language-guests");
        let wasm = out_dir.join(entry.replace('/', "-")).with_extension("wasm");
        let built = std::process::Command::new(root.join("guest/componentize"))
            .args(flags)
            .arg(root.join(entry))
            .arg(&wasm)
            .status()
            .expect("guest/componentize starts");
        assert!(built.success(), "guest/componentize {entry} failed");
        let compiled = wasm.with_extension("cwasm");
        let fresh = |path: &Path| path.metadata().and_then(|m| m.modified()).ok();
        if fresh(&compiled) > fresh(&wasm) {
            // SAFETY: the file was written by `Component::serialize` below;
            // wasmtime refuses one from another engine configuration.
            if let Ok(component) =
                unsafe { Component::deserialize_file(runner().engine(), &compiled) }
            {
                return component;
            }
        }
        let component = runner().load_file(&wasm).expect("the component compiles");
        let serialized = component.serialize().expect("serializes");
        std::fs::write(&compiled, serialized).expect("writes the compiled component");
        component
    })
    .clone()
}

/// Runs the JavaScript or Python guest `entry` (see [`language_component`])
/// with `args`, every host allowed.
pub async fn run_language_guest(entry: &str, args: &[&str]) -> GuestRun {
    run_language_guest_with(entry, args, allow_all()).await
}

/// As [`run_language_guest`], with the host enforcing `config`.
pub async fn run_language_guest_with(
    entry: &str,
    args: &[&str],
    config: WebSocketConfig,
) -> GuestRun {
    let component = language_component(entry);
    run_component(
        &component,
        entry,
        args,
        config,
        wit_websocket_host::runner::DEFAULT_MEMORY_LIMIT,
    )
    .await
    .expect("the guest does not trap")
}

/// Runs the probe test guest with a scenario and URLs.
pub async fn probe(scenario: &str, urls: &[&str]) -> GuestRun {
    let mut args = vec![scenario];
    args.extend_from_slice(urls);
    run_guest("probe", &args).await
}

/// Runs the probe with the host enforcing `config`.
pub async fn probe_with(scenario: &str, urls: &[&str], config: WebSocketConfig) -> GuestRun {
    let mut args = vec![scenario];
    args.extend_from_slice(urls);
    run_guest_with("probe", &args, config).await
}

/// What a test server saw, one line per observation.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn record(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (bounded) until a line starting with `prefix` is recorded.
    pub async fn wait_for(&self, prefix: &str) -> String {
        for _ in 0..200 {
            if let Some(line) = self.lines().into_iter().find(|l| l.starts_with(prefix)) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the server never recorded {prefix:?}; it recorded {:?}",
            self.lines()
        )
    }
}

/// A WebSocket server on 127.0.0.1 whose every connection runs `behaviour`.
pub struct TestServer {
    pub address: SocketAddr,
    pub journal: Journal,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("ws://{}/", self.address)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

pub type ServerSocket = WebSocketStream<TcpStream>;

/// Starts a server whose connections complete the WebSocket handshake and
/// then run `behaviour`.
pub async fn serve<F, Fut>(behaviour: F) -> TestServer
where
    F: Fn(ServerSocket, Journal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let behaviour = Arc::new(behaviour);
    serve_tcp(move |tcp, journal| {
        let behaviour = behaviour.clone();
        async move {
            match tokio_tungstenite::accept_async(tcp).await {
                Ok(ws) => behaviour(ws, journal).await,
                Err(error) => journal.record(format!("handshake-failed {error}")),
            }
        }
    })
    .await
}

/// Reads until the connection ends, journaling each close frame's code.
pub async fn journal_close_codes<S>(mut ws: WebSocketStream<S>, journal: Journal)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Close(Some(frame)) = message {
            journal.record(format!("close {}", u16::from(frame.code)));
        }
    }
}

/// Echoes messages, journaling each one and the close frame it receives.
pub async fn echo_journaling<S>(mut ws: WebSocketStream<S>, journal: Journal)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(frame) = ws.next().await {
        match frame {
            Ok(Message::Text(text)) => {
                journal.record(format!("text {text}"));
                if futures_util::SinkExt::send(&mut ws, Message::Text(text))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Ok(Message::Binary(bytes)) => {
                journal.record(format!("binary {:?}", bytes.as_ref()));
                if futures_util::SinkExt::send(&mut ws, Message::Binary(bytes))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Ok(Message::Close(frame)) => match frame {
                Some(frame) => {
                    journal.record(format!("close {} {}", u16::from(frame.code), frame.reason))
                }
                None => journal.record("close none"),
            },
            Ok(_) => {}
            Err(error) => {
                journal.record(format!("error {error}"));
                break;
            }
        }
    }
    journal.record("ended");
}

/// Starts a plain TCP server on 127.0.0.1 whose connections run `behaviour`.
pub async fn serve_tcp<F, Fut>(behaviour: F) -> TestServer
where
    F: Fn(TcpStream, Journal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind on loopback");
    let address = listener.local_addr().unwrap();
    let journal = Journal::default();
    let recorder = journal.clone();
    let accept_loop = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(behaviour(tcp, recorder.clone()));
        }
    });
    TestServer {
        address,
        journal,
        accept_loop,
    }
}

pub use wit_websocket_cli::echo_server::TestPki;

pub type TlsServerSocket = WebSocketStream<tokio_rustls::server::TlsStream<TcpStream>>;

/// A `wss://` server on 127.0.0.1 presenting `pki`'s server certificate,
/// whose connections run `behaviour` after the TLS and WebSocket handshakes.
pub async fn serve_tls<F, Fut>(pki: &TestPki, behaviour: F) -> TestServer
where
    F: Fn(TlsServerSocket, Journal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    serve_tls_with(pki.acceptor().unwrap(), behaviour).await
}

/// As [`serve_tls`], with a TLS configuration of the test's (e.g. one that
/// requires client certificates).
pub async fn serve_tls_with<F, Fut>(acceptor: tokio_rustls::TlsAcceptor, behaviour: F) -> TestServer
where
    F: Fn(TlsServerSocket, Journal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let behaviour = Arc::new(behaviour);
    serve_tcp(move |tcp, journal| {
        let acceptor = acceptor.clone();
        let behaviour = behaviour.clone();
        async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(error) => return journal.record(format!("tls-failed {error}")),
            };
            match tokio_tungstenite::accept_async(tls).await {
                Ok(ws) => behaviour(ws, journal).await,
                Err(error) => journal.record(format!("handshake-failed {error}")),
            }
        }
    })
    .await
}

/// The kernel's largest TCP buffer of this kind (`tcp_rmem`, `tcp_wmem`), in
/// bytes: what a flood can leave in flight beside the host's own queues.
pub fn max_tcp_buffer(name: &str) -> usize {
    let values = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap();
    values.split_whitespace().last().unwrap().parse().unwrap()
}

/// A program from `tests/requirements.txt`, installed on first use into a
/// virtualenv in `target/test-tools`.
pub fn test_tool(name: &str) -> std::path::PathBuf {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/test-tools");
    let requirements = root.join("tests/requirements.txt");
    INSTALLED.get_or_init(|| {
        let stamp = venv.join("installed");
        let fresh = |path: &Path| path.metadata().and_then(|m| m.modified()).ok();
        if fresh(&stamp).is_some() && fresh(&stamp) >= fresh(&requirements) {
            return;
        }
        if !venv.join("bin/pip").exists() {
            let made = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 runs");
            assert!(made.success(), "python3 -m venv {}", venv.display());
        }
        let installed = std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "-r"])
            .arg(&requirements)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install -r tests/requirements.txt");
        std::fs::write(&stamp, "").unwrap();
    });
    venv.join("bin").join(name)
}

/// A free port on 127.0.0.1 for a server run as a program of its own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
