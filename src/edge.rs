//! The edge check (`options.verify_edge`): after a domain is live, a TLS handshake to its CDN
//! CNAME on port 443, with the domain as SNI, records the leaf the edge serves. It is an
//! observation, not a trust decision: the verifier accepts any certificate (it still checks the
//! handshake's signatures) and the leaf is only fingerprinted and dated. DNS failures, closed
//! ports and timeouts are data in the result, never retried.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

use crate::cert;
use crate::error::ConfigError;
use crate::error::ErrorCode;
pub use crate::result::EdgeReport;
use crate::result::ErrorInfo;

/// The longest one check may take (DNS, connect and handshake together).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(4);
/// Checks in flight at once.
const PARALLEL: usize = 32;

impl EdgeReport {
    /// A check that read nothing: where it went (if it got that far) and why.
    pub(crate) fn failed(
        address: Option<SocketAddr>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            address: address.map(|a| a.to_string()),
            serves_new_certificate: None,
            sha256_fingerprint: None,
            not_after: None,
            not_after_unix: None,
            error: Some(ErrorInfo::new(code, message)),
        }
    }
}

/// `DEPLOY_EDGE_CONNECT` (`host=127.0.0.1:PORT,...`): names mapped to loopback addresses, for
/// tests and the demo. Nothing else may be mapped: an edge check never goes where DNS does not
/// send it, but to this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeConnect(BTreeMap<String, SocketAddr>);

impl EdgeConnect {
    /// Parses the variable's value.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let err = |m: String| ConfigError::new("DEPLOY_EDGE_CONNECT", m);
        let mut map = BTreeMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (host, addr) = entry
                .split_once('=')
                .ok_or_else(|| err(format!("`{entry}` is not host=127.0.0.1:PORT")))?;
            let addr: SocketAddr = addr
                .trim()
                .parse()
                .map_err(|_| err(format!("`{addr}` is not an IP address and port")))?;
            if !addr.ip().is_loopback() {
                return Err(err(format!("`{addr}` is not a loopback address")));
            }
            map.insert(host.trim().to_ascii_lowercase(), addr);
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str) -> Option<SocketAddr> {
        self.0.get(&name.to_ascii_lowercase()).copied()
    }
}

/// The SNI a check sends for `domain`: a CDN wildcard domain is asked for a name under it.
pub fn sni_name(domain: &str) -> String {
    match domain.strip_prefix("*.") {
        Some(rest) => format!("edge-check.{rest}"),
        None => domain.to_string(),
    }
}

/// One domain to check: its name and the CNAME its DNS points at (if known).
#[derive(Debug, Clone)]
pub struct Target {
    pub domain: String,
    pub cname: Option<String>,
}

/// Checks every target, a few at a time, each within [`CHECK_TIMEOUT`] and the deadline; one
/// report per target, in order.
pub async fn check_all(
    targets: Vec<Target>,
    connect: &EdgeConnect,
    new_fingerprint: Option<&str>,
    deadline: Instant,
) -> Vec<EdgeReport> {
    let config = Arc::new(tls_config());
    futures_util::stream::iter(targets)
        .map(|t| {
            let config = config.clone();
            async move {
                let until = deadline.min(Instant::now() + CHECK_TIMEOUT);
                match timeout_at(until, check(&t, connect, config, new_fingerprint)).await {
                    Ok(report) => report,
                    Err(_) => EdgeReport::failed(
                        None,
                        ErrorCode::EdgeTimeout,
                        "no TLS answer from the edge in time",
                    ),
                }
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await
}

async fn check(
    target: &Target,
    connect: &EdgeConnect,
    config: Arc<ClientConfig>,
    new_fingerprint: Option<&str>,
) -> EdgeReport {
    let Some(cname) = target.cname.as_deref().filter(|c| !c.is_empty()) else {
        return EdgeReport::failed(
            None,
            ErrorCode::EdgeNoCname,
            "the CDN gave no CNAME for this domain",
        );
    };
    let address = match connect.get(cname).or_else(|| connect.get(&target.domain)) {
        Some(a) => a,
        None => match tokio::net::lookup_host((cname, 443)).await {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => a,
                None => {
                    return EdgeReport::failed(
                        None,
                        ErrorCode::EdgeDns,
                        format!("{cname} has no address"),
                    )
                }
            },
            Err(e) => {
                return EdgeReport::failed(
                    None,
                    ErrorCode::EdgeDns,
                    format!("{cname} does not resolve: {e}"),
                )
            }
        },
    };
    let stream = match TcpStream::connect(address).await {
        Ok(s) => s,
        Err(e) => {
            return EdgeReport::failed(
                Some(address),
                ErrorCode::EdgeUnreachable,
                format!("could not connect: {e}"),
            )
        }
    };
    let sni = sni_name(&target.domain);
    let Ok(server_name) = ServerName::try_from(sni.clone()) else {
        return EdgeReport::failed(
            Some(address),
            ErrorCode::EdgeTls,
            format!("`{sni}` is not a name TLS can ask for"),
        );
    };
    let tls = match TlsConnector::from(config)
        .connect(server_name, stream)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            return EdgeReport::failed(
                Some(address),
                ErrorCode::EdgeTls,
                format!("TLS handshake failed: {e}"),
            )
        }
    };
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec());
    let Some(der) = leaf else {
        return EdgeReport::failed(
            Some(address),
            ErrorCode::EdgeTls,
            "the edge sent no certificate",
        );
    };
    match cert::inspect(&der) {
        Ok(info) => EdgeReport {
            address: Some(address.to_string()),
            serves_new_certificate: new_fingerprint
                .map(|f| f.eq_ignore_ascii_case(&info.sha256_fingerprint)),
            sha256_fingerprint: Some(info.sha256_fingerprint),
            not_after: Some(info.not_after),
            not_after_unix: Some(info.not_after_unix),
            error: None,
        },
        Err(e) => EdgeReport::failed(
            Some(address),
            ErrorCode::EdgeTls,
            format!("the served certificate does not parse: {e}"),
        ),
    }
}

/// A client that records whatever the edge serves: no trust decision is made from it.
fn tls_config() -> ClientConfig {
    let provider = Arc::new(crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Observe(provider)))
        .with_no_client_auth()
}

/// Accepts any certificate (the check observes what the edge serves), but still verifies the
/// handshake's signatures, so what is recorded is what the peer holds the key of.
#[derive(Debug)]
struct Observe(Arc<CryptoProvider>);

impl ServerCertVerifier for Observe {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_for_a_wildcard_domain_is_a_name_under_it() {
        assert_eq!(sni_name("*.example.com"), "edge-check.example.com");
        assert_eq!(sni_name("www.example.com"), "www.example.com");
    }

    #[test]
    fn connect_maps_only_to_loopback() {
        let c = EdgeConnect::parse("a.cdnhwc1.com=127.0.0.1:8443, B.example.com=[::1]:9").unwrap();
        assert_eq!(
            c.get("A.CDNHWC1.com"),
            Some("127.0.0.1:8443".parse().unwrap())
        );
        assert_eq!(c.get("b.example.com"), Some("[::1]:9".parse().unwrap()));
        let e = EdgeConnect::parse("a=10.0.0.1:443").unwrap_err();
        assert_eq!(e.variable, "DEPLOY_EDGE_CONNECT");
        assert!(EdgeConnect::parse("a=localhost").is_err());
        assert!(EdgeConnect::parse("nonsense").is_err());
    }
}
