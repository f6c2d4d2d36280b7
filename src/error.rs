//! Errors shared by every layer (a leaf: it imports nothing of the crate): a configuration error,
//! a request field's error, and the codes a result's errors carry.

/// A configuration value that cannot be used; `variable` names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.to_string(),
            message: message.into(),
        }
    }
}

/// A request field that cannot be used; `field` names it (a path such as
/// `certificate_source.bucket`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What kind of error a result carries: one of the function's own codes (lower-case words, SPEC
/// section 3), or a code an upstream service gave (`CDN.0170`, `APIGW.0301`, a chat tool's
/// number), passed through unchanged. The JSON `error.code` is only its serialized form; the HTTP
/// status and the exit code a run-level error earns are decided here, on the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request (or event) is invalid: the caller's to fix.
    InvalidRequest,
    /// A setting of the function is missing or unusable: the operator's to fix (still spelled
    /// `invalid_request`, with the variable as `field`).
    InvalidConfiguration,
    InvalidCertificate,
    KeyMismatch,
    CertificateExpired,
    /// The chain does not build to a trusted root, cannot serve TLS, or has a weak key.
    UntrustedChain,
    /// The certificate store could not be read or holds no usable pair.
    CertificateSource,
    /// The account's keys (`huawei_credentials`) could not be read or are not usable.
    HuaweiCredentials,
    DomainNotCovered,
    NoMatchingDomains,
    AuthFailed,
    Throttled,
    UpstreamUnavailable,
    /// The CDN refused one domain of a batch write ("internal error, please retry").
    UpstreamRejected,
    ConfigureFailed,
    BudgetExhausted,
    /// The domain is offline, being checked or deleted.
    DomainUnavailable,
    SmCertificateInUse,
    /// The domain serves a certificate for the same names that expires later.
    NewerCertificateLive,
    /// A write changed settings the request did not ask to change, and they could not be
    /// written back.
    SettingsChanged,
    /// A bug of ours; never expected.
    InternalError,
    /// A notification channel refused the message without a code of its own.
    Rejected,
    /// The edge check (`verify_edge`): the domain has no CDN CNAME to connect to.
    EdgeNoCname,
    /// The edge check: the CNAME did not resolve.
    EdgeDns,
    /// The edge check: no connection to the edge.
    EdgeUnreachable,
    /// The edge check: the handshake failed or showed no certificate.
    EdgeTls,
    /// The edge check: out of time.
    EdgeTimeout,
    /// Any other code: an upstream service's (the CDN's, a chat tool's), passed through.
    Other(String),
}

/// The HTTP status class a run-level error earns (SPEC section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpClass {
    /// 400: the caller sent something invalid.
    BadRequest,
    /// 422: retrying will not help (the certificate does not cover the domains).
    Unprocessable,
    /// 500: the function is misconfigured (nothing the caller can do).
    ServerError,
    /// 502: a service behind the function failed.
    BadGateway,
}

impl HttpClass {
    /// The status code.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unprocessable => 422,
            Self::ServerError => 500,
            Self::BadGateway => 502,
        }
    }
}

const OWN: [(ErrorCode, &str); 26] = [
    (ErrorCode::InvalidRequest, "invalid_request"),
    (ErrorCode::InvalidCertificate, "invalid_certificate"),
    (ErrorCode::KeyMismatch, "key_mismatch"),
    (ErrorCode::CertificateExpired, "certificate_expired"),
    (ErrorCode::UntrustedChain, "untrusted_chain"),
    (ErrorCode::CertificateSource, "certificate_source"),
    (ErrorCode::HuaweiCredentials, "huawei_credentials"),
    (ErrorCode::DomainNotCovered, "domain_not_covered"),
    (ErrorCode::NoMatchingDomains, "no_matching_domains"),
    (ErrorCode::AuthFailed, "auth_failed"),
    (ErrorCode::Throttled, "throttled"),
    (ErrorCode::UpstreamUnavailable, "upstream_unavailable"),
    (ErrorCode::UpstreamRejected, "upstream_rejected"),
    (ErrorCode::ConfigureFailed, "configure_failed"),
    (ErrorCode::BudgetExhausted, "budget_exhausted"),
    (ErrorCode::DomainUnavailable, "domain_unavailable"),
    (ErrorCode::SmCertificateInUse, "sm_certificate_in_use"),
    (ErrorCode::SettingsChanged, "settings_changed"),
    (ErrorCode::NewerCertificateLive, "newer_certificate_live"),
    (ErrorCode::InternalError, "internal_error"),
    (ErrorCode::Rejected, "rejected"),
    (ErrorCode::EdgeNoCname, "edge_no_cname"),
    (ErrorCode::EdgeDns, "edge_dns"),
    (ErrorCode::EdgeUnreachable, "edge_unreachable"),
    (ErrorCode::EdgeTls, "edge_tls"),
    (ErrorCode::EdgeTimeout, "edge_timeout"),
];

