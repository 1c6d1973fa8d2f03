//! `wit-websocket bench`: one native echo server on 127.0.0.1 and, in the same
//! run, the same workloads from a native tokio-tungstenite client (the
//! baseline) and from the `bench` guest through this host, pushed and pulled.
//! Each figure is the median of alternating repetitions.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wasmtime::component::Component;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wit_websocket_host::WebSocketConfig;
use wit_websocket_host::echo_server::EchoServer;
use wit_websocket_host::policy::AllowList;
use wit_websocket_host::runner::{GuestRunner, GuestState};

/// The bench guest, compiled by the build script.
const BENCH_GUEST: &[u8] = include_bytes!(concat!(env!("WIT_WEBSOCKET_GUESTS_DIR"), "/bench.wasm"));

/// One workload: `rtt` (one message in flight) or `pipe` (a window of them).
#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    kind: &'static str,
    count: usize,
    size: usize,
    window: usize,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "rtt 64B",
        kind: "rtt",
        count: 2_000,
        size: 64,
        window: 1,
    },
    Workload {
        name: "pipe 64B",
        kind: "pipe",
        count: 20_000,
        size: 64,
        window: 64,
    },
    Workload {
        name: "pipe 4KiB",
        kind: "pipe",
        count: 10_000,
        size: 4 << 10,
        window: 64,
    },
    Workload {
        name: "pipe 64KiB",
        kind: "pipe",
        count: 2_000,
        size: 64 << 10,
        window: 16,
    },
];

/// What one run of a workload measured.
#[derive(Clone, Copy)]
enum Measure {
    /// Round trip p50 and p99.
    RoundTrip(Duration, Duration),
    /// Time for all messages of a pipelined run.
    Elapsed(Duration),
}

const CLIENTS: [&str; 3] = ["native", "push", "pull"];

