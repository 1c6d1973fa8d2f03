//! `wit-websocket bench`: one native echo server on 127.0.0.1 and a `wss://`
//! one with a test CA, each in a process of its own (and, for the round trips,
//! two more in this process); against them, in the same run, the same
//! workloads from a native tokio-tungstenite client (the baseline),
//! from the `bench` guest through this host, pushed and pulled, from
//! tungstenite compiled into a guest, and from JavaScript and Python guests.
//! Each figure is the median of alternating repetitions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::echo_server::{EchoServer, TestPki};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::CertificateDer;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wasmtime::component::Component;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wit_websocket_host::WebSocketConfig;
use wit_websocket_host::deflate::{self, DeflateStream, MessageDeflater};
use wit_websocket_host::policy::AllowList;
use wit_websocket_host::runner::{GuestRunner, GuestState};

/// The bench guest, compiled by the build script.
const BENCH_GUEST: &[u8] = include_bytes!(concat!(env!("WIT_WEBSOCKET_GUESTS_DIR"), "/bench.wasm"));

/// The in-guest baseline: tungstenite compiled into a guest, over wasi:sockets.
const IN_GUEST_TUNGSTENITE: &[u8] = include_bytes!(concat!(
    env!("WIT_WEBSOCKET_GUESTS_DIR"),
    "/bench-tungstenite.wasm"
));

/// The same with permessage-deflate: the host's deflate layer compiled into
/// the guest beneath tokio-tungstenite (tungstenite has none of its own).
const IN_GUEST_DEFLATE: &[u8] = include_bytes!(concat!(
    env!("WIT_WEBSOCKET_GUESTS_DIR"),
    "/bench-tungstenite-deflate.wasm"
));

/// The same with rustls (and ring) in the guest for `wss://`. Building it
/// needs clang for ring's C code, so the build script makes it only where
/// clang is found; without it, the wss rows have no in-guest figure.
const IN_GUEST_TLS_FILE: &str = concat!(
    env!("WIT_WEBSOCKET_GUESTS_DIR"),
    "/bench-tungstenite-tls.wasm"
);

/// How the messages travel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Plain `ws://`, binary messages, no compression.
    Ws,
    /// `wss://` (TLS 1.3), binary messages, no compression.
    Wss,
    /// `ws://` with permessage-deflate, compressible text messages.
    Deflate,
}

/// The text the deflate workloads repeat: game-state-like JSON, as a chat
/// or multiplayer app would send (compresses about 20:1).
const COMPRESSIBLE_UNIT: &str =
    r#"{"type":"state","player":"ann","x":12.5,"y":-3.25,"hp":97,"items":["sword","shield"]},"#;

/// One workload: `rtt` (one message in flight) or `pipe` (a window of them).
#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    kind: &'static str,
    transport: Transport,
    count: usize,
    size: usize,
    window: usize,
}

const fn workload(
    name: &'static str,
    transport: Transport,
    count: usize,
    size: usize,
    window: usize,
) -> Workload {
    let kind = if window == 1 { "rtt" } else { "pipe" };
    Workload {
        name,
        kind,
        transport,
        count,
        size,
        window,
    }
}

const WORKLOADS: &[Workload] = &[
    workload("rtt 64B", Transport::Ws, 2_000, 64, 1),
    workload("pipe 64B", Transport::Ws, 20_000, 64, 64),
    workload("pipe 4KiB", Transport::Ws, 10_000, 4 << 10, 64),
    workload("pipe 64KiB", Transport::Ws, 2_000, 64 << 10, 16),
    workload("pipe 1MiB", Transport::Ws, 200, 1 << 20, 4),
    workload("wss rtt 64B", Transport::Wss, 2_000, 64, 1),
    workload("wss pipe 64B", Transport::Wss, 20_000, 64, 64),
    workload("wss pipe 4KiB", Transport::Wss, 10_000, 4 << 10, 64),
    workload("wss pipe 64KiB", Transport::Wss, 2_000, 64 << 10, 16),
    workload("wss pipe 1MiB", Transport::Wss, 200, 1 << 20, 4),
    workload("deflate pipe 64B", Transport::Deflate, 20_000, 64, 64),
    workload("deflate pipe 4KiB", Transport::Deflate, 10_000, 4 << 10, 64),
    workload(
        "deflate pipe 64KiB",
        Transport::Deflate,
        2_000,
        64 << 10,
        16,
    ),
    workload("deflate pipe 1MiB", Transport::Deflate, 200, 1 << 20, 4),
];

/// What one run of a workload measured.
#[derive(Clone, Copy)]
enum Measure {
    /// Round trip p50 and p99.
    RoundTrip(Duration, Duration),
    /// Time for all messages of a pipelined run, and the CPU time (user and
    /// system) the bench process used for it: the client's, since the echo
    /// servers of these workloads run in processes of their own.
    Elapsed(Duration, Duration),
    /// How late a 10 ms interval timer ran while the guest echoed, p50 and p99.
    Lateness(Duration, Duration),
}

