//! `wit-websocket`: runs WebSocket guest apps in the wit-websocket host.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wasmtime::component::Component;
use wasmtime::error::Context as _;
use wasmtime_wasi::WasiCtx;
use wit_websocket_cli::echo_server::{EchoServer, TestPki};
use wit_websocket_cli::{BUILT_GUESTS_DIR, bench};
use wit_websocket_host::policy::AllowList;
use wit_websocket_host::proxy::{Proxy, ProxyConfig};
use wit_websocket_host::runner::{GuestRunner, GuestState};
use wit_websocket_host::tls::{ClientCertificate, load_ca_file};
use wit_websocket_host::{WebSocketConfig, WebSocketCtx};

/// The echo example, compiled by the build script, for `demo`.
const ECHO_GUEST: &[u8] = include_bytes!(concat!(env!("WIT_WEBSOCKET_GUESTS_DIR"), "/echo.wasm"));

#[derive(Parser)]
#[command(
    name = "wit-websocket",
    version,
    about = "Run WebAssembly components that use WebSockets (wit-websocket:client)"
)]
struct Cli {
    /// How to print the host's logs (which `RUST_LOG` selects, e.g.
    /// `RUST_LOG=wit_websocket=debug`): `text` or `json`, on stderr.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

/// Prints the library's tracing events on stderr, as `RUST_LOG` selects
/// (tracing-subscriber's env filter); errors only without it.
fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        "json" => builder.json().try_init(),
        _ => builder.try_init(),
    };
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: its size does not matter
enum Command {
    /// Run a guest app: call its `wasi:cli/run`, then deliver socket events to
    /// its callbacks until no socket is live. Exits with the guest's status.
    Run {
        /// The component (built for the wit-websocket:client/app world).
        app: PathBuf,
        #[command(flatten)]
        tls: TlsFlags,
        /// Compile the component afresh instead of using (and filling)
        /// wasmtime's on-disk compilation cache.
        #[arg(long)]
        no_cache: bool,
        #[command(flatten)]
        net: NetFlags,
        #[command(flatten)]
        limits: LimitFlags,
        #[command(flatten)]
        wasi: WasiFlags,
        /// Arguments for the guest (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Measure the host against a native client: round trips and pipelined
    /// echo over ws, wss and permessage-deflate from native tokio-tungstenite,
    /// from a guest (push and pull mode) and from tungstenite inside a guest,
    /// against echo servers on 127.0.0.1, ending with ratio lines.
    Bench {
        /// Alternating repetitions of each measurement (the median is shown).
        #[arg(long, default_value_t = 3)]
        repetitions: usize,
        /// A smoke run: a twentieth of the messages (figures are rough).
        #[arg(long)]
        quick: bool,
        /// Only the echo workloads whose name starts with one of these
        /// (comma-separated, e.g. `pipe 1MiB` or `wss,deflate`); the
        /// many-sockets part is skipped.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Only these clients (native, push, pull, in-guest, js, python;
        /// comma-separated), e.g. to profile one path; the many-sockets
        /// part is skipped.
        #[arg(long, value_delimiter = ',')]
        clients: Vec<String>,
        /// Write `/tmp/perf-PID.map` for the guests' compiled code (as
        /// `wasmtime --profile=perfmap`), so `perf record` names guest
        /// functions.
        #[arg(long)]
        perfmap: bool,
    },
    /// One measurement of `bench`'s many-sockets and many-instances part, in a
    /// process of its own (run by `bench`).
    #[command(hide = true)]
    BenchChild {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Serve the demo's echo server (echoes every message, accepts
    /// permessage-deflate) until interrupted, for guests run with `run`.
    EchoServer {
        /// Where to listen; port 0 picks a free one.
        #[arg(default_value = "127.0.0.1:9001")]
        address: std::net::SocketAddr,
        /// Serve wss:// with a certificate for the address from a CA made for
        /// this run, and write the CA's certificate (PEM) to this file, for
        /// `run --ca-file`.
        #[arg(long, value_name = "FILE")]
        tls_ca_out: Option<PathBuf>,
    },
    /// Run the bundled echo example against an echo server the CLI starts on
    /// 127.0.0.1 (no network or set-up needed) and print the conversation.
    Demo {
        /// How many messages the echo guest sends.
        #[arg(long, default_value_t = 3)]
        count: u32,
    },
}

/// The limit and protocol flags; each default is the library's (see
/// `WebSocketConfig`).
#[derive(clap::Args)]
struct LimitFlags {
    /// Sockets the guest may have live at once [default: 256].
    #[arg(long, value_name = "N")]
    max_sockets: Option<usize>,
    /// Largest message in either direction, in bytes [default: 64 MiB].
    #[arg(long, value_name = "BYTES")]
    max_message_size: Option<usize>,
    /// Received bytes held per socket before the host stops reading it [default: 8 MiB].
    #[arg(long, value_name = "BYTES")]
    max_queued_bytes: Option<u64>,
    /// The most buffered-amount may reach; larger sends are refused [default: 64 MiB].
    #[arg(long, value_name = "BYTES")]
    max_buffered: Option<u64>,
    /// How long one callback may run before the guest is stopped, in ms [default: 10000].
    #[arg(long, value_name = "MS")]
    callback_time_limit: Option<u64>,
    /// The guest's memory cap, in MiB [default: 256].
    #[arg(long, value_name = "MIB")]
    max_memory: Option<usize>,
    /// Do not offer permessage-deflate unless the guest asks for it in its
    /// connect options [default: offered, as browsers do].
    #[arg(long)]
    no_compression: bool,
}

impl LimitFlags {
    fn apply(&self, config: &mut WebSocketConfig) {
        if let Some(n) = self.max_sockets {
            config.max_sockets = n;
            config.max_sockets_per_device = n;
        }
        if let Some(bytes) = self.max_message_size {
            config.max_message_size = bytes;
            config.max_frame_size = config.max_frame_size.min(bytes);
        }
        if let Some(bytes) = self.max_queued_bytes {
            config.max_queued_bytes = bytes;
        }
        if let Some(bytes) = self.max_buffered {
            config.max_buffered_amount = bytes;
        }
        if let Some(ms) = self.callback_time_limit {
            config.callback_time_limit = std::time::Duration::from_millis(ms);
        }
        if self.no_compression {
            config.offer_compression = false;
        }
    }

    fn memory_limit(&self) -> usize {
        self.max_memory
            .map_or(wit_websocket_host::runner::DEFAULT_MEMORY_LIMIT, |mib| {
                mib << 20
            })
    }
}

/// What the guest sees of the host besides the network, as `wasmtime run`
/// gives it (stdin, stdout and stderr are the CLI's own).
#[derive(clap::Args)]
struct WasiFlags {
    /// Pass an environment variable to the guest: `NAME=VALUE`, or `NAME`
    /// for this process's value (skipped when unset). Repeatable.
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Give the guest a host directory, read and write, at the same path or
    /// at `GUEST` (`--dir ./config::/config`). Repeatable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
}

impl WasiFlags {
    /// The guest's WASI context: `argv`, the CLI's stdio, and these.
    fn build(&self, argv: &[String]) -> wasmtime::Result<WasiCtx> {
        let mut builder = WasiCtx::builder();
        builder.inherit_stdio().args(argv);
        for entry in &self.env {
            match entry.split_once('=') {
                Some((name, value)) => {
                    builder.env(name, value);
                }
                None => {
                    if let Ok(value) = std::env::var(entry) {
                        builder.env(entry, value);
                    }
                }
            }
        }
        for dir in &self.dirs {
            let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
            builder
                .preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadWrite)
                .with_context(|| format!("--dir {dir}: cannot open {host}"))?;
        }
        Ok(builder.build())
    }
}

#[derive(clap::Args)]
struct TlsFlags {
    /// Also trust the CA certificates in this PEM file for wss://
    /// (besides the webpki roots). Repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<PathBuf>,
    /// Present this client certificate (mutual TLS) to HOST (a name,
    /// `*.example.com` or an address): `HOST=CERT.pem,KEY.pem`. The guest
    /// never sees the key. Repeatable; the first that matches is used.
    #[arg(long = "client-cert", value_name = "HOST=CERT,KEY")]
    client_certs: Vec<String>,
}

impl TlsFlags {
    fn apply(&self, config: &mut WebSocketConfig) -> wasmtime::Result<()> {
        for file in &self.ca_files {
            config.extra_root_certificates.extend(load_ca_file(file)?);
        }
        for entry in &self.client_certs {
            let parsed = entry
                .split_once('=')
                .and_then(|(host, files)| Some((host, files.split_once(',')?)));
            let Some((host, (certificate, key))) = parsed else {
                wasmtime::bail!("--client-cert {entry:?}: expected HOST=CERT.pem,KEY.pem");
            };
            config
                .client_certificates
                .push(ClientCertificate::from_pem_files(
                    host,
                    certificate.as_ref(),
                    key.as_ref(),
                )?);
        }
        Ok(())
    }
}

#[derive(clap::Args)]
struct NetFlags {
    /// Allow the guest to connect: to every host with `--allow-net`, or to
    /// the listed ones with `--allow-net=HOST[:PORT],...` (`*.example.com`
    /// matches subdomains; `[::1]:9001` for IPv6). Without it, nothing.
    #[arg(long = "allow-net", value_name = "HOSTS", num_args = 0..=1, require_equals = true, default_missing_value = "*")]
    allow_net: Vec<String>,
    /// Refuse loopback, private and link-local addresses even for allowed
    /// names (checked on the resolved addresses).
    #[arg(long)]
    deny_private: bool,
    /// Connect through this proxy: `http://[USER:PASSWORD@]HOST:PORT` (HTTP
    /// CONNECT), `socks5://…` (the host resolves names) or `socks5h://…`
    /// (the proxy does). The policy still judges each destination.
    #[arg(long, value_name = "URL", conflicts_with = "proxy_from_env")]
    proxy: Option<String>,
    /// Take the proxies from the environment, as curl does: HTTPS_PROXY for
    /// wss://, http_proxy for ws://, ALL_PROXY otherwise, NO_PROXY.
    #[arg(long)]
    proxy_from_env: bool,
}

impl NetFlags {
    fn proxies(&self) -> Result<ProxyConfig, String> {
        match (&self.proxy, self.proxy_from_env) {
            (Some(url), _) => Ok(ProxyConfig::all(Proxy::parse(url)?)),
            (None, true) => ProxyConfig::from_env(),
            (None, false) => Ok(ProxyConfig::default()),
        }
    }