/// Runs every workload `repetitions` times for each client, alternating, and
/// prints the table and the ratio lines.
pub async fn run(repetitions: usize, quick: bool) -> wasmtime::Result<()> {
    let server = EchoServer::start().await?;
    let runner = GuestRunner::new()?;
    let guest = Component::new(runner.engine(), BENCH_GUEST)?;
    let config = || {
        WebSocketConfig::with_policy(
            AllowList::deny_all()
                .allow(&server.address().to_string())
                .expect("an address is a valid entry"),
        )
    };
    println!(
        "bench: echo server {}; {repetitions} alternating repetitions, medians",
        server.url()
    );
    println!(
        "{:<12} {:<8} {:>14} {:>14} {:>12}",
        "workload", "client", "p50 / msgs/s", "p99 / MB/s", ""
    );
    let mut ratios = Vec::new();
    for workload in WORKLOADS {
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
        let mut results: [Vec<Measure>; 3] = Default::default();
        for _ in 0..repetitions {
            for (i, client) in CLIENTS.iter().enumerate() {
                let measure = match *client {
                    "native" => native(&server.url(), workload).await?,
                    mode => {
                        in_guest(&runner, &guest, config(), mode, &server.url(), workload).await?
                    }
                };
                results[i].push(measure);
            }
        }
        let medians: Vec<Measure> = results.iter().map(|r| median(r)).collect();
        for (client, measure) in CLIENTS.iter().zip(&medians) {
            match measure {
                Measure::RoundTrip(p50, p99) => println!(
                    "{:<12} {:<8} {:>11.1} µs {:>11.1} µs",
                    workload.name,
                    client,
                    micros(*p50),
                    micros(*p99)
                ),
                Measure::Elapsed(elapsed) => {
                    let (msgs, mbps) = throughput(workload, *elapsed);
                    println!(
                        "{:<12} {:<8} {:>14.0} {:>14.1}",
                        workload.name, client, msgs, mbps
                    );
                }
            }
        }
        for (i, client) in CLIENTS.iter().enumerate().skip(1) {
            let line = match (medians[i], medians[0]) {
                (Measure::RoundTrip(guest, _), Measure::RoundTrip(native, _)) => format!(
                    "bench: {client}/native p50 {} = {:.2}x ({:+.1} µs)",
                    workload.name,
                    micros(guest) / micros(native),
                    micros(guest) - micros(native)
                ),
                (Measure::Elapsed(guest), Measure::Elapsed(native)) => format!(
                    "bench: {client}/native msgs {} = {:.2}x",
                    workload.name,
                    native.as_secs_f64() / guest.as_secs_f64()
                ),
                _ => continue,
            };
            ratios.push(line);
        }
    }
    for line in ratios {
        println!("{line}");
    }
    Ok(())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn throughput(workload: &Workload, elapsed: Duration) -> (f64, f64) {
    let seconds = elapsed.as_secs_f64();
    let msgs = workload.count as f64 / seconds;
    (msgs, msgs * workload.size as f64 / 1e6)
}

/// The median by the measure's main figure (p50, or elapsed time).
fn median(measures: &[Measure]) -> Measure {
    let key = |m: &Measure| match m {
        Measure::RoundTrip(p50, _) => *p50,
        Measure::Elapsed(elapsed) => *elapsed,
    };
    let mut sorted = measures.to_vec();
    sorted.sort_by_key(key);
    sorted[sorted.len() / 2]
}

/// The baseline: the same workload from a native tokio-tungstenite client.
async fn native(url: &str, workload: &Workload) -> wasmtime::Result<Measure> {
    // No Nagle, as the host's own sockets.
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    let payload = vec![0x5a_u8; workload.size];
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
        ws.send(Message::binary(payload.clone())).await?;
        sent += 1;
    }
    let mut received = 0;
    while received < workload.count {
        match ws.next().await {
            Some(Ok(Message::Binary(_))) => {
                received += 1;
                if workload.kind == "rtt" {
                    round_trips.push(last_send.elapsed());
                }
                if sent < workload.count {
                    last_send = Instant::now();
                    ws.send(Message::binary(payload.clone())).await?;
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
        _ => Measure::Elapsed(elapsed),
    })
}

/// The workload from the bench guest through the host, in `mode`.
async fn in_guest(
    runner: &GuestRunner,
    guest: &Component,
    config: WebSocketConfig,
    mode: &str,
    url: &str,
    workload: &Workload,
) -> wasmtime::Result<Measure> {
    let stdout = MemoryOutputPipe::new(1 << 16);
    let args = [
        "bench".to_string(),
        mode.to_string(),
        workload.kind.to_string(),
        url.to_string(),
        workload.count.to_string(),
        workload.size.to_string(),
        workload.window.to_string(),
    ];
    let wasi = WasiCtx::builder()
        .args(&args)
        .stdout(stdout.clone())
        .inherit_stderr()
        .build();
    let state = GuestState::new(wasi, wit_websocket_host::WebSocketCtx::new(config));
    let mut instance = runner.instantiate(guest, state).await?;
    let status = instance.run().await?;
    if status == 0 {
        instance.dispatch_until_idle().await?;
    }
    instance.shutdown().await;
    let output = String::from_utf8_lossy(&stdout.contents()).to_string();
    let numbers = |prefix: &str| -> Option<Vec<u64>> {
        let line = output.lines().find(|l| l.starts_with(prefix))?;
        line.split_whitespace()
            .skip(1)
            .map(|n| n.parse().ok())
            .collect()
    };
    match (workload.kind, numbers("rtt-ns"), numbers("pipe-ns")) {
        ("rtt", Some(ns), _) if ns.len() == 2 => Ok(Measure::RoundTrip(
            Duration::from_nanos(ns[0]),
            Duration::from_nanos(ns[1]),
        )),
        ("pipe", _, Some(ns)) if ns.len() == 1 => Ok(Measure::Elapsed(Duration::from_nanos(ns[0]))),
        _ => wasmtime::bail!("the bench guest ({mode}) reported nothing usable: {output:?}"),
    }
}
