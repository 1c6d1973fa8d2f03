//! The SDKs as registries hand them to app authors: each is packed (`cargo
//! package`, `npm pack`, a wheel), an app is built in a directory of its own
//! from the packed artifact alone (its code and the WIT inside it, nothing
//! from the repository's paths), and the component echoes through the host.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use wit_websocket_cli::echo_server::EchoServer;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An empty directory for one test's packing and building.
fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/packages").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `command`, failing the test with its output if it fails; its stdout.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs the built component against an echo server and checks the exchange.
async fn assert_echoes(wasm: &Path, language: &str) {
    let server = EchoServer::start().await.unwrap();
    let run = support::run_file(wasm.to_str().unwrap(), &[&server.url()]).await;
    assert_eq!(run.status, 0, "{:?}", run.stdout);
    assert_eq!(
        run.stdout,
        [
            format!("echoed: hello from the {language} package"),
            "closed 1000 done".to_string()
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rust_app_builds_from_the_packaged_crate() {
    let dir = scratch("rust");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The outer build's flags and wrappers are not for this build.
    let cargo_command = || {
        let mut command = Command::new(&cargo);
        for variable in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTC_WRAPPER",
            "CARGO_TARGET_DIR",
        ] {
            command.env_remove(variable);
        }
        command
    };
    let target = root().join("target/packages-target");
    run(cargo_command()
        .current_dir(root())
        .args([
            "package",
            "-p",
            "wit-websocket-guest",
            "--no-verify",
            "--allow-dirty",
        ])
        .arg("--target-dir")
        .arg(&target));
    let crate_file = target.join("package/wit-websocket-guest-0.1.0.crate");
    run(Command::new("tar")
        .arg("xzf")
        .arg(&crate_file)
        .arg("-C")
        .arg(&dir));
    let app = dir.join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        r#"[package]
name = "packed-app"
version = "0.1.0"
edition = "2024"

[dependencies]
wit-websocket-guest = { path = "../wit-websocket-guest-0.1.0" }

[workspace]
"#,
    )
    .unwrap();
    std::fs::write(
        app.join("src/main.rs"),
        r#"use wit_websocket_guest::{Message, NetworkDevice};

wit_websocket_guest::export_handler!();

fn main() {
    let url = std::env::args().nth(1).expect("a URL");
    let ws = NetworkDevice::new().create_websocket(&url).expect("a valid URL");
    ws.on_open(|ws| ws.send_text("hello from the Rust package").expect("open"));
    ws.on_message(|ws, message| {
        if let Message::Text(text) = message {
            println!("echoed: {text}");
        }
        ws.close_with(1000, "done").expect("a valid close");
    });
    ws.on_close(|_, info| println!("closed {} {}", info.code, info.reason));
}
"#,
    )
    .unwrap();
    run(cargo_command()
        .current_dir(&app)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target));
    assert_echoes(
        &target.join("wasm32-wasip2/release/packed-app.wasm"),
        "Rust",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_javascript_app_builds_from_the_packed_npm_package() {
    let dir = scratch("js");
    let componentize = root().join("guest/componentize");
    run(Command::new(&componentize).args(["--install", "js"]));
    let packed = run(Command::new("npm")
        .current_dir(root().join("guest/js"))
        .args(["pack", "--silent", "--pack-destination"])
        .arg(&dir));
    let tarball = dir.join(packed.trim());
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("package.json"),
        format!(
            r#"{{"name": "packed-app", "private": true, "type": "module",
 "dependencies": {{"wit-websocket-guest": "file:{}"}}}}"#,
            tarball.display()
        ),
    )
    .unwrap();
    run(Command::new("npm").current_dir(&app).args([
        "install",
        "--offline",
        "--no-audit",
        "--no-fund",
    ]));
    std::fs::write(
        app.join("app.js"),
        r#"import { main, WebSocket } from 'wit-websocket-guest';
export { handler, watchHandler } from 'wit-websocket-guest';

export const run = main((args) => {
  const ws = new WebSocket(args[1]);
  ws.onopen = () => ws.send('hello from the JavaScript package');
  ws.onmessage = (event) => {
    console.log(`echoed: ${event.data}`);
    ws.close(1000, 'done');
  };
  ws.onclose = (event) => console.log(`closed ${event.code} ${event.reason}`);
});
"#,
    )
    .unwrap();
    // The typings, as a TypeScript app sees them through the package's exports.
    std::fs::write(
        app.join("check.ts"),
        r#"import { main, MessageEvent, WebSocket } from 'wit-websocket-guest';
import { NetworkDevice, WebSocketStream } from 'wit-websocket-guest/stream';

const ws: WebSocket = new WebSocket('ws://127.0.0.1/', ['chat']);
ws.binaryType = 'arraybuffer';
// @ts-expect-error: not a binary type
ws.binaryType = 'text';
ws.onmessage = (event: MessageEvent) => console.log(event.data);
ws.addEventListener('close', (event) => console.log(event.code, event.wasClean));
// @ts-expect-error: close codes are numbers
ws.close('1000');
const stream = new WebSocketStream('ws://127.0.0.1/');
stream.opened.then(({ readable }) => readable.getReader());
new NetworkDevice().createWebSocket('ws://127.0.0.1/')?.destroy();
export const run = main(async (args: string[]) => console.log(args.length));
"#,
    )
    .unwrap();
    run(Command::new(root().join("guest/js/node_modules/.bin/tsc"))
        .current_dir(&app)
        .args([
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--lib",
            "es2022,dom",
        ])
        .args(["--module", "nodenext", "check.ts"]));
    let wasm = dir.join("app.wasm");
    run(Command::new(&componentize)
        .env(
            "WIT_WEBSOCKET_WIT",
            app.join("node_modules/wit-websocket-guest/wit"),
        )
        .arg(app.join("app.js"))
        .arg(&wasm));
    assert_echoes(&wasm, "JavaScript").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_app_builds_from_the_sdk_wheel() {
    let dir = scratch("python");
    let componentize = root().join("guest/componentize");
    run(Command::new(&componentize).args(["--install", "python"]));
    let pip = root().join("target/guest-tools/python/bin/pip");
    // The build backend (setuptools) comes with the toolchain, not from PyPI.
    run(Command::new(&pip)
        .args([
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
        ])
        .arg(&dir)
        .arg(root().join("guest/python")));
    let site = dir.join("site");
    run(Command::new(&pip)
        .args(["install", "--quiet", "--no-deps", "--target"])
        .arg(&site)
        .arg(dir.join("wit_websocket-0.1.0-py3-none-any.whl")));
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("app.py"),
        r#"from wit_websocket import Handler, NetworkDevice, WatchHandler, main

__all__ = ["Handler", "Run", "WatchHandler"]


def start(args: list[str]) -> None:
    ws = NetworkDevice().create_websocket(args[1])
    ws.onopen = lambda ws: ws.send("hello from the Python package")

    @ws.on_message
    def _(ws, data):
        print(f"echoed: {data}")
        ws.close(1000, "done")

    ws.onclose = lambda ws, code, reason, clean: print(f"closed {code} {reason}")


Run = main(start)
"#,
    )
    .unwrap();
    let wasm = dir.join("app.wasm");
    run(Command::new(&componentize)
        .env("WIT_WEBSOCKET_WIT", site.join("wit_websocket/wit"))
        .env("WIT_WEBSOCKET_PYTHON_PATH", &site)
        .arg(app.join("app.py"))
        .arg(&wasm));
    assert_echoes(&wasm, "Python").await;
}