    fn policy(&self) -> Result<AllowList, String> {
        let mut policy = AllowList::deny_all();
        for entries in &self.allow_net {
            policy = match entries.as_str() {
                "*" => AllowList::allow_all(),
                entries => policy.allow(entries)?,
            };
        }
        Ok(policy.deny_private(self.deny_private))
    }
}

/// The exit status of a run whose guest trapped: `wasmtime run`'s on Unix.
const TRAP_EXIT_STATUS: u8 = 134;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    // On a worker thread, not in `block_on` on the main thread: there, each
    // event a socket task queues for the guest (and each send the guest
    // hands a socket task) would cross threads through a futex, while on a
    // worker, a task woken by another mostly runs next on the same thread.
    let outcome = match tokio::spawn(command(cli.command)).await {
        Ok(outcome) => outcome,
        Err(error) => Err(wasmtime::Error::msg(format!("wit-websocket: {error}"))),
    };
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(u8::try_from(status).unwrap_or(1).max(1)),
        // As `wasmtime run`: a trap exits as an abort would (128 + SIGABRT),
        // so a supervisor tells a crashed guest from one that reported failure.
        Err(error) if error.is::<wasmtime::Trap>() => {
            eprintln!("wit-websocket: {error:?}");
            ExitCode::from(TRAP_EXIT_STATUS)
        }
        Err(error) => {
            eprintln!("wit-websocket: {error:?}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one subcommand; its exit status, or what went wrong.
async fn command(command: Command) -> wasmtime::Result<i32> {
    match command {
        Command::Run {
            app,
            tls,
            no_cache,
            net,
            limits,
            wasi,
            args,
        } => run(app, tls, !no_cache, net, limits, wasi, args).await,
        Command::BenchChild { args } => bench::child(&args).await,
        Command::EchoServer {
            address,
            tls_ca_out,
        } => echo_server(address, tls_ca_out).await,
        Command::Demo { count } => demo(count).await,
        Command::Bench {
            repetitions,
            quick,
            only,
            clients,
            perfmap,
        } => bench::run(repetitions.max(1), quick, &only, &clients, perfmap)
            .await
            .map(|()| 0),
    }
}

/// Runs `component` with `argv`, then dispatches until idle. Returns the
/// guest's exit status and its final state.
async fn run_guest(
    runner: &GuestRunner,
    component: &Component,
    wasi: WasiCtx,
    config: WebSocketConfig,
    memory_limit: usize,
) -> wasmtime::Result<(i32, wit_websocket_host::Stats)> {
    let state = GuestState::new(wasi, WebSocketCtx::new(config)).with_memory_limit(memory_limit);
    let mut guest = runner.instantiate(component, state).await?;
    let outcome = guest.run_to_completion().await;
    let stats = guest.state().websockets().stats().clone();
    let panics = guest.state().websockets().socket_task_panics();
    match outcome {
        // A host bug must not pass for a guest's success.
        Ok(_) if panics > 0 => {
            guest.shutdown().await;
            wasmtime::bail!("{panics} socket task(s) panicked: a bug in wit-websocket")
        }
        Ok(status) => {
            guest.shutdown().await;
            Ok((status, stats))
        }
        Err(trap) => {
            guest.abort().await;
            Err(trap.context("the guest trapped; its sockets were closed with 1011"))
        }
    }
}

async fn run(
    app: PathBuf,
    tls: TlsFlags,
    cache: bool,
    net: NetFlags,
    limits: LimitFlags,
    wasi: WasiFlags,
    args: Vec<String>,
) -> wasmtime::Result<i32> {
    let policy = net.policy().map_err(wasmtime::Error::msg)?;
    let proxy = net.proxies().map_err(wasmtime::Error::msg)?;
    let mut config = WebSocketConfig {
        proxy,
        ..WebSocketConfig::with_policy(policy)
    };
    limits.apply(&mut config);
    tls.apply(&mut config)?;
    let runner = match cache.then(GuestRunner::with_compilation_cache) {
        Some(Ok(runner)) => runner,
        // A cache that cannot be set up (e.g. no writable home) only costs time.
        Some(Err(error)) => {
            eprintln!("wit-websocket: compiling without a cache: {error:#}");
            GuestRunner::new()?
        }
        None => GuestRunner::new()?,
    };
    let component = runner.load_file(&app)?;
    let mut argv = vec![app.display().to_string()];
    argv.extend(args);
    Ok(run_guest(
        &runner,
        &component,
        wasi.build(&argv)?,
        config,
        limits.memory_limit(),
    )
    .await?
    .0)
}

async fn echo_server(
    address: std::net::SocketAddr,
    tls_ca_out: Option<PathBuf>,
) -> wasmtime::Result<i32> {
    let server = match tls_ca_out {
        None => EchoServer::start_on(address).await?,
        Some(ca_out) => {
            let pki = TestPki::new(&[&address.ip().to_string(), "localhost"])?;
            std::fs::write(&ca_out, &pki.ca_pem)
                .with_context(|| format!("writing the CA certificate to {}", ca_out.display()))?;
            EchoServer::start_tls(address, &pki).await?
        }
    };
    // One line, flushed before waiting: scripts and tests read the URL from it.
    println!("echo server: {}", server.url());
    std::future::pending::<()>().await;
    Ok(0)
}

async fn demo(count: u32) -> wasmtime::Result<i32> {
    let server = EchoServer::start().await?;
    println!("demo: echo server listening on {}", server.url());
    let runner = GuestRunner::new()?;
    let component = Component::new(runner.engine(), ECHO_GUEST)?;
    let argv = [
        format!("{BUILT_GUESTS_DIR}/echo.wasm"),
        server.url(),
        count.to_string(),
    ];
    // The demo may reach its own server and nothing else.
    let policy = AllowList::deny_all()
        .allow(&server.address().to_string())
        .map_err(wasmtime::Error::msg)?;
    let config = WebSocketConfig::with_policy(policy);
    let memory_limit = wit_websocket_host::runner::DEFAULT_MEMORY_LIMIT;
    let wasi = WasiCtx::builder().inherit_stdio().args(&argv).build();
    let (status, stats) = run_guest(&runner, &component, wasi, config, memory_limit).await?;
    let closed = stats
        .last_close
        .map_or_else(|| "never".to_string(), |info| info.code.to_string());
    println!(
        "demo: {} sent, {} echoed, closed {closed}",
        stats.messages_sent, stats.messages_received
    );
    Ok(status)
}
