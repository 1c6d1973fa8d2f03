//! tungstenite and rustls (with ring) in the guest over `wss://`, trusting
//! the CA given in PEM as `BENCH_CA_PEM`; see the library's docs.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

wit_websocket_guest::export_handler!();

fn main() {
    let args = bench_tungstenite::Args::from_env();
    let ca_pem = std::env::var("BENCH_CA_PEM").expect("BENCH_CA_PEM holds the test CA");
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(certificate.expect("a PEM certificate"))
            .expect("a usable CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(args.host().to_string()).expect("a valid server name");
    let connection =
        rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client connection");
    let tls = rustls::StreamOwned::new(connection, args.connect());
    bench_tungstenite::measure(&args, tls);
}