/// The clients of the echo workloads: the native baseline, the bench guest
/// through the host (push, pull, and async: the SDK's Stream/Sink socket),
/// tungstenite inside a guest, and the JavaScript and Python bench guests
/// through the host (`js-aot`: the JavaScript one compiled ahead of time with
/// weval, where `guest/componentize --install weval` has built it).
const CLIENTS: [&str; 10] = [
    "native",
    "push",
    "pull",
    "in-guest",
    "async",
    "js",
    "js-aot",
    "python",
    "js-async",
    "python-async",
];

/// The JavaScript and Python bench guests, built by `guest/componentize`.
const LANGUAGE_GUESTS: [(&str, &str); 2] = [
    ("js", "tests/guests/bench-js/bench.js"),
    ("python", "tests/guests/bench-py/bench.py"),
];

/// The servers and components every echo workload uses.
struct Setup {
    runner: GuestRunner,
    /// The echo servers of the pipelined workloads (`wit-websocket
    /// echo-server`), in processes of their own: in this process they would
    /// share the clients' tokio workers, and where the scheduler put a client
    /// and the server (one worker or two) moved the figures by half between
    /// runs.
    ws: ChildProcess,
    wss: ChildProcess,
    /// The echo servers of the round trips, in this process: against another
    /// process a round trip mostly measures how long this VM takes to wake a
    /// sleeping thread (20-70 µs, differently for each client).
    rtt_ws: EchoServer,
    rtt_wss: EchoServer,
    /// The wss servers' CAs, for the guests (PEM for the in-guest library).
    cas: Vec<CertificateDer<'static>>,
    ca_pem: String,
    /// The CA as rustls client configuration, for the native client.
    client_tls: Arc<rustls::ClientConfig>,
    guest: Component,
    in_guest: Component,
    in_guest_deflate: Component,
    in_guest_tls: Option<Component>,
    /// The JavaScript and Python guests, where their toolchains could build them.
    js: Option<Component>,
    python: Option<Component>,
    /// The JavaScript guest compiled ahead of time, where weval is installed.
    js_aot: Option<Component>,
}

