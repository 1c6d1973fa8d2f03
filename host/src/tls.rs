//! TLS for `wss://`: rustls with the webpki root certificates, plus any CA
//! the embedder adds (e.g. a private test CA).

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::bindings::ErrorCode;

/// Reads every certificate of a PEM file, for
/// [`WebSocketConfig::extra_root_certificates`](crate::WebSocketConfig::extra_root_certificates).
pub fn load_ca_file(path: &Path) -> std::io::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(std::io::Error::other(format!(
            "{}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(certificates)
}

/// The client configuration: webpki roots plus `extra_roots`.
pub(crate) fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<ClientConfig>, ErrorCode> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in extra_roots {
        roots
            .add(certificate.clone())
            .map_err(|e| ErrorCode::Tls(format!("an extra root certificate is unusable: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ErrorCode::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
