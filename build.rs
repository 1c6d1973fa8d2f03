//! Compiles the workspace's guest components (the examples and the test
//! guests) for wasm32-wasip2, so `wit-websocket demo` can embed the echo
//! example and `cargo test` has real components to run. They get a target
//! directory of their own: the outer cargo holds the lock on the main one.

use std::path::PathBuf;
use std::process::Command;

/// The guest packages of the workspace, built together in one cargo run.
const GUESTS: &[&str] = &[
    "echo",
    "async-echo",
    "reconnect",
    "chat",
    "fetch-token",
    "probe",
    "autobahn",
    "bench",
    "bench-tungstenite",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-guests");
    for watched in ["wit", "guest", "examples", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let guest_build = |extra: &[&str]| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target_dir)
            .args(extra);
        // The outer build's flags and wrappers (clippy's driver, coverage) are
        // for the host, not for the guests.
        for variable in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTC_WRAPPER",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
        ] {
            build.env_remove(variable);
        }
        build
            .status()
            .expect("running cargo to build the guest components")
    };
    let mut packages: Vec<&str> = GUESTS.iter().flat_map(|guest| ["-p", guest]).collect();
    // The in-guest baseline with permessage-deflate (pure Rust: no C compiler).
    packages.extend(["--features", "bench-tungstenite/deflate"]);
    if !guest_build(&packages).success() {
        panic!(
            "building the guest components failed; is the target installed? \
             `rustup target add wasm32-wasip2`"
        );
    }
    // The bench's in-guest wss baseline compiles ring's C code for wasm32,
    // which takes clang; without it the bench leaves those figures out.
    let tls_guest = [
        "-p",
        "bench-tungstenite",
        "--features",
        "tls",
        "--bin",
        "bench-tungstenite-tls",
    ];
    let has_clang = Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    // Without clang nothing is said here: the bench says which figures it lacks.
    if has_clang && !guest_build(&tls_guest).success() {
        println!(
            "cargo:warning=building the bench's in-guest wss baseline failed; the bench leaves it out"
        );
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=WIT_WEBSOCKET_GUESTS_DIR={}", out.display());
}