impl Setup {
    /// Builds what `runs(client)` says will run: the JavaScript and Python
    /// guests take seconds to build and load.
    async fn new(runs: impl Fn(&str) -> bool, perfmap: bool) -> wasmtime::Result<Self> {
        let ws = ChildProcess::start(&["echo-server", "127.0.0.1:0"], "echo server: ").await?;
        let ca_file =
            std::env::temp_dir().join(format!("wit-websocket-bench-{}.pem", std::process::id()));
        let ca_out = ca_file.display().to_string();
        let wss = ChildProcess::start(
            &["echo-server", "127.0.0.1:0", "--tls-ca-out", &ca_out],
            "echo server: ",
        )
        .await?;
        let rtt_pki = TestPki::new(&["127.0.0.1"])?;
        let loopback = "127.0.0.1:0".parse().expect("a valid socket address");
        let rtt_ws = EchoServer::start_on(loopback).await?;
        let rtt_wss = EchoServer::start_tls(loopback, &rtt_pki).await?;
        let ca_pem = std::fs::read_to_string(&ca_file)? + &rtt_pki.ca_pem;
        let mut cas = wit_websocket_host::tls::load_ca_file(&ca_file)?;
        let _ = std::fs::remove_file(&ca_file);
        cas.push(rtt_pki.ca.clone());
        let mut roots = rustls::RootCertStore::empty();
        for ca in &cas {
            roots.add(ca.clone())?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Cached: the 14-19 MB JavaScript and Python components compile once.
        let runner = if perfmap {
            let mut config = wasmtime::Config::new();
            config.cache(Some(wasmtime::Cache::from_file(None)?));
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
            GuestRunner::with_config(config)?
        } else {
            GuestRunner::with_compilation_cache()?
        };
        let in_guest_tls = match std::fs::read(IN_GUEST_TLS_FILE) {
            Ok(bytes) => Some(Component::new(runner.engine(), bytes)?),
            Err(_) => None,
        };
        let [js, python] = LANGUAGE_GUESTS.map(|(name, entry)| {
            (runs(name) || runs(&format!("{name}-async")))
                .then(|| language_guest(&runner, name, entry, &[]))
                .flatten()
        });
        let (_, js_entry) = LANGUAGE_GUESTS[0];
        let js_aot = runs("js-aot")
            .then(|| language_guest(&runner, "js-aot", js_entry, &["--aot"]))
            .flatten();
        Ok(Self {
            js,
            python,
            js_aot,
            ws,
            wss,
            rtt_ws,
            rtt_wss,
            cas,
            ca_pem,
            client_tls: Arc::new(client_tls),
            guest: Component::new(runner.engine(), BENCH_GUEST)?,
            in_guest: Component::new(runner.engine(), IN_GUEST_TUNGSTENITE)?,
            in_guest_deflate: Component::new(runner.engine(), IN_GUEST_DEFLATE)?,
            in_guest_tls,
            runner,
        })
    }

    /// The URL of the echo server for `workload`.
    fn url(&self, workload: &Workload) -> String {
        match (workload.kind, workload.transport) {
            ("rtt", Transport::Wss) => self.rtt_wss.url(),
            ("rtt", _) => self.rtt_ws.url(),
            (_, Transport::Wss) => self.wss.first_line.clone(),
            (_, Transport::Ws | Transport::Deflate) => self.ws.first_line.clone(),
        }
    }

    /// The host's configuration for a guest talking to `url`: that server
    /// only, the test CAs.
    fn config(&self, url: &str, transport: Transport) -> WebSocketConfig {
        // `ws://127.0.0.1:PORT/` → `127.0.0.1:PORT`
        let address = url.split('/').nth(2).expect("an echo server URL");
        let mut config = WebSocketConfig::with_policy(
            AllowList::deny_all()
                .allow(address)
                .expect("an address is a valid entry"),
        );
        config.extra_root_certificates = self.cas.clone();
        // As the native baseline: deflate only where the workload asks for it.
        config.offer_compression = transport == Transport::Deflate;
        config
    }

    /// One run of `workload` by `client`; `None` where that client cannot
    /// run it (the in-guest TLS component or a language guest was not built).
    async fn measure(
        &self,
        client: &str,
        workload: &Workload,
    ) -> wasmtime::Result<Option<Measure>> {
        let url = self.url(workload);
        // What the guests are told: the workload, and the text to repeat
        // for the deflate workloads.
        let mut shape = vec![
            workload.kind.to_string(),
            url.clone(),
            workload.count.to_string(),
            workload.size.to_string(),
            workload.window.to_string(),
        ];
        if workload.transport == Transport::Deflate {
            shape.push(COMPRESSIBLE_UNIT.to_string());
        }
        // The JavaScript and Python async clients: the ws workloads only.
        if client.ends_with("-async") && workload.transport != Transport::Ws {
            return Ok(None);
        }
        let config = self.config(&url, workload.transport);
        let cpu_before = process_cpu();
        let measure = match client {
            "native" => native(&url, workload, &self.client_tls).await?,
            "in-guest" => {
                let component = match workload.transport {
                    Transport::Ws => &self.in_guest,
                    Transport::Wss => match &self.in_guest_tls {
                        Some(component) => component,
                        None => return Ok(None),
                    },
                    Transport::Deflate => &self.in_guest_deflate,
                };
                let args = [&["bench-tungstenite".to_string()][..], &shape].concat();
                let env = [("BENCH_CA_PEM", self.ca_pem.as_str())];
                in_guest(&self.runner, component, config, &args, &env, workload).await?
            }
            client => {
                let (component, mode) = match client {
                    "js" => (self.js.as_ref(), "push"),
                    "js-aot" => (self.js_aot.as_ref(), "push"),
                    "python" => (self.python.as_ref(), "push"),
                    "js-async" => (self.js.as_ref(), "async"),
                    "python-async" => (self.python.as_ref(), "async"),
                    mode => (Some(&self.guest), mode),
                };
                let Some(component) = component else {
                    return Ok(None);
                };
                let args = [&["bench".to_string(), mode.to_string()][..], &shape].concat();
                in_guest(&self.runner, component, config, &args, &[], workload).await?
            }
        };
        Ok(Some(match measure {
            Measure::Elapsed(elapsed, _) => Measure::Elapsed(elapsed, process_cpu() - cpu_before),
            other => other,
        }))
    }
}

impl Setup {
    /// How late a 10 ms interval timer runs in `client`'s guest (push mode)
    /// while it echoes 64 B messages at full speed, 64 in flight: the ratio
    /// line, or `None` when that guest was not built.
    async fn timer_lateness(
        &self,
        client: &str,
        repetitions: usize,
        quick: bool,
    ) -> wasmtime::Result<Option<String>> {
        let count = if quick { 20_000 } else { 200_000 };
        let workload = workload("timer 10ms", Transport::Ws, count, 64, 64);
        let component = match client {
            "js" => self.js.as_ref(),
            _ => Some(&self.guest),
        };
        let Some(component) = component else {
            return Ok(None);
        };
        let url = self.url(&workload);
        let args = [
            "bench",
            "push",
            "timer",
            &url,
            &count.to_string(),
            "64",
            "64",
        ]
        .map(String::from);
        let mut measures = Vec::new();
        for _ in 0..repetitions {
            let config = self.config(&url, workload.transport);
            measures.push(in_guest(&self.runner, component, config, &args, &[], &workload).await?);
        }
        let Measure::Lateness(p50, p99) = median(&measures) else {
            wasmtime::bail!("the {client} guest reported no timer lateness");
        };
        Ok(Some(format!(
            "bench: {client} timer lateness 10 ms while echoing 64B = p50 {:.1} µs, p99 {:.1} µs",
            micros(p50),
            micros(p99)
        )))
    }
}

/// Runs every workload `repetitions` times for each client, alternating, and
/// prints the table and the ratio lines. `only` (if not empty) keeps the
/// echo workloads whose name starts with one of its entries, and `clients`
/// (if not empty) those clients, for a profile of one path; either skips the
/// many-sockets part. `perfmap` has wasmtime write a perf map of the guests'
/// compiled code.
pub async fn run(
    repetitions: usize,
    quick: bool,
    only: &[String],
    clients: &[String],
    perfmap: bool,
) -> wasmtime::Result<()> {
    if let Some(unknown) = clients.iter().find(|c| !CLIENTS.contains(&c.as_str())) {
        wasmtime::bail!("bench: no client {unknown:?}; the clients are {CLIENTS:?}");
    }
    let runs = |client: &str| clients.is_empty() || clients.iter().any(|c| c == client);
    let setup = Setup::new(runs, perfmap).await?;
    println!(
        "bench: echo servers {} and {}; {repetitions} alternating repetitions, medians",
        setup.ws.first_line, setup.wss.first_line
    );
    if setup.in_guest_tls.is_none() {
        println!("bench: {IN_GUEST_TLS_FILE} was not built (no clang): no in-guest wss figures");
    }
    let mut guests = vec![("rust", Some(&setup.guest))];
    for (name, component) in [
        ("js", &setup.js),
        ("js-aot", &setup.js_aot),
        ("python", &setup.python),
    ] {
        if runs(name) && component.is_none() {
            println!("bench: the {name} guest could not be built: no {name} figures");
        }
        guests.push((name, component.as_ref()));
    }
    for (name, component) in guests {
        if let Some(component) = component {
            let instantiate = instantiate_time(&setup.runner, component).await?;
            println!(
                "bench: instantiate the {name} bench guest = {:.2} ms (median of 5)",
                micros(instantiate) / 1e3
            );
        }
    }
    println!(
        "{:<20} {:<8} {:>14} {:>14} {:>14}",
        "workload", "client", "p50 / msgs/s", "p99 / MB/s", "CPU ms/MiB"
    );
    let mut ratios = Vec::new();
    let selected = WORKLOADS
        .iter()
        .filter(|w| only.is_empty() || only.iter().any(|o| w.name.starts_with(o.as_str())));
    for workload in selected {
        let scaled;
        let workload = match quick {
            // A smoke run: a twentieth of the messages.
            true => {
                scaled = Workload {
                    count: (workload.count / 20).max(1),
                    ..*workload
                };
                &scaled
            }
            false => workload,
        };
        let mut results: [Vec<Measure>; CLIENTS.len()] = Default::default();
        for _ in 0..repetitions {
            for (i, client) in CLIENTS.iter().enumerate() {
                if !runs(client) {
                    continue;
                }
                if let Some(measure) = setup.measure(client, workload).await? {
                    results[i].push(measure);
                }
            }
        }
        let medians: Vec<Option<Measure>> = results
            .iter()
            .map(|r| (!r.is_empty()).then(|| median(r)))
            .collect();
        for (client, measure) in CLIENTS.iter().zip(&medians) {
            let name = workload.name;
            match measure {
                Some(Measure::RoundTrip(p50, p99)) => println!(
                    "{name:<20} {client:<8} {:>11.1} µs {:>11.1} µs",
                    micros(*p50),
                    micros(*p99)
                ),
                Some(Measure::Elapsed(elapsed, cpu)) => {
                    let (msgs, mbps) = throughput(workload, *elapsed);
                    let cpu = cpu_per_mib(workload, *cpu);
                    println!("{name:<20} {client:<8} {msgs:>14.0} {mbps:>14.1} {cpu:>14.2}");
                }
                // Only the timer workload reports lateness, outside this table.
                Some(Measure::Lateness(..)) | None => {
                    println!("{name:<20} {client:<8} {:>14} {:>14}", "—", "—")
                }
            }
        }
        let native = medians[0];
        for (i, client) in CLIENTS.iter().enumerate().skip(1) {
            ratios.extend(ratio(client, "native", workload, medians[i], native));
        }
        // The host against a WebSocket library compiled into the guest.
        ratios.extend(ratio("push", "in-guest", workload, medians[1], medians[3]));
    }
    // The timer workload is its own: `--only timer` runs it alone.
    if only.is_empty() || only.iter().any(|o| "timer".starts_with(o.as_str())) {
        for client in ["push", "js"].into_iter().filter(|c| runs(c)) {
            if let Some(line) = setup.timer_lateness(client, repetitions, quick).await? {
                ratios.push(line);
            }
        }
    }
    if only.is_empty() && clients.is_empty() {
        scale(repetitions, quick, &mut ratios).await?;
    }
    for line in ratios {
        println!("{line}");
    }
    Ok(())
}

/// Sockets held open at once by one client.
const SOCKET_COUNTS: [usize; 2] = [1_000, 10_000];
/// Guest instances, each holding this many sockets.
const INSTANCES: (usize, usize) = (100, 10);

/// Many sockets and many instances. Each measurement runs in a process of its
/// own (`bench-child`), so that its memory growth is its own, against an echo
/// server in another process, so that the server's sockets and memory are not
/// counted.
async fn scale(repetitions: usize, quick: bool, ratios: &mut Vec<String>) -> wasmtime::Result<()> {
    let server = ChildProcess::start(&["echo-server", "127.0.0.1:0"], "echo server: ").await?;
    let url = server.first_line.clone();
    let socket_counts: &[usize] = if quick { &[100] } else { &SOCKET_COUNTS };
    let (instances, sockets_each) = if quick { (10, 2) } else { INSTANCES };

    println!(
        "{:<14} {:<8} {:>14} {:>14}",
        "sockets", "client", "connect ms", "KiB/socket"
    );
    for &count in socket_counts {
        let mut results: [Vec<(f64, f64)>; 2] = Default::default();
        for _ in 0..repetitions {
            for (i, client) in ["native", "pull"].into_iter().enumerate() {
                let figures =
                    child_figures(&["sockets", client, &count.to_string(), &url], "sockets")
                        .await?;
                let [connect_ns, rss_growth] = figures[..] else {
                    wasmtime::bail!("bench-child sockets printed {figures:?}");
                };
                results[i].push((connect_ns / 1e6, rss_growth / count as f64 / 1024.0));
            }
        }
        let [native, host] = results.map(|r| median_by(&r, |pair| pair.0));
        for (client, (connect_ms, kib)) in [("native", native), ("pull", host)] {
            println!(
                "{:<14} {client:<8} {connect_ms:>14.1} {kib:>14.1}",
                format!("{count}")
            );
        }
        ratios.push(format!(
            "bench: pull/native connect {count} sockets = {:.2}x ({:.1} ms vs {:.1} ms)",
            native.0 / host.0,
            host.0,
            native.0
        ));
        ratios.push(format!(
            "bench: host memory per socket at {count} sockets = {:.1} KiB (native client {:.1} KiB)",
            host.1, native.1
        ));
    }

    println!(
        "{:<14} {:<8} {:>14} {:>14} {:>10}",
        "instances", "alloc", "instantiate ms", "with sockets", "RSS MiB"
    );
    let mut pooling_ms = 0.0;
    for allocator in ["on-demand", "pooling"] {
        let mut results = Vec::new();
        for _ in 0..repetitions {
            let args = [
                "instances",
                allocator,
                &instances.to_string(),
                &sockets_each.to_string(),
                &url,
            ];
            let figures = child_figures(&args, "instances").await?;
            let [instantiate_ns, total_ns, rss_growth] = figures[..] else {
                wasmtime::bail!("bench-child instances printed {figures:?}");
            };
            results.push((instantiate_ns / 1e6, total_ns / 1e6, rss_growth));
        }
        let (instantiate_ms, total_ms, rss) = median_by(&results, |figures| figures.0);
        println!(
            "{:<14} {allocator:<8} {instantiate_ms:>14.1} {total_ms:>14.1} {:>10.1}",
            format!("{instances}x{sockets_each}"),
            rss / (1 << 20) as f64
        );
        if allocator == "pooling" {
            pooling_ms = instantiate_ms;
        }
    }
    ratios.push(format!(
        "bench: {instances} instances instantiated in {pooling_ms:.1} ms (pooling allocator, InstancePre)"
    ));
    Ok(())
}

/// Runs `wit-websocket bench-child ARGS` and returns the numbers of its line
/// starting with `{what}-result`.
async fn child_figures(args: &[&str], what: &str) -> wasmtime::Result<Vec<f64>> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("bench-child").args(args);
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("{what}-result ");
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix(&prefix)) else {
        wasmtime::bail!(
            "bench-child {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    Ok(line
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect())
}

