//! The QUIC client configuration: rustls (TLS 1.3, ring) offering ALPN `h3`,
//! trusting `--ca`, the web PKI, or anything (`--insecure`); no keep-alive
//! and no client idle timeout, so the server's idle timeout alone applies
//! (RFC 9000 §10.1: the smaller non-zero value of the two wins).

use std::sync::Arc;

use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::args::Args;
use crate::Error;

/// The quinn client config for every connection of this run.
pub fn client_config(args: &Args) -> Result<quinn::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let (chains, pinned) = if args.insecure {
        (None, Vec::new())
    } else {
        let (roots, pinned) = roots(args)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("TLS roots: {e}"))?;
        (Some(webpki), pinned)
    };
    let verifier = Verifier {
        pinned,
        chains,
        algorithms,
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|e| format!("QUIC TLS: {e}"))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(None).max_idle_timeout(None);
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The trust anchors (`--ca`'s certificates, or the web PKI's) and the
/// `--ca` certificates themselves, to accept as they are.
fn roots(args: &Args) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), Error> {
    let Some(ca) = &args.ca else {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        return Ok((roots, Vec::new()));
    };
    let bad = |e: &dyn std::fmt::Display| format!("{}: {e}", ca.display());
    let mut store = RootCertStore::empty();
    let mut pinned = Vec::new();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(&e))? {
        let cert = cert.map_err(|e| bad(&e))?;
        store.add(cert.clone()).map_err(|e| bad(&e))?;
        pinned.push(cert);
    }
    if store.is_empty() {
        return Err(bad(&"no certificate"));
    }
    Ok((store, pinned))
}

/// Which server certificates are accepted. A server presenting one of the
/// `--ca` certificates itself is trusted (a self-signed test certificate,
/// which `openssl req -x509` marks as a CA, so webpki alone would refuse
/// it as an end entity); any other must chain to the roots; with
/// `--insecure` (`chains: None`) anything goes. Handshake signatures are
/// always checked.
#[derive(Debug)]
struct Verifier {
    pinned: Vec<CertificateDer<'static>>,
    chains: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.chains {
            _ if self
                .pinned
                .iter()
                .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            None => Ok(ServerCertVerified::assertion()),
            Some(chains) => {
                chains.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
