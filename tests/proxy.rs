//! Connections through real proxies on loopback (pproxy, from PyPI): HTTP
//! CONNECT and SOCKS5, with and without credentials, for ws:// and wss://,
//! and proxies that refuse. The proxy is the host's choice: the guest's
//! policy allows the echo server only, never the proxy's port.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wit_websocket_host::WebSocketConfig;
use wit_websocket_host::policy::AllowList;
use wit_websocket_host::proxy::{Proxy, ProxyConfig};

use support::{TestPki, echo_journaling, probe_with, serve, serve_tls};

/// A pproxy server on 127.0.0.1, and the connections it reports.
struct ProxyServer {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ProxyServer {
    /// `scheme` is `http` or `socks5`; `credentials` `USER:PASSWORD`.
    fn start(scheme: &str, credentials: Option<&str>) -> Self {
        let port = support::free_port();
        let listen = match credentials {
            Some(credentials) => format!("{scheme}://127.0.0.1:{port}#{credentials}"),
            None => format!("{scheme}://127.0.0.1:{port}"),
        };
        let mut child = Command::new(support::test_tool("pproxy"))
            .args(["-v", "-l", &listen])
            .env("PYTHONUNBUFFERED", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("pproxy starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stdout.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        // Listening once it says so for this port: a port another test's
        // server took meanwhile would make it fail, not answer for it.
        let serving = format!("127.0.0.1:{port} by {scheme}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !log
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(&serving))
        {
            assert!(
                Instant::now() < deadline && child.try_wait().unwrap().is_none(),
                "pproxy did not start on {port}: {:?}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let user = credentials.map(|c| format!("{c}@")).unwrap_or_default();
        Self {
            child,
            url: format!("{scheme}://{user}127.0.0.1:{port}"),
            log,
        }
    }

    /// Whether the proxy reported a connection to `address`.
    fn relayed_to(&self, address: std::net::SocketAddr) -> bool {
        let wanted = format!("-> {address}");
        // pproxy logs a connection once it is set up: give it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(&wanted))
            {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host's configuration: only `server` allowed, everything through `proxy`.
fn through(proxy: &str, server: std::net::SocketAddr) -> WebSocketConfig {
    let policy = AllowList::deny_all().allow(&server.to_string()).unwrap();
    WebSocketConfig {
        proxy: ProxyConfig::all(Proxy::parse(proxy).unwrap()),
        ..WebSocketConfig::with_policy(policy)
    }
}

fn trusting(mut config: WebSocketConfig, pki: &TestPki) -> WebSocketConfig {
    config.extra_root_certificates = vec![pki.ca.clone()];
    config
}

/// Echoes through `proxy_url` (as the host is told it) over ws:// or wss://.
async fn echo_through(proxy: &ProxyServer, proxy_url: &str, tls: bool) {
    let pki = TestPki::new(&["127.0.0.1"]).unwrap();
    let server = match tls {
        true => serve_tls(&pki, echo_journaling).await,
        false => serve(echo_journaling).await,
    };
    let url = match tls {
        true => format!("wss://{}/", server.address),
        false => server.url(),
    };
    let started = Instant::now();
    let run = probe_with(
        "pull",
        &[&url],
        trusting(through(proxy_url, server.address), &pki),
    )
    .await;
    println!("{proxy_url} {url}: {:?} for the run", started.elapsed());
    assert_eq!(
        run.line("pull 1 close"),
        "pull 1 close 1000 clean=true reason=done",
        "{:#?}",
        run.stdout
    );
    assert!(
        proxy.relayed_to(server.address),
        "the proxy did not relay to {}: {:?}",
        server.address,
        proxy.log.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_and_wss_go_through_an_http_connect_proxy() {
    let proxy = ProxyServer::start("http", None);
    echo_through(&proxy, &proxy.url, false).await;
    echo_through(&proxy, &proxy.url, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_and_wss_go_through_an_http_connect_proxy_with_credentials() {
    let proxy = ProxyServer::start("http", Some("alice:s3cret"));
    echo_through(&proxy, &proxy.url, false).await;
    echo_through(&proxy, &proxy.url, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_and_wss_go_through_a_socks5_proxy_resolving_here_or_there() {
    let proxy = ProxyServer::start("socks5", None);
    echo_through(&proxy, &proxy.url, false).await;
    let remote_dns = proxy.url.replace("socks5://", "socks5h://");
    echo_through(&proxy, &remote_dns, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_and_wss_go_through_a_socks5_proxy_with_credentials() {
    let proxy = ProxyServer::start("socks5", Some("bob:hunter2"));
    echo_through(&proxy, &proxy.url, false).await;
    echo_through(&proxy, &proxy.url.replace("socks5://", "socks5h://"), true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_proxy_that_wants_credentials_is_a_handshake_rejection_that_says_so() {
    let proxy = ProxyServer::start("http", Some("alice:s3cret"));
    let server = serve(echo_journaling).await;
    let without_credentials = proxy.url.replace("alice:s3cret@", "");
    let run = probe_with(
        "observe",
        &[&server.url()],
        through(&without_credentials, server.address),
    )
    .await;
    run.assert_failed_at(0, "handshake-rejected 407 the proxy http://127.0.0.1:");
    assert!(
        run.stdout[0].contains("it wants credentials"),
        "{}",
        run.stdout[0]
    );
    assert!(
        server.journal.lines().is_empty(),
        "nothing reached the server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socks5_proxy_refusing_the_password_is_a_refused_connection_that_says_so() {
    let proxy = ProxyServer::start("socks5", Some("bob:hunter2"));
    let server = serve(echo_journaling).await;
    let wrong = proxy.url.replace("bob:hunter2@", "bob:wrong@");
    let run = probe_with("observe", &[&server.url()], through(&wrong, server.address)).await;
    run.assert_failed_at(
        0,
        "connection-refused the SOCKS5 proxy socks5://bob@127.0.0.1:",
    );
    assert!(
        server.journal.lines().is_empty(),
        "nothing reached the server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_still_judges_the_destination_behind_a_proxy() {
    let proxy = ProxyServer::start("http", None);
    let server = serve(echo_journaling).await;
    let elsewhere: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let url = server.url();
    let run = probe_with("create-each", &[&url], through(&proxy.url, elsewhere)).await;
    assert!(
        run.stdout[0].starts_with(&format!("create {url} err not-permitted")),
        "{:#?}",
        run.stdout
    );
    assert!(!proxy.relayed_to(server.address));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_takes_its_proxies_from_the_flag_or_the_environment_as_curl_does() {
    let proxy = ProxyServer::start("http", None);
    let server = serve(echo_journaling).await;
    let probe = format!("{}/probe.wasm", wit_websocket_cli::BUILT_GUESTS_DIR);
    let allow = format!("--allow-net={}", server.address);
    let url = server.url();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wit-websocket"));
        command.args(["run", &allow]).args(extra);
        command.args([probe.as_str(), "--", "pull", &url]);
        for variable in [
            "ALL_PROXY",
            "all_proxy",
            "http_proxy",
            "HTTPS_PROXY",
            "NO_PROXY",
        ] {
            command.env_remove(variable);
        }
        command.envs(env.iter().copied());
        command.output().unwrap()
    };
    let (flag, from_env, bypassed) = tokio::task::block_in_place(|| {
        (
            run(&["--proxy", &proxy.url], &[]),
            run(&["--proxy-from-env"], &[("ALL_PROXY", &proxy.url)]),
            run(
                &["--proxy-from-env"],
                &[
                    ("http_proxy", "http://127.0.0.1:1"),
                    ("NO_PROXY", "127.0.0.1"),
                ],
            ),
        )
    });
    for output in [&flag, &from_env, &bypassed] {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("pull 1 close 1000 clean=true reason=done"),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(proxy.relayed_to(server.address));
    let to_server = format!("-> {}", server.address);
    let relayed = proxy
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains(&to_server))
        .count();
    assert_eq!(relayed, 2, "the NO_PROXY run went direct: {:?}", proxy.log);
}

/// What a proxy costs: the median time of a whole probe run (instantiate,
/// connect, one echo, close) direct and through each kind of proxy, printed
/// for the closing note (`cargo test --test proxy -- --nocapture cost`).
/// Asserts only that every run succeeded: timings belong to no assertion.
#[tokio::test(flavor = "multi_thread")]
async fn cost_of_each_proxy_kind_per_connection() {
    let http = ProxyServer::start("http", None);
    let socks = ProxyServer::start("socks5", None);
    let server = serve(echo_journaling).await;
    let url = server.url();
    let direct = WebSocketConfig::with_policy(
        AllowList::deny_all()
            .allow(&server.address.to_string())
            .unwrap(),
    );
    let kinds = [
        ("direct", direct),
        ("http CONNECT", through(&http.url, server.address)),
        ("socks5", through(&socks.url, server.address)),
        (
            "socks5h",
            through(
                &socks.url.replace("socks5://", "socks5h://"),
                server.address,
            ),
        ),
    ];
    for (kind, config) in kinds {
        let mut times = Vec::new();
        for _ in 0..15 {
            let started = Instant::now();
            let run = probe_with("pull", &[&url], config.clone()).await;
            times.push(started.elapsed());
            assert_eq!(
                run.line("pull 1 close"),
                "pull 1 close 1000 clean=true reason=done"
            );
        }
        times.sort();
        println!(
            "proxy cost: {kind}: median {:?} per run",
            times[times.len() / 2]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn through_socks5_with_local_dns_every_address_is_judged_before_anything_is_dialled() {
    let proxy = ProxyServer::start("socks5", None);
    let server = serve(echo_journaling).await;
    // `localhost` resolves here (socks5://) to loopback, which --deny-private refuses.
    let url = format!("ws://localhost:{}/", server.address.port());
    let config = WebSocketConfig {
        proxy: ProxyConfig::all(Proxy::parse(&proxy.url).unwrap()),
        ..WebSocketConfig::with_policy(AllowList::allow_all().deny_private(true))
    };
    let run = probe_with("observe", &[&url], config).await;
    run.assert_failed_at(0, "not-permitted localhost resolves to ");
    assert!(
        server.journal.lines().is_empty(),
        "nothing reached the server"
    );
    let log = proxy.log.lock().unwrap().clone();
    assert!(
        log.iter().all(|line| line.starts_with("Serving on")),
        "the proxy was not even contacted: {log:?}"
    );
}