/// A helper process of this binary; killed when dropped.
struct ChildProcess {
    child: std::process::Child,
    /// What followed `prefix` on its first line of output.
    first_line: String,
}

impl ChildProcess {
    async fn start(args: &[&str], prefix: &str) -> wasmtime::Result<Self> {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        })
        .await??;
        let Some(rest) = line.trim().strip_prefix(prefix) else {
            let _ = child.kill();
            wasmtime::bail!("{args:?} printed {line:?}");
        };
        Ok(Self {
            first_line: rest.to_string(),
            child,
        })
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The measuring side of [`scale`], in its own process: `sockets CLIENT COUNT
/// URL` or `instances ALLOCATOR COUNT SOCKETS_EACH URL`. Prints one result
/// line and exits without tearing anything down.
pub async fn child(args: &[String]) -> wasmtime::Result<i32> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        ["sockets", client, count, url] => {
            let count: usize = count.parse()?;
            let (connect, growth) = match client {
                "native" => hold_native(url, count).await?,
                _ => hold_in_guest(url, count).await?,
            };
            println!("sockets-result {} {growth}", connect.as_nanos());
        }
        ["instances", allocator, count, sockets_each, url] => {
            let (instantiate, total, growth) =
                instances(allocator == "pooling", count.parse()?, sockets_each, url).await?;
            println!(
                "instances-result {} {} {growth}",
                instantiate.as_nanos(),
                total.as_nanos()
            );
        }
        _ => wasmtime::bail!("bench-child: unknown arguments {args:?}"),
    }
    // Closing thousands of sockets and instances one by one is not measured.
    std::process::exit(0)
}