#[test]
fn the_wit_package_validates_and_builds_into_its_binary_form_with_wasm_tools() {
    let dir = scratch("wit");
    run(Command::new(root().join("guest/componentize")).args(["--install", "python"]));
    let wasm_tools = root().join("target/guest-tools/python/bin/wasm-tools");
    let printed = run(Command::new(&wasm_tools)
        .args(["component", "wit"])
        .arg(root().join("wit")));
    assert!(
        printed.starts_with("package wit-websocket:client@0.1.6;"),
        "{printed}"
    );
    // The binary package, as `wkg build` makes it from wit/ and wkg.toml.
    let package = dir.join("wit-websocket-client.wasm");
    run(Command::new(&wasm_tools)
        .args(["component", "wit", "--wasm", "-o"])
        .arg(&package)
        .arg(root().join("wit")));
    run(Command::new(&wasm_tools).arg("validate").arg(&package));
    let decoded = run(Command::new(&wasm_tools)
        .args(["component", "wit"])
        .arg(&package));
    for item in [
        "interface network",
        "interface handler",
        "interface watch-handler",
        "world app",
        "world guest",
    ] {
        assert!(
            decoded.contains(item),
            "{item} missing from the binary package:\n{decoded}"
        );
    }
}

#[test]
fn the_python_sdk_type_checks_with_mypy_strict() {
    // The SDK's hints, checked against the bindings componentize-py
    // generates for the WIT (the `wit_world` modules apps import).
    let dir = scratch("mypy");
    run(Command::new(root().join("guest/componentize")).args(["--install", "python"]));
    run(
        Command::new(root().join("target/guest-tools/python/bin/componentize-py"))
            .arg("-d")
            .arg(root().join("wit"))
            .args(["-w", "app", "bindings"])
            .arg(&dir),
    );
    let checked = run(Command::new(support::test_tool("mypy"))
        .current_dir(root().join("guest/python"))
        .env("MYPYPATH", &dir)
        .args(["--strict", "--python-version", "3.11"])
        .args(["--cache-dir", dir.join(".mypy_cache").to_str().unwrap()])
        .args(["wit_websocket", "wit_websocket_asyncio"]));
    assert!(checked.starts_with("Success"), "{checked}");
}
