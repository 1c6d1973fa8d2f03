//! TLS for `wss://`: rustls with the webpki root certificates, plus any CA
//! the embedder adds (e.g. a private test CA), and client certificates the
//! host presents to the servers they are for (mutual TLS). The guest never
//! sees a key.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

#[cfg(feature = "tls")]
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;

use crate::read_ahead::ReadAhead;

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

/// A client certificate (and its key) the host presents to servers whose
/// name matches `host`: a name (`api.example.com`), a `*.` pattern
/// (`*.example.com`, any subdomain) or an IP address.
///
/// ```no_run
/// use wit_websocket_host::WebSocketConfig;
/// use wit_websocket_host::tls::ClientCertificate;
///
/// let config = WebSocketConfig {
///     client_certificates: vec![ClientCertificate::from_pem_files(
///         "*.internal.example",
///         "client.pem".as_ref(),
///         "client-key.pem".as_ref(),
///     )?],
///     ..WebSocketConfig::default()
/// };
/// # let _ = config;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientCertificate {
    host: String,
    chain: Vec<CertificateDer<'static>>,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    key: Arc<PrivateKeyDer<'static>>,
}

impl ClientCertificate {
    /// The certificate `chain` (leaf first) and its `key`, for `host`.
    ///
    /// ```no_run
    /// use rustls_pki_types::pem::PemObject;
    /// use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    /// use wit_websocket_host::tls::ClientCertificate;
    ///
    /// # fn example(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), rustls_pki_types::pem::Error> {
    /// let chain = CertificateDer::pem_slice_iter(cert_pem).collect::<Result<Vec<_>, _>>()?;
    /// let key = PrivateKeyDer::from_pem_slice(key_pem)?;
    /// let certificate = ClientCertificate::new("api.example.com", chain, key);
    /// assert!(certificate.matches("API.example.com"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(
        host: &str,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        Self {
            host: host.to_ascii_lowercase(),
            chain,
            key: Arc::new(key),
        }
    }

    /// Reads the certificate chain and the private key (PKCS#8, PKCS#1 or
    /// SEC1) from PEM files, as the CLI's `--client-cert HOST=CERT,KEY` does.
    ///
    /// ```no_run
    /// use wit_websocket_host::tls::ClientCertificate;
    ///
    /// let certificate =
    ///     ClientCertificate::from_pem_files("api.example.com", "c.pem".as_ref(), "k.pem".as_ref())?;
    /// # let _ = certificate;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_pem_files(host: &str, certificate: &Path, key: &Path) -> std::io::Result<Self> {
        let chain = load_ca_file(certificate)?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", key.display())))?;
        Ok(Self::new(host, chain, key))
    }

    /// Whether this certificate is for `host` (compared without case).
    ///
    /// ```no_run
    /// # use wit_websocket_host::tls::ClientCertificate;
    /// # fn example(certificate: ClientCertificate) {
    /// // For a certificate made for "*.example.com":
    /// assert!(certificate.matches("chat.example.com"));
    /// assert!(!certificate.matches("example.com"));
    /// # }
    /// ```
    pub fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
            None => host == self.host,
        }
    }
}

/// Never shows the key.
impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClientCertificate {{ host: {:?}, chain: {} certificate(s) }}",
            self.host,
            self.chain.len()
        )
    }
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

/// The client configuration: webpki roots plus `extra_roots`, presenting
/// `client` when given.
#[cfg(feature = "tls")]
pub(crate) fn client_config(
    extra_roots: &[CertificateDer<'static>],
    client: Option<&ClientCertificate>,
) -> Result<ClientTls, ErrorCode> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in extra_roots {
        roots
            .add(certificate.clone())
            .map_err(|e| ErrorCode::Tls(format!("an extra root certificate is unusable: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ErrorCode::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(client) => builder
            .with_client_auth_cert(client.chain.clone(), client.key.clone_key())
            .map_err(|e| {
                ErrorCode::Tls(format!(
                    "the client certificate for {} is unusable: {e}",
                    client.host
                ))
            })?,
    };
    Ok(Arc::new(config))
}

#[cfg(not(feature = "tls"))]
const WITHOUT_TLS: &str =
    "this host was built without TLS (wit-websocket-host's `tls` feature): wss:// is unavailable";

/// Without the `tls` feature a `wss://` URL fails at `create-websocket`.
#[cfg(not(feature = "tls"))]
pub(crate) fn client_config(
    _extra_roots: &[CertificateDer<'static>],
    _client: Option<&ClientCertificate>,
) -> Result<ClientTls, ErrorCode> {
    Err(ErrorCode::Tls(WITHOUT_TLS.to_string()))
}

/// The connection's transport: `tcp` itself, or TLS over it when `tls` is set.
/// Beneath TLS too, reading ahead saves reads: rustls asks for 4 KiB at a time.
pub(crate) async fn secure(
    tls: Option<ClientTls>,
    host: &str,
    tcp: ReadAhead<TcpStream>,
) -> Result<MaybeTlsStream<ReadAhead<TcpStream>>, ErrorCode> {
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

/// Whether `error` (from reading or writing a TLS stream) is TLS failing:
/// an alert from the server (e.g. it wanted a client certificate), or a
/// certificate that does not verify.
pub(crate) fn is_tls_error(error: &std::io::Error) -> bool {
    #[cfg(feature = "tls")]
    {
        error
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>())
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = error;
        false
    }
}