/// This process's resident memory, in bytes (Linux; 0 elsewhere).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `count` native client connections opened at once: time until all are
/// open, and the memory they added.
async fn hold_native(url: &str, count: usize) -> wasmtime::Result<(Duration, u64)> {
    let before = resident_bytes();
    let started = Instant::now();
    let connects: Vec<_> = (0..count)
        .map(|_| {
            let url = url.to_string();
            tokio::spawn(async move {
                tokio_tungstenite::connect_async_with_config(url, None, true)
                    .await
                    .map(|(ws, _)| ws)
            })
        })
        .collect();
    let mut readers = Vec::with_capacity(count);
    for connect in connects {
        let mut ws = connect.await??;
        // As any client (and the host) does: each connection is read.
        readers.push(tokio::spawn(
            async move { while ws.next().await.is_some() {} },
        ));
    }
    let elapsed = started.elapsed();
    // Let every reader make its first read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok((elapsed, resident_bytes().saturating_sub(before)))
}

/// The same from the bench guest through the host (the guest waits in its
/// own loop until all are open). Compiling and instantiating the guest come
/// before the first reading of memory.
async fn hold_in_guest(url: &str, count: usize) -> wasmtime::Result<(Duration, u64)> {
    let runner = GuestRunner::new()?;
    let guest = Component::new(runner.engine(), BENCH_GUEST)?;
    let mut config = WebSocketConfig::with_policy(AllowList::allow_all());
    config.max_sockets = count;
    config.max_sockets_per_device = count;
    config.max_held_sockets = count;
    let stdout = MemoryOutputPipe::new(1 << 16);
    let args = ["bench", "pull", "hold", url, &count.to_string(), "0", "0"];
    let wasi = WasiCtx::builder()
        .args(&args)
        .stdout(stdout.clone())
        .inherit_stderr()
        .build();
    let state = GuestState::new(wasi, wit_websocket_host::WebSocketCtx::new(config));
    let mut instance = runner.instantiate(&guest, state).await?;
    let before = resident_bytes();
    let started = Instant::now();
    let status = instance.run().await?;
    let elapsed = started.elapsed();
    // As for the native client: every socket task has made its first read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let growth = resident_bytes().saturating_sub(before);
    let output = String::from_utf8_lossy(&stdout.contents()).to_string();
    if status != 0 || !output.contains("open-ns ") {
        wasmtime::bail!("the bench guest did not open its sockets: {output}");
    }
    Ok((elapsed, growth))
}