impl ErrorCode {
    /// The code as the result spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidConfiguration => "invalid_request",
            Self::Other(code) => code,
            own => OWN
                .iter()
                .find(|(c, _)| c == own)
                .map_or("internal_error", |(_, s)| s),
        }
    }

    /// The code a text names: one of ours, or another passed through.
    pub fn parse(code: &str) -> Self {
        OWN.iter()
            .find(|(_, s)| *s == code)
            .map_or_else(|| Self::Other(code.to_string()), |(c, _)| c.clone())
    }

    /// The HTTP status class of a run that ends with this error before any domain was tried.
    pub fn http_class(&self) -> HttpClass {
        match self {
            Self::InvalidRequest
            | Self::InvalidCertificate
            | Self::KeyMismatch
            | Self::CertificateExpired
            | Self::UntrustedChain => HttpClass::BadRequest,
            Self::InvalidConfiguration | Self::InternalError => HttpClass::ServerError,
            Self::DomainNotCovered | Self::NoMatchingDomains | Self::NewerCertificateLive => {
                HttpClass::Unprocessable
            }
            _ => HttpClass::BadGateway,
        }
    }

    /// Whether the request (or the function's setup) is at fault: exit code 2 rather than 1.
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            Self::InvalidRequest
                | Self::InvalidConfiguration
                | Self::InvalidCertificate
                | Self::KeyMismatch
                | Self::CertificateExpired
                | Self::UntrustedChain
                | Self::CertificateSource
                | Self::HuaweiCredentials
                | Self::InternalError
        )
    }

    /// Whether a store read before any CDN call failed (a certificate source, the account's
    /// keys): an outage exits 1 and answers 502, a bad reference exits 2.
    pub fn is_store(&self) -> bool {
        matches!(self, Self::CertificateSource | Self::HuaweiCredentials)
    }

    /// Whether a run that met this error may do better when it is run again, as its result says
    /// unless a case knows better ([`crate::result::ErrorInfo::with_retryable`]): an outage, a
    /// throttle, a spent budget, a domain not yet ready may pass; a request, a certificate or a
    /// setup at fault will not. A code passed through says nothing by itself: not retryable,
    /// unless its caller says so.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled
                | Self::UpstreamUnavailable
                | Self::UpstreamRejected
                | Self::ConfigureFailed
                | Self::BudgetExhausted
                | Self::DomainUnavailable
                | Self::SettingsChanged
                | Self::InternalError
                | Self::EdgeNoCname
                | Self::EdgeDns
                | Self::EdgeUnreachable
                | Self::EdgeTls
                | Self::EdgeTimeout
        )
    }

    /// Whether a domain skipped with this code was stopped by the CDN (502) rather than by the
    /// request.
    pub fn is_cdn_side(&self) -> bool {
        matches!(
            self,
            Self::AuthFailed
                | Self::Throttled
                | Self::UpstreamUnavailable
                | Self::BudgetExhausted
                | Self::DomainUnavailable
        )
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_pass_others_through() {
        for (code, text) in &OWN {
            assert_eq!(code.as_str(), *text);
            assert_eq!(&ErrorCode::parse(text), code);
        }
        assert_eq!(
            ErrorCode::parse("CDN.0170"),
            ErrorCode::Other("CDN.0170".into())
        );
        assert_eq!(ErrorCode::InvalidConfiguration.as_str(), "invalid_request");
        assert_eq!(
            ErrorCode::parse("invalid_request"),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn classes_follow_the_contract() {
        assert_eq!(ErrorCode::InvalidRequest.http_class().status(), 400);
        assert_eq!(ErrorCode::InvalidConfiguration.http_class().status(), 500);
        assert_eq!(ErrorCode::NoMatchingDomains.http_class().status(), 422);
        assert_eq!(ErrorCode::CertificateSource.http_class().status(), 502);
        assert_eq!(ErrorCode::parse("APIGW.0301").http_class().status(), 502);
        assert!(ErrorCode::KeyMismatch.is_invalid());
        assert_eq!(ErrorCode::UntrustedChain.http_class().status(), 400);
        assert!(ErrorCode::UntrustedChain.is_invalid());
        assert!(!ErrorCode::Throttled.is_invalid());
        assert!(ErrorCode::Throttled.is_cdn_side());
        assert!(!ErrorCode::DomainNotCovered.is_cdn_side());
    }
}
