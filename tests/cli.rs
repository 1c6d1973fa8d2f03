//! The `wit-websocket` binary, as a user runs it.

use std::process::Command;

use wit_websocket_cli::BUILT_GUESTS_DIR;
use wit_websocket_cli::echo_server::EchoServer;

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wit-websocket"))
}

/// Runs the CLI off the async runtime, so a server on that runtime can answer it.
async fn run_cli_beside_server(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || cli().args(&args).output().unwrap())
        .await
        .unwrap()
}

#[test]
fn demo_prints_the_conversation_and_the_summary_line() {
    let output = cli().args(["demo", "--count", "4"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for n in 1..=4 {
        assert!(
            stdout.contains(&format!("echoed: message {n} of 4\n")),
            "{stdout}"
        );
    }
    assert_eq!(
        stdout.lines().last(),
        Some("demo: 4 sent, 4 echoed, closed 1000"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_executes_a_guest_against_a_server_and_exits_with_its_status() {
    let server = EchoServer::start().await.unwrap();
    let echo = format!("{BUILT_GUESTS_DIR}/echo.wasm");
    let url = server.url();
    let output =
        run_cli_beside_server(&["run", "--allow-net=127.0.0.1", &echo, "--", &url, "2"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("open: {url} (permessage-deflate)\n")),
        "compression is offered by default: {stdout}"
    );
    assert!(stdout.contains("echoed: message 2 of 2\n"), "{stdout}");
    assert!(
        stdout.contains("closed: code 1000 reason \"done\" clean true"),
        "{stdout}"
    );

    let output = run_cli_beside_server(&[
        "run",
        "--allow-net=127.0.0.1",
        "--no-compression",
        &echo,
        "--",
        &url,
        "1",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("open: {url}\n")),
        "--no-compression offers no extension: {stdout}"
    );
    assert!(stdout.contains("echoed: message 1 of 1\n"), "{stdout}");

    // The guest's failure is the CLI's. (WASI 0.2's `exit` carries only
    // success or failure, so the guest's `exit(2)` arrives as 1.)
    let echo = format!("{BUILT_GUESTS_DIR}/echo.wasm");
    let output = cli().args(["run", &echo]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "echo with no URL fails");
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: echo URL"));
}

#[test]
fn run_reports_a_missing_component_clearly() {
    let output = cli().args(["run", "no-such-app.wasm"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-app.wasm"), "{stderr}");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["demo", "--help"],
        &["echo-server", "--help"],
        &["bench", "--help"],
    ] {
        let output = cli().args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_denies_the_network_unless_allowed_and_names_the_flag() {
    let server = EchoServer::start().await.unwrap();
    let echo = format!("{BUILT_GUESTS_DIR}/echo.wasm");
    let url = server.url();
    let output = run_cli_beside_server(&["run", &echo, "--", &url]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let flag = format!("--allow-net={}", server.address());
    assert!(
        stderr.contains("not permitted: ") && stderr.contains(&flag),
        "{stderr}"
    );
}

#[test]
fn a_malformed_allow_list_is_a_clear_error() {
    let echo = format!("{BUILT_GUESTS_DIR}/echo.wasm");
    let output = cli()
        .args(["run", "--allow-net=host:port", &echo])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid --allow-net entry"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_traps_exits_non_zero_with_the_trap_message() {
    let server = EchoServer::start().await.unwrap();
    let probe = format!("{BUILT_GUESTS_DIR}/probe.wasm");
    let url = server.url();
    let output = run_cli_beside_server(&["run", "--allow-net", &probe, "--", "trap", &url]).await;
    // 128 + SIGABRT, as `wasmtime run` exits when its guest traps.
    assert_eq!(output.status.code(), Some(134));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the guest trapped; its sockets were closed with 1011"),
        "{stderr}"
    );
    assert!(stderr.contains("the guest fails on purpose"), "{stderr}");
    assert!(stderr.contains("wasm backtrace"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn limit_flags_reach_the_host() {
    let server = EchoServer::start().await.unwrap();
    let probe = format!("{BUILT_GUESTS_DIR}/probe.wasm");
    let url = server.url();
    let output = run_cli_beside_server(&[
        "run",
        "--allow-net",
        "--callback-time-limit=200",
        &probe,
        "--",
        "spin",
        &url,
    ])
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("interrupt"), "{stderr}");
}

#[test]
fn bench_runs_every_client_and_ends_with_ratio_lines() {
    let output = cli()
        .args(["bench", "--quick", "--repetitions", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let count = |prefix: &str| stdout.lines().filter(|l| l.starts_with(prefix)).count();
    // Every echo workload: 5 over ws, 5 over wss, 4 with deflate.
    assert_eq!(count("bench: push/native "), 14, "{stdout}");
    assert_eq!(count("bench: pull/native "), 14 + 1, "{stdout}"); // + the socket count
    // tungstenite in a guest: its wss build needs clang.
    let in_guest_tls = !stdout.contains("no in-guest wss figures");
    let in_guest = if in_guest_tls { 14 } else { 9 };
    assert_eq!(count("bench: in-guest/native "), in_guest, "{stdout}");
    assert_eq!(count("bench: push/in-guest "), in_guest, "{stdout}");
    // The JavaScript and Python guests (the tests' toolchains build them).
    assert_eq!(count("bench: js/native "), 14, "{stdout}");
    assert_eq!(count("bench: python/native "), 14, "{stdout}");
    // The async clients: Rust on every workload, JavaScript and Python on ws.
    assert_eq!(count("bench: async/native "), 14, "{stdout}");
    assert_eq!(count("bench: js-async/native "), 5, "{stdout}");
    assert_eq!(count("bench: python-async/native "), 5, "{stdout}");
    for client in ["push", "js"] {
        let prefix = format!("bench: {client} timer lateness 10 ms while echoing 64B = p50 ");
        assert_eq!(count(&prefix), 1, "{stdout}");
    }
    let last_lines: Vec<&str> = stdout.lines().rev().take(3).collect();
    assert!(
        last_lines[2].starts_with("bench: pull/native connect 100 sockets = "),
        "{stdout}"
    );
    assert!(
        last_lines[1].starts_with("bench: host memory per socket at 100 sockets = "),
        "{stdout}"
    );
    assert!(
        last_lines[0].starts_with("bench: 10 instances instantiated in "),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_caches_compiled_components_unless_told_not_to() {
    let server = EchoServer::start().await.unwrap();
    let echo = format!("{BUILT_GUESTS_DIR}/echo.wasm");
    let url = server.url();
    let cache_home =
        std::env::temp_dir().join(format!("wit-websocket-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache_home);
    let run = |extra: &'static [&'static str]| {
        let mut command = cli();
        command.env("XDG_CACHE_HOME", &cache_home);
        command.args(["run", "--allow-net=127.0.0.1"]).args(extra);
        command.args([&echo, "--", &url, "1"]);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let cached_files = || walk(&cache_home.join("wasmtime"));
    let output = run(&["--no-cache"]).await.unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(cached_files(), 0, "--no-cache writes no cache");
    let output = run(&[]).await.unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(cached_files() > 0, "the compiled component is cached");
    std::fs::remove_dir_all(&cache_home).unwrap();
}

/// `wit-websocket echo-server` in the background; killed when dropped.
struct EchoServerCommand {
    process: std::process::Child,
    url: String,
}

impl EchoServerCommand {
    fn start(extra: &[&str]) -> Self {
        use std::io::BufRead;
        let mut process = cli()
            .args(["echo-server", "127.0.0.1:0"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        std::io::BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        let url = first_line
            .strip_prefix("echo server: ")
            .unwrap_or_else(|| panic!("the URL comes first: {first_line:?}"))
            .trim()
            .to_string();
        Self { process, url }
    }
}

impl Drop for EchoServerCommand {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Builds the JavaScript or Python guest `entry` with `guest/componentize`
/// and runs it with `wit-websocket run --allow-net=127.0.0.1 WASM -- ARGS`.
fn run_language_guest(entry: &str, args: &[&str]) -> std::process::Output {
    run_language_guest_in(entry, &[], args)
}

/// As [`run_language_guest`], with `--env NAME=VALUE` for each of `env`.
fn run_language_guest_in(entry: &str, env: &[&str], args: &[&str]) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = root.join("target/language-guests");
    // The same file name as the workspace tests' harness: built once.
    let wasm = out_dir.join(entry.replace('/', "-")).with_extension("wasm");
    let built = Command::new(root.join("guest/componentize"))
        .arg(root.join(entry))
        .arg(&wasm)
        .status()
        .unwrap();
    assert!(built.success(), "guest/componentize {entry}");
    cli()
        // One compilation cache for every run of these tests.
        .env("XDG_CACHE_HOME", out_dir.join("cli-cache"))
        .args(["run", "--allow-net=127.0.0.1"])
        .args(env.iter().flat_map(|pair| ["--env", pair]))
        .arg(&wasm)
        .arg("--")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn browser_timers_set_in_run_and_onopen_fire_and_the_run_exits_after_the_last() {
    let server = EchoServerCommand::start(&[]);
    let output = run_language_guest("tests/guests/js-timers/app.js", &[&server.url]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {stdout}\n{stderr}"))
    };
    // Each timer is a task: its promise jobs run before the next timer.
    assert_eq!(
        &lines[position("first task")..position("first task") + 3],
        ["first task", "its promise job", "its microtask"],
        "{stdout}"
    );
    assert!(position("second task") > position("first task") + 2);
    assert!(position("order a") < position("order b"), "{stdout}");
    assert!(position("tick 1") < position("tick 2") && position("tick 2") < position("tick 3"));
    assert!(
        !stdout.contains("tick 4") && !stdout.contains("cleared timeout fired"),
        "{stdout}"
    );
    assert!(position("timeout 50 at=") > position("tick 1"), "{stdout}");
    let last_at: u64 = lines[position("last timer at=")]["last timer at=".len()..]
        .parse()
        .unwrap();
    assert!((120..5_000).contains(&last_at), "{stdout}");
    // The timer set in onopen sent 100 ms later; the echo closed the socket,
    // and the timer set in onclose still ran before the process exited.
    assert!(
        position("open") < position("message sent at 100+"),
        "{stdout}"
    );
    assert_eq!(
        lines[position("message sent at 100+") + 1],
        "close 1000 true"
    );
    assert_eq!(position("last timer at="), lines.len() - 1, "{stdout}");
}

#[test]
fn an_async_start_that_rejects_exits_non_zero_after_printing_why() {
    let output = run_language_guest("tests/guests/js-timers/app.js", &["unused", "reject"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("slept at="), "{stdout}");
    assert!(stderr.contains("the async start failed"), "{stderr}");
}

#[test]
fn javascript_and_python_echo_examples_run_against_the_echo_server_command() {
    let server = EchoServerCommand::start(&[]);
    for (entry, greeting) in [
        ("examples/js-echo/app.js", "hello from JavaScript"),
        ("examples/python-echo/app.py", "hello from Python"),
    ] {
        let output = run_language_guest(entry, &[&server.url]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{entry}: {stdout}\n{stderr}");
        for line in [
            format!("open: {} (permessage-deflate)", server.url),
            format!("echo: {greeting}"),
            "echo: 3 bytes".to_string(),
        ] {
            assert!(
                stdout.lines().any(|printed| printed == line),
                "{entry} printed no {line:?}: {stdout}\n{stderr}"
            );
        }
    }
}

#[test]
fn run_trusts_the_ca_file_the_wss_echo_server_command_wrote() {
    let ca_file = std::env::temp_dir().join(format!("wit-websocket-ca-{}.pem", std::process::id()));
    let ca = ca_file.to_str().unwrap();
    let server = EchoServerCommand::start(&["--tls-ca-out", ca]);
    assert!(server.url.starts_with("wss://127.0.0.1:"), "{}", server.url);
    let echo = format!("{BUILT_GUESTS_DIR}/echo.wasm");
    let run = |extra: &[&str]| {
        let output = cli()
            .args(["run", "--no-cache", "--allow-net=127.0.0.1"])
            .args(extra)
            .args([&echo, "--", &server.url, "1"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        (stdout, stderr)
    };
    let (stdout, stderr) = run(&["--ca-file", ca]);
    assert!(
        stdout.contains("closed: code 1000 reason \"done\" clean true"),
        "{stdout}\n{stderr}"
    );
    // Without the CA the server's certificate is untrusted.
    let (stdout, stderr) = run(&[]);
    assert!(
        stderr.contains("error: TLS failed: ") && stderr.contains("UnknownIssuer"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("closed: code 1006"), "{stdout}\n{stderr}");
    std::fs::remove_file(&ca_file).unwrap();
}

/// Files below `dir` (0 when it does not exist).
fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|entry| match entry.file_type() {
                Ok(kind) if kind.is_dir() => walk(&entry.path()),
                _ => 1,
            })
            .sum()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_log_shows_connect_open_close_and_a_policy_refusal() {
    let server = EchoServer::start().await.unwrap();
    let url = server.url();
    let echo = format!("{BUILT_GUESTS_DIR}/echo.wasm");
    let logged = |args: Vec<String>| {
        let mut command = cli();
        command.env("RUST_LOG", "wit_websocket=debug").args(args);
        async move {
            let output = tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap();
            String::from_utf8_lossy(&output.stderr).to_string()
        }
    };
    let args = |extra: &[&str]| -> Vec<String> {
        [&["run"][..], extra, &[&echo, "--", &url, "1"]]
            .concat()
            .into_iter()
            .map(String::from)
            .collect()
    };
    let stderr = logged(args(&["--allow-net=127.0.0.1"])).await;
    for event in ["connecting", "open", "closed"] {
        assert!(stderr.contains(event), "no {event:?} in {stderr}");
    }
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
    assert!(stderr.contains(&format!("port={port}")), "{stderr}");
    assert!(
        stderr.contains("code=1000") && stderr.contains("clean=true"),
        "{stderr}"
    );
    // Not allowed: the refusal is logged with what would allow it.
    let stderr = logged(args(&["--allow-net=example.com"])).await;
    assert!(stderr.contains("not permitted"), "{stderr}");
    assert!(stderr.contains("--allow-net=127.0.0.1:"), "{stderr}");
    // The same as JSON lines.
    let json = logged(args(&["--log-format", "json", "--allow-net=127.0.0.1"])).await;
    assert!(
        json.lines()
            .any(|line| line.starts_with('{') && line.contains("\"message\":\"open\"")),
        "{json}"
    );
}

#[test]
fn run_passes_env_and_dirs_as_wasmtime_run_does() {
    let dir = std::env::temp_dir().join(format!("wit-websocket-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("settings.txt"), "level=3\n").unwrap();
    let probe = format!("{BUILT_GUESTS_DIR}/probe.wasm");
    let output = cli()
        .args(["run", "--env", "TOKEN=abc123", "--env", "UNSET", "--dir"])
        .arg(format!("{}::/config", dir.display()))
        .args([&probe, "--", "env-and-dir"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "TOKEN=abc123",
            "UNSET=(unset)",
            "settings level=3",
            "write ok",
            "outside: not readable"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("written.txt")).unwrap(),
        "from the guest"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_gives_the_guest_its_stdin_and_exits_with_the_guests_status() {
    use std::io::Write;
    use std::process::Stdio;

    let probe = format!("{BUILT_GUESTS_DIR}/probe.wasm");
    let mut child = cli()
        .args(["run", &probe, "--", "stdin-lines"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"alpha\nbeta\ngamma\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["stdin alpha", "stdin beta", "stdin gamma"],
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The guest exits with the number of lines it read, 3: WASI 0.2's `exit`
    // carries failure, not the code, and `wasmtime run` exits with 1 for it too.
    assert_eq!(output.status.code(), Some(1));
}

/// What `tests/guests/js-worker-scope` prints of its environment.
fn worker_scope(env: &[&str]) -> serde_json::Value {
    let output = run_language_guest_in("tests/guests/js-worker-scope/app.js", env, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("one JSON line")
}

#[test]
fn randomness_a_javascript_library_kept_at_load_differs_in_every_run() {
    let first = worker_scope(&[]);
    let second = worker_scope(&[]);
    // Math.random and crypto.getRandomValues taken at build time (a Wizer
    // snapshot), called at run time: the host's randomness, not the build's.
    for drawn in ["random", "words", "uuid", "randomNow"] {
        assert_ne!(first[drawn], second[drawn], "{drawn}: {first}\n{second}");
    }
    // A value drawn at load is the build's: the same in every run (the limit
    // the README states).
    assert_eq!(first["drawnAtLoad"], second["drawnAtLoad"]);
    assert_eq!(first["runsAfterBuild"], true);
    assert!(first["performanceNow"].as_f64().unwrap() >= 0.0, "{first}");
    let uuid = first["uuid"].as_str().unwrap();
    assert!(uuid.len() == 36 && uuid.as_bytes()[14] == b'4', "{uuid}");
}

#[test]
fn a_javascript_guest_sees_a_dedicated_workers_global_scope() {
    let scope = worker_scope(&[]);
    for (name, expected) in [
        ("self", serde_json::json!(true)),
        ("worker", serde_json::json!(true)),
        (
            "constructor",
            serde_json::json!("DedicatedWorkerGlobalScope"),
        ),
        (
            "tag",
            serde_json::json!("[object DedicatedWorkerGlobalScope]"),
        ),
        ("window", serde_json::json!(true)),
        ("document", serde_json::json!("undefined")),
        ("buffer", serde_json::json!("undefined")),
        ("process", serde_json::json!("undefined")),
        ("onLine", serde_json::json!(true)),
        ("secure", serde_json::json!(true)),
        // The default location; a relative WebSocket URL resolves against it.
        ("location", serde_json::json!("http://localhost/")),
        ("origin", serde_json::json!("http://localhost")),
        ("relative", serde_json::json!("ws://localhost/chat?room=1")),
    ] {
        assert_eq!(scope[name], expected, "{name}: {scope}");
    }
    let agent = scope["userAgent"].as_str().unwrap();
    assert!(agent.contains("wit-websocket/"), "{agent}");
}

#[test]
fn the_location_a_run_gives_is_the_javascript_guests_location() {
    let scope = worker_scope(&["WIT_WEBSOCKET_LOCATION=https://127.0.0.1:8443/app/?room=7"]);
    assert_eq!(scope["location"], "https://127.0.0.1:8443/app/?room=7");
    assert_eq!(scope["search"], "?room=7");
    assert_eq!(scope["origin"], "https://127.0.0.1:8443");
    assert_eq!(scope["relative"], "wss://127.0.0.1:8443/chat?room=1");
}

#[test]
fn a_javascript_module_that_throws_while_the_component_is_built_is_named_with_the_cause() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/language-guests/js-build-error.wasm");
    let output = Command::new(root.join("guest/componentize"))
        .arg(root.join("tests/guests/js-build-error/app.js"))
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(!out.exists(), "no component is left behind");
    // The module and line it came from (not the bundle's), the cause, the remedy.
    let source = root.join("tests/guests/js-build-error/throws-at-load.js");
    assert!(
        stderr.contains(&format!("at {}:3:", source.display())),
        "{stderr}"
    );
    assert!(stderr.contains("SyntaxError: JSON.parse"), "{stderr}");
    assert!(stderr.contains("Move that work into\n`run`"), "{stderr}");
}
