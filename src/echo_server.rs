//! A small native WebSocket echo server on loopback, for the demo, the tests
//! and the benchmarks: it echoes every text and binary message, accepts
//! permessage-deflate when offered, and completes the closing handshake.
//! Over `wss://` it presents a certificate from a [`TestPki`] made for the run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use wit_websocket_host::deflate::{self, DeflateParams, DeflateStream};

/// A running echo server; it stops when dropped.
pub struct EchoServer {
    address: SocketAddr,
    accept_loop: JoinHandle<()>,
    compressed_messages: Arc<AtomicU64>,
    scheme: &'static str,
}

impl EchoServer {
    /// Starts a server on `127.0.0.1` on a free port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("a valid socket address")).await
    }

    /// Starts a server on `address` (port 0 picks a free one).
    pub async fn start_on(address: SocketAddr) -> std::io::Result<Self> {
        Self::listen(address, None).await
    }

    /// Starts a `wss://` server on `address` (port 0 picks a free one),
    /// presenting `pki`'s server certificate.
    pub async fn start_tls(address: SocketAddr, pki: &TestPki) -> std::io::Result<Self> {
        Self::listen(address, Some(pki.acceptor()?)).await
    }

    async fn listen(
        address: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let compressed_messages = Arc::new(AtomicU64::new(0));
        let counter = compressed_messages.clone();
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        let accept_loop = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let counter = counter.clone();
                match tls.clone() {
                    None => tokio::spawn(echo(tcp, counter)),
                    Some(acceptor) => tokio::spawn(async move {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            echo(tls, counter).await;
                        }
                    }),
                };
            }
        });
        Ok(Self {
            address,
            accept_loop,
            compressed_messages,
            scheme,
        })
    }

    /// Compressed (permessage-deflate) messages received so far, over all
    /// connections: each is counted before its echo is sent.
    pub fn compressed_messages_received(&self) -> u64 {
        self.compressed_messages.load(Ordering::Acquire)
    }

    /// The `ws://` (or `wss://`) URL of the server.
    pub fn url(&self) -> String {
        format!("{}://{}/", self.scheme, self.address)
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn echo<S>(stream: S, compressed_messages: Arc<AtomicU64>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut agreed: Option<DeflateParams> = None;
    #[allow(clippy::result_large_err)] // tungstenite's callback type, not ours
    let accept_deflate = |request: &Request, mut response: Response| {
        if let Some((params, answer)) =
            deflate::answer_offers(&deflate::extension_headers(request.headers()))
            && let Ok(answer) = HeaderValue::from_str(&answer)
        {
            response
                .headers_mut()
                .insert("sec-websocket-extensions", answer);
            agreed = Some(params);
        }
        Ok(response)
    };
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async(DeflateStream::new(stream), accept_deflate).await
    else {
        return;
    };
    ws.get_mut().negotiated(agreed.as_ref(), false, None);
    let mut deflater = agreed.map(|params| params.server_deflater());
    let mut counted = 0;
    while let Some(Ok(message)) = ws.next().await {
        // Counted before the echo goes out, so a client holding the echo
        // sees its message counted.
        let inflated = ws.get_ref().inflated_messages();
        compressed_messages.fetch_add(inflated - counted, Ordering::AcqRel);
        counted = inflated;
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => match &mut deflater {
                Some(deflater) => deflater.deflate(message),
                None => message,
            },
            // tungstenite answers pings and close frames by itself.
            _ => continue,
        };
        if ws.send(reply).await.is_err() {
            return;
        }
    }
}

/// A certificate authority made for one run, and a server certificate it
/// issued for some names (DNS names or IP addresses): what a `wss://` test or
/// benchmark on loopback needs, with nothing written to disk.
pub struct TestPki {
    /// The CA's certificate, for the client's roots.
    pub ca: CertificateDer<'static>,
    /// The same in PEM.
    pub ca_pem: String,
    /// The server's certificate chain.
    pub server_chain: Vec<CertificateDer<'static>>,
    /// The server's private key.
    pub server_key: PrivateKeyDer<'static>,
    /// A client certificate the CA issued (for mutual TLS), in PEM.
    pub client_cert_pem: String,
    /// Its private key, in PEM (PKCS#8).
    pub client_key_pem: String,
}

impl TestPki {
    /// A new CA and a server certificate for `names`.
    pub fn new(names: &[&str]) -> Result<Self, rcgen::Error> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wit-websocket test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let server_key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let server = CertificateParams::new(names)?.signed_by(&server_key, &ca)?;
        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wit-websocket test client");
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &ca)?;
        Ok(Self {
            ca: ca.der().clone(),
            ca_pem: ca.pem(),
            server_chain: vec![server.der().clone()],
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()).into(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        })
    }

    /// The rustls server configuration presenting the server certificate.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), self.server_key.clone_key())
    }

    /// As [`server_config`](Self::server_config), requiring a client
    /// certificate the CA issued (mutual TLS).
    pub fn server_config_requiring_clients(&self) -> Result<rustls::ServerConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone())?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.server_chain.clone(), self.server_key.clone_key())
    }

    /// A TLS acceptor presenting the server certificate, for a `wss://` server.
    pub fn acceptor(&self) -> std::io::Result<tokio_rustls::TlsAcceptor> {
        let config = self.server_config().map_err(std::io::Error::other)?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}
