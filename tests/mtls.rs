//! Mutual TLS: the host presents a client certificate to the servers it is
//! configured for; a server that requires one refuses a client without it,
//! and the guest reads a `tls` error. The guest never sees the key.

mod support;

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wit_websocket_host::WebSocketConfig;
use wit_websocket_host::tls::ClientCertificate;

use support::{TestPki, TestServer, allow_all, echo_journaling, probe_with, serve_tls_with};

/// A wss:// echo server on 127.0.0.1 that requires a client certificate
/// `pki`'s CA issued.
async fn server_requiring_clients(pki: &TestPki) -> TestServer {
    let config = pki.server_config_requiring_clients().unwrap();
    serve_tls_with(
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        echo_journaling,
    )
    .await
}

fn presenting(pki: &TestPki, host: &str) -> WebSocketConfig {
    let chain = CertificateDer::pem_slice_iter(pki.client_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).unwrap();
    WebSocketConfig {
        extra_root_certificates: vec![pki.ca.clone()],
        client_certificates: vec![ClientCertificate::new(host, chain, key)],
        ..allow_all()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_requiring_a_client_certificate_accepts_the_one_the_host_presents() {
    let pki = TestPki::new(&["127.0.0.1"]).unwrap();
    let server = server_requiring_clients(&pki).await;
    let url = format!("wss://{}/", server.address);
    let run = probe_with("pull", &[&url], presenting(&pki, "127.0.0.1")).await;
    assert_eq!(
        run.line("pull 1 close"),
        "pull 1 close 1000 clean=true reason=done",
        "{:#?}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_client_certificate_the_guest_reads_a_tls_error() {
    let pki = TestPki::new(&["127.0.0.1"]).unwrap();
    let server = server_requiring_clients(&pki).await;
    let url = format!("wss://{}/", server.address);
    // None at all, and one for another host (not presented here).
    let none = WebSocketConfig {
        extra_root_certificates: vec![pki.ca.clone()],
        ..allow_all()
    };
    for config in [none, presenting(&pki, "*.example.com")] {
        let run = probe_with("observe", &[&url], config).await;
        run.assert_failed_at(0, "tls ");
        assert!(
            run.stdout[0].to_lowercase().contains("certificate"),
            "{}",
            run.stdout[0]
        );
    }
    assert!(
        server
            .journal
            .lines()
            .iter()
            .all(|line| line.starts_with("tls-failed")),
        "{:?}",
        server.journal.lines()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_presents_the_client_certificate_named_for_the_host() {
    let pki = TestPki::new(&["127.0.0.1"]).unwrap();
    let server = server_requiring_clients(&pki).await;
    let dir = std::env::temp_dir().join(format!("wit-websocket-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("client.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    std::fs::write(&cert, &pki.client_cert_pem).unwrap();
    std::fs::write(&key, &pki.client_key_pem).unwrap();
    let probe = format!("{}/probe.wasm", wit_websocket_cli::BUILT_GUESTS_DIR);
    let url = format!("wss://{}/", server.address);
    let output = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wit-websocket"))
            .args(["run", "--allow-net", "--ca-file"])
            .arg(&ca)
            .arg("--client-cert")
            .arg(format!("127.0.0.1={},{}", cert.display(), key.display()))
            .args([probe.as_str(), "--", "pull", &url])
            .output()
            .unwrap()
    });
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("pull 1 close 1000 clean=true reason=done"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