/// `count` instances of the bench guest from one `InstancePre`, each opening
/// `sockets_each` sockets: the time spent instantiating, the time for all
/// (instantiating and connecting), and the memory they added.
async fn instances(
    pooling: bool,
    count: usize,
    sockets_each: &str,
    url: &str,
) -> wasmtime::Result<(Duration, Duration, u64)> {
    let mut config = wasmtime::Config::new();
    if pooling {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(count as u32 + 1)
            .total_core_instances(10 * count as u32 + 10)
            .total_memories(2 * count as u32 + 2)
            .total_tables(4 * count as u32 + 4)
            .max_memory_size(wit_websocket_host::runner::DEFAULT_MEMORY_LIMIT);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    let runner = GuestRunner::with_config(config)?;
    let guest = runner.prepare(&Component::new(runner.engine(), BENCH_GUEST)?)?;
    let before = resident_bytes();
    let started = Instant::now();
    let mut instantiating = Duration::ZERO;
    let mut running = Vec::with_capacity(count);
    for _ in 0..count {
        let stdout = MemoryOutputPipe::new(1 << 12);
        let args = ["bench", "pull", "hold", url, sockets_each, "0", "0"];
        let wasi = WasiCtx::builder().args(&args).stdout(stdout).build();
        let config = WebSocketConfig::with_policy(AllowList::allow_all());
        let state = GuestState::new(wasi, wit_websocket_host::WebSocketCtx::new(config));
        let instantiated = Instant::now();
        let mut instance = guest.instantiate(state).await?;
        instantiating += instantiated.elapsed();
        if instance.run().await? != 0 {
            wasmtime::bail!("a bench guest instance failed");
        }
        running.push(instance);
    }
    let total = started.elapsed();
    Ok((
        instantiating,
        total,
        resident_bytes().saturating_sub(before),
    ))
}

/// How long instantiating `component` (already compiled and linked) takes.
async fn instantiate_time(
    runner: &GuestRunner,
    component: &Component,
) -> wasmtime::Result<Duration> {
    let guest = runner.prepare(component)?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let config = WebSocketConfig::with_policy(AllowList::deny_all());
        let state = GuestState::new(
            WasiCtx::builder().build(),
            wit_websocket_host::WebSocketCtx::new(config),
        );
        let started = Instant::now();
        let instance = guest.instantiate(state).await?;
        times.push(started.elapsed());
        drop(instance);
    }
    Ok(median_by(&times, Duration::as_secs_f64))
}

