//! An API endpoint from configuration (never from an event): `https://`, or `http://` only on a
//! loopback host, so a signed request, a key or a token never crosses a network in clear.

use reqwest::Url;

/// The configured endpoint is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`{0}` is not a URL")]
    NotUrl(String),
    #[error("`{0}` must use https:// (http:// only for loopback hosts)")]
    Insecure(String),
}

/// A validated API endpoint: `https://host[:port]`, or `http://` on a loopback host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: Url,
    host_header: String,
}

impl Endpoint {
    /// Parses and checks an endpoint URL.
    pub fn parse(s: &str) -> Result<Self, EndpointError> {
        let base = Url::parse(s.trim()).map_err(|_| EndpointError::NotUrl(s.to_string()))?;
        let host = base
            .host_str()
            .ok_or_else(|| EndpointError::NotUrl(s.to_string()))?
            .to_string();
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            _ => return Err(EndpointError::Insecure(s.to_string())),
        }
        let host_header = match base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Ok(Self { base, host_header })
    }

    /// The value of the `Host` header (and of the signed `host`).
    pub fn host(&self) -> &str {
        &self.host_header
    }

    /// The base URL.
    pub fn url(&self) -> &Url {
        &self.base
    }

    /// Whether the host is loopback: a local simulator or stand-in, addressed path-style.
    pub fn is_loopback(&self) -> bool {
        self.base.host_str().is_some_and(is_loopback)
    }

    /// The endpoint as given.
    pub fn as_str(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_rules() {
        assert!(Endpoint::parse("https://cdn.myhuaweicloud.com").is_ok());
        let e = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(e.host(), "127.0.0.1:8080");
        assert!(Endpoint::parse("http://localhost:1").is_ok());
        assert!(Endpoint::parse("http://[::1]:1").is_ok());
        assert_eq!(
            Endpoint::parse("http://cdn.example.com"),
            Err(EndpointError::Insecure("http://cdn.example.com".into()))
        );
        assert!(Endpoint::parse("http://10.0.0.1").is_err());
        assert!(Endpoint::parse("not a url").is_err());
        assert_eq!(
            Endpoint::parse("https://cdn.myhuaweicloud.com")
                .unwrap()
                .host(),
            "cdn.myhuaweicloud.com"
        );
    }
}
