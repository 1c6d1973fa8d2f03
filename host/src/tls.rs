//! TLS for `wss://`: rustls with the webpki root certificates, plus any CA
//! the embedder adds (e.g. a private test CA).

use std::path::Path;
#[cfg(feature = "tls")]
use std::sync::Arc;

#[cfg(feature = "tls")]
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;

use crate::bindings::ErrorCode;

/// Reads every certificate of a PEM file, for
/// [`WebSocketConfig::extra_root_certificates`](crate::WebSocketConfig::extra_root_certificates).
///
/// ```no_run
/// use wit_websocket_host::{WebSocketConfig, tls::load_ca_file};
///
/// let config = WebSocketConfig {
///     // A private CA, e.g. the one an internal service's certificates come from.
///     extra_root_certificates: load_ca_file("internal-ca.pem".as_ref())?,
///     ..WebSocketConfig::default()
/// };
/// # let _ = config;
/// # Ok::<(), std::io::Error>(())
/// ```
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

/// What a `wss://` connection needs: the client configuration, shared by
/// all of a guest's sockets.
#[cfg(feature = "tls")]
pub(crate) type ClientTls = Arc<ClientConfig>;

/// Never made ([`client_config`] fails): without the `tls` feature no
/// `wss://` socket is created.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) struct ClientTls;

/// The client configuration: webpki roots plus `extra_roots`.
#[cfg(feature = "tls")]
pub(crate) fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<ClientTls, ErrorCode> {
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

#[cfg(not(feature = "tls"))]
const WITHOUT_TLS: &str =
    "this host was built without TLS (wit-websocket-host's `tls` feature): wss:// is unavailable";

/// Without the `tls` feature a `wss://` URL fails at `create-websocket`.
#[cfg(not(feature = "tls"))]
pub(crate) fn client_config(
    _extra_roots: &[CertificateDer<'static>],
) -> Result<ClientTls, ErrorCode> {
    Err(ErrorCode::Tls(WITHOUT_TLS.to_string()))
}

/// The connection's transport: `tcp` itself, or TLS over it when `tls` is set.
pub(crate) async fn secure(
    tls: Option<ClientTls>,
    host: &str,
    tcp: TcpStream,
) -> Result<MaybeTlsStream<TcpStream>, ErrorCode> {
    let Some(config) = tls else {
        return Ok(MaybeTlsStream::Plain(tcp));
    };
    #[cfg(feature = "tls")]
    {
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| ErrorCode::Tls(format!("{host:?} is not a valid TLS server name: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| ErrorCode::Tls(format!("TLS handshake with {host}: {e}")))?;
        Ok(MaybeTlsStream::Rustls(stream))
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (config, host, tcp);
        Err(ErrorCode::Tls(WITHOUT_TLS.to_string()))
    }
}
