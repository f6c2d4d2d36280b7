//! Why a certificate source could not be read: a reason word the result reports, and the store's
//! own code and message (never a stored value).

/// The reason a source failed, as the result's `error.reason` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The secret, parameter, bucket or object does not exist.
    NotFound,
    /// The function's role or agency may not read it.
    AccessDenied,
    /// The store refused the function's credentials (bad, expired or unsigned).
    AuthFailed,
    /// The stored JSON lacks the named key (or any known layout).
    BadJsonKey,
    /// The stored value is not a usable certificate and key.
    InvalidContent,
    /// The function lacks the settings to reach the store (keys, region, project).
    NotConfigured,
    /// The store did not answer usefully (5xx, throttling, network, timeout); retrying may help.
    Unavailable,
    /// Any other refusal.
    Rejected,
}

impl Reason {
    /// The word reported in results and logs.
    pub fn word(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AccessDenied => "access_denied",
            Self::AuthFailed => "auth_failed",
            Self::BadJsonKey => "bad_json_key",
            Self::InvalidContent => "invalid_content",
            Self::NotConfigured => "not_configured",
            Self::Unavailable => "unavailable",
            Self::Rejected => "rejected",
        }
    }
}

/// A failed read of one store call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct FetchError {
    pub reason: Reason,
    pub detail: String,
    pub request_id: Option<String>,
}

impl FetchError {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            request_id: None,
        }
    }

    /// A store's error answer: its HTTP status and its own code decide the reason.
    pub fn answer(status: u16, code: &str, message: &str, request_id: Option<String>) -> Self {
        let reason = classify(status, code);
        // The service may quote the request it expected, credentials and token included.
        let code = crate::redact::upstream(code);
        let message = crate::redact::upstream(message);
        let detail = match (code.is_empty(), message.is_empty()) {
            (true, true) => format!("HTTP {status}"),
            (false, true) => format!("HTTP {status} {code}"),
            (true, false) => format!("HTTP {status}: {message}"),
            (false, false) => format!("HTTP {status} {code}: {message}"),
        };
        Self {
            reason,
            detail,
            request_id,
        }
    }

    /// Whether trying again may succeed.
    pub fn retryable(&self) -> bool {
        self.reason == Reason::Unavailable
    }
}

/// AWS, OBS, CSMS and SCM codes (and plain statuses) to a reason.
fn classify(status: u16, code: &str) -> Reason {
    const NOT_FOUND: &[&str] = &[
        "ResourceNotFoundException",
        "ParameterNotFound",
        "ParameterVersionNotFound",
        "NoSuchKey",
        "NoSuchBucket",
        // CSMS: secret, then version, not found (answered with 400 or 404).
        "CSMS.0106",
        "CSMS.0005",
        // SCM: "Abnormal certificate ID" (400), what an id it does not hold is answered with.
        "SCM.0008",
    ];
    const AUTH: &[&str] = &[
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "RequestTimeTooSkewed",
        "InvalidToken",
    ];
    const BUSY: &[&str] = &[
        "ThrottlingException",
        "Throttling",
        "SlowDown",
        "ThrottledException",
        "InternalServiceError",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
    ];
    if BUSY.contains(&code) || status == 429 || status >= 500 {
        Reason::Unavailable
    } else if NOT_FOUND.contains(&code) {
        Reason::NotFound
    } else if code == "VirtualHostDomainRequired" {
        // OBS refusing path-style addressing: the endpoint setting, not a permission.
        Reason::NotConfigured
    } else if code == "InvalidObjectState" {
        // An archived (Glacier) object answers 403, but no permission change will help.
        Reason::InvalidContent
    } else if AUTH.contains(&code)
        || (code.starts_with("APIGW.03") && status != 403)
        || status == 401
    {
        // The gateway's 403s (APIGW.0302/0304/0306) say "not authorized", not "bad keys".
        Reason::AuthFailed
    } else if code.contains("AccessDenied")
        || code == "KMS.0401"
        // SCM: "Tenant has no privilege" (400): another account's certificate.
        || code == "SCM.0003"
        || status == 403
    {
        Reason::AccessDenied
    } else if status == 404 {
        Reason::NotFound
    } else {
        Reason::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_to_reasons() {
        let r = |s, c| FetchError::answer(s, c, "", None).reason;
        assert_eq!(r(400, "ResourceNotFoundException"), Reason::NotFound);
        assert_eq!(r(400, "ParameterNotFound"), Reason::NotFound);
        assert_eq!(r(404, "NoSuchKey"), Reason::NotFound);
        assert_eq!(r(400, "AccessDeniedException"), Reason::AccessDenied);
        assert_eq!(r(403, "AccessDenied"), Reason::AccessDenied);
        assert_eq!(r(403, "SignatureDoesNotMatch"), Reason::AuthFailed);
        assert_eq!(r(400, "InvalidSignatureException"), Reason::AuthFailed);
        assert_eq!(r(401, "APIGW.0301"), Reason::AuthFailed);
        assert_eq!(r(403, "APIGW.0302"), Reason::AccessDenied);
        assert_eq!(r(400, "ThrottlingException"), Reason::Unavailable);
        assert_eq!(r(503, ""), Reason::Unavailable);
        assert_eq!(r(400, "ValidationException"), Reason::Rejected);
        assert_eq!(r(400, "CSMS.0106"), Reason::NotFound);
        assert_eq!(r(400, "SCM.0008"), Reason::NotFound);
        assert_eq!(r(400, "SCM.0003"), Reason::AccessDenied);
        assert_eq!(r(400, "IncompleteSignatureException"), Reason::AuthFailed);
        assert_eq!(
            r(403, "MissingAuthenticationTokenException"),
            Reason::AuthFailed
        );
        assert_eq!(r(403, "InvalidObjectState"), Reason::InvalidContent);
        assert_eq!(r(403, "VirtualHostDomainRequired"), Reason::NotConfigured);
        assert!(FetchError::answer(500, "", "", None).retryable());
    }
}