/// Builds a JavaScript or Python bench guest with `guest/componentize` (which
/// installs its toolchain on first use) and compiles it; `None`, with the
/// reason on stderr, where that fails (no node/npm or python3).
fn language_guest(
    runner: &GuestRunner,
    name: &str,
    entry: &str,
    flags: &[&str],
) -> Option<Component> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let wasm = root.join(format!("target/language-guests/bench-{name}.wasm"));
    let built = std::process::Command::new(root.join("guest/componentize"))
        .args(flags)
        .arg(root.join(entry))
        .arg(&wasm)
        .stdout(std::process::Stdio::null())
        .status();
    match built {
        Ok(status) if status.success() => match runner.load_file(&wasm) {
            Ok(component) => Some(component),
            Err(error) => {
                eprintln!("bench: {} does not compile: {error:#}", wasm.display());
                None
            }
        },
        outcome => {
            eprintln!("bench: guest/componentize {entry}: {outcome:?}");
            None
        }
    }
}

/// The ratio line of `client` against `baseline`: p50 round trips, or
/// throughput (above 1: `client` is faster). None when either is missing.
fn ratio(
    client: &str,
    baseline: &str,
    workload: &Workload,
    measured: Option<Measure>,
    base: Option<Measure>,
) -> Option<String> {
    let name = workload.name;
    match (measured?, base?) {
        (Measure::RoundTrip(measured, _), Measure::RoundTrip(base, _)) => Some(format!(
            "bench: {client}/{baseline} p50 {name} = {:.2}x ({:+.1} µs)",
            micros(measured) / micros(base),
            micros(measured) - micros(base)
        )),
        (Measure::Elapsed(measured, cpu), Measure::Elapsed(base, base_cpu)) => Some(format!(
            "bench: {client}/{baseline} msgs {name} = {:.2}x (CPU per MiB {:.2}x)",
            base.as_secs_f64() / measured.as_secs_f64(),
            cpu.as_secs_f64() / base_cpu.as_secs_f64()
        )),
        _ => None,
    }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// CPU milliseconds per MiB of messages echoed (sent and received back).
fn cpu_per_mib(workload: &Workload, cpu: Duration) -> f64 {
    let mib = (workload.count * workload.size) as f64 / f64::from(1 << 20);
    cpu.as_secs_f64() * 1e3 / mib
}

/// The CPU time this process has used so far, user and system.
fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given, or fails and leaves it zeroed.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time =
        |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn throughput(workload: &Workload, elapsed: Duration) -> (f64, f64) {
    let seconds = elapsed.as_secs_f64();
    let msgs = workload.count as f64 / seconds;
    (msgs, msgs * workload.size as f64 / 1e6)
}

/// The median by the measure's main figure (p50, or elapsed time).
fn median(measures: &[Measure]) -> Measure {
    median_by(measures, |m| match m {
        Measure::RoundTrip(p50, _) => p50.as_secs_f64(),
        Measure::Elapsed(elapsed, _) => elapsed.as_secs_f64(),
        Measure::Lateness(p50, _) => p50.as_secs_f64(),
    })
}

/// The median of `items` ordered by `key` (the upper one of an even count).
fn median_by<T: Copy>(items: &[T], key: impl Fn(&T) -> f64) -> T {
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted[sorted.len() / 2]
}

/// The payload of `workload`'s messages: bytes, or compressible text.
fn payload(workload: &Workload) -> Message {
    match workload.transport {
        Transport::Deflate => {
            let text: String = COMPRESSIBLE_UNIT
                .chars()
                .cycle()
                .take(workload.size)
                .collect();
            Message::text(text)
        }
        Transport::Ws | Transport::Wss => Message::binary(vec![0x5a_u8; workload.size]),
    }
}

/// A native client connection, and its compressor where deflate was agreed.
type NativeConnection = (
    WebSocketStream<DeflateStream<MaybeTlsStream<tokio::net::TcpStream>>>,
    Option<MessageDeflater>,
);

/// Connects as a native service would with the same stack as the host:
/// tokio-tungstenite, rustls for wss, and the host's permessage-deflate
/// layer for the deflate workloads (tungstenite has none of its own).
async fn connect_native(
    url: &str,
    transport: Transport,
    tls: &Arc<rustls::ClientConfig>,
) -> wasmtime::Result<NativeConnection> {
    let mut request = url.into_client_request()?;
    if transport == Transport::Deflate {
        request.headers_mut().insert(
            "sec-websocket-extensions",
            HeaderValue::from_static(deflate::CLIENT_OFFER),
        );
    }
    let host = request.uri().host().unwrap_or_default().to_string();
    let default_port = if transport == Transport::Wss { 443 } else { 80 };
    let port = request.uri().port_u16().unwrap_or(default_port);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    // No Nagle, as the host's own sockets.
    tcp.set_nodelay(true)?;
    let transport_stream = match transport {
        Transport::Wss => {
            let name = rustls::pki_types::ServerName::try_from(host)?;
            let connector = tokio_rustls::TlsConnector::from(tls.clone());
            MaybeTlsStream::Rustls(connector.connect(name, tcp).await?)
        }
        Transport::Ws | Transport::Deflate => MaybeTlsStream::Plain(tcp),
    };
    let (mut ws, response) =
        tokio_tungstenite::client_async(request, DeflateStream::new(transport_stream)).await?;
    let answer = deflate::extension_headers(response.headers());
    let agreed = deflate::accept_response(&answer, transport == Transport::Deflate)
        .map_err(wasmtime::Error::msg)?;
    ws.get_mut().negotiated(agreed.as_ref(), true, None);
    Ok((ws, agreed.map(|params| params.client_deflater())))
}

/// The baseline: the same workload from a native tokio-tungstenite client.
async fn native(
    url: &str,
    workload: &Workload,
    tls: &Arc<rustls::ClientConfig>,
) -> wasmtime::Result<Measure> {
    let (mut ws, mut deflater) = connect_native(url, workload.transport, tls).await?;
    let payload = payload(workload);
    // Compressed per message, as the host does for each message a guest sends.
    let mut next_message = || match &mut deflater {
        Some(deflater) => deflater.deflate(payload.clone()),
        None => payload.clone(),
    };
    let started = Instant::now();
    let mut round_trips = Vec::with_capacity(workload.count);
    let mut sent = 0;
    let first = if workload.kind == "rtt" {
        1
    } else {
        workload.window.min(workload.count)
    };
    let mut last_send = Instant::now();
    for _ in 0..first {
        last_send = Instant::now();
        ws.send(next_message()).await?;
        sent += 1;
    }
    let mut received = 0;
    while received < workload.count {
        match ws.next().await {
            Some(Ok(Message::Binary(_) | Message::Text(_))) => {
                received += 1;
                if workload.kind == "rtt" {
                    round_trips.push(last_send.elapsed());
                }
                if sent < workload.count {
                    // As the guests: the clock only where a figure needs it.
                    if workload.kind == "rtt" {
                        last_send = Instant::now();
                    }
                    ws.send(next_message()).await?;
                    sent += 1;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => wasmtime::bail!("the echo server closed the connection"),
        }
    }
    let elapsed = started.elapsed();
    ws.close(None).await?;
    Ok(match workload.kind {
        "rtt" => {
            round_trips.sort_unstable();
            let at = |q: f64| round_trips[((round_trips.len() - 1) as f64 * q) as usize];
            Measure::RoundTrip(at(0.5), at(0.99))
        }
        _ => Measure::Elapsed(elapsed, Duration::ZERO),
    })
}

/// The workload from a guest (`args` is its argv): the bench guest through
/// the host, or the in-guest library over wasi:sockets, which may reach
/// loopback and nothing else.
async fn in_guest(
    runner: &GuestRunner,
    guest: &Component,
    config: WebSocketConfig,
    args: &[String],
    env: &[(&str, &str)],
    workload: &Workload,
) -> wasmtime::Result<Measure> {
    let stdout = MemoryOutputPipe::new(1 << 16);
    let wasi = WasiCtx::builder()
        .args(args)
        .envs(env)
        .stdout(stdout.clone())
        .inherit_stderr()
        .allow_tcp(true)
        // Connecting also checks the implicit bind to the unspecified address.
        .socket_addr_check(|address, _| {
            let ip = address.ip();
            Box::pin(async move { ip.is_loopback() || ip.is_unspecified() })
        })
        .build();
    let state = GuestState::new(wasi, wit_websocket_host::WebSocketCtx::new(config));
    let mut instance = runner.instantiate(guest, state).await?;
    let status = instance.run().await?;
    if status == 0 {
        instance.dispatch_until_idle().await?;
    }
    instance.shutdown().await;
    let output = String::from_utf8_lossy(&stdout.contents()).to_string();
    match (
        workload.kind,
        numbers(&output, "rtt-ns"),
        numbers(&output, "pipe-ns"),
    ) {
        ("rtt", Some(ns), _) if ns.len() == 2 => Ok(Measure::RoundTrip(
            Duration::from_nanos(ns[0]),
            Duration::from_nanos(ns[1]),
        )),
        ("pipe", _, Some(ns)) if ns.len() == 1 => {
            if let Some(late) = numbers(&output, "lateness-ns")
                && let [p50, p99] = late[..]
            {
                return Ok(Measure::Lateness(
                    Duration::from_nanos(p50),
                    Duration::from_nanos(p99),
                ));
            }
            Ok(Measure::Elapsed(
                Duration::from_nanos(ns[0]),
                Duration::ZERO,
            ))
        }
        _ => wasmtime::bail!("the guest {args:?} reported nothing usable: {output:?}"),
    }
}

/// The numbers after `prefix` on the first line of `output` starting with it.
fn numbers(output: &str, prefix: &str) -> Option<Vec<u64>> {
    let line = output.lines().find(|l| l.starts_with(prefix))?;
    line.split_whitespace()
        .skip(1)
        .map(|n| n.parse().ok())
        .collect()
}
