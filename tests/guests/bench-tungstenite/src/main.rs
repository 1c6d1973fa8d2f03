//! tungstenite in the guest over `ws://`; see the library's docs.

wit_websocket_guest::export_handler!();

fn main() {
    let args = bench_tungstenite::Args::from_env();
    let tcp = args.connect();
    bench_tungstenite::measure(&args, tcp);
}
