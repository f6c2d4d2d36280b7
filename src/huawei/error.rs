//! What can go wrong with one CDN call, decoded from any of the gateway's error body styles.

use std::time::Duration;

/// One failed CDN call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CdnError {
    /// The API answered with an error status (or a 200 whose body says it failed).
    #[error("{code}: {message} (HTTP {http_status})")]
    Api {
        http_status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, or a timeout.
    #[error("no answer from the CDN API: {message}")]
    Transport { message: String, timed_out: bool },
    /// An answer the client could not read.
    #[error("unreadable answer (HTTP {http_status}): {message}")]
    Decode {
        http_status: u16,
        message: String,
        request_id: Option<String>,
    },
    /// An earlier call of this run failed authentication, so this one was not sent.
    #[error("not sent: an earlier call of this run failed authentication")]
    AuthStopped,
    /// Not sent: the time budget does not leave room for it.
    #[error("not sent: the time budget is spent")]
    BudgetSpent,
}

/// How the deployment reacts to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad keys or signature: stop every call.
    Auth,
    /// 429 / APIGW.0308: wait and retry.
    Throttled,
    /// The domain is being configured (CDN.0106): wait for it to settle, then retry.
    Busy,
    /// 5xx: retry with backoff (after a re-read, for a write).
    Server,
    /// Connection error or timeout: like a 5xx.
    Transport,
    /// A 4xx the CDN will answer again the same way.
    Rejected,
    /// The call was not sent (earlier auth failure or budget).
    NotSent,
}

impl CdnError {
    /// Classifies the error for the retry policy.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CdnError::Api {
                http_status, code, ..
            } => classify(*http_status, code),
            CdnError::Transport { .. } => ErrorKind::Transport,
            CdnError::Decode { http_status, .. } if *http_status >= 500 => ErrorKind::Server,
            CdnError::Decode { .. } => ErrorKind::Rejected,
            CdnError::AuthStopped | CdnError::BudgetSpent => ErrorKind::NotSent,
        }
    }

    /// Whether trying the same call again may succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Throttled | ErrorKind::Busy | ErrorKind::Server | ErrorKind::Transport
        )
    }

    /// The `X-Request-Id` of the answer, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            CdnError::Api { request_id, .. } | CdnError::Decode { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            CdnError::Api { http_status, .. } | CdnError::Decode { http_status, .. } => {
                Some(*http_status)
            }
            _ => None,
        }
    }

    /// The CDN's or the gateway's own error code, when there was one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CdnError::Api { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }
}

/// The busy code: the domain is in `configuring` and takes no new configuration.
pub const CODE_BUSY: &str = "CDN.0106";
/// The gateway's throttling code.
pub const CODE_THROTTLED: &str = "APIGW.0308";

fn classify(http_status: u16, code: &str) -> ErrorKind {
    if http_status == 429 || code == CODE_THROTTLED {
        ErrorKind::Throttled
    } else if http_status == 401
        || http_status == 403
        || (code.starts_with("APIGW.03") && code != CODE_THROTTLED)
    {
        ErrorKind::Auth
    } else if code == CODE_BUSY {
        ErrorKind::Busy
    } else if http_status >= 500 {
        ErrorKind::Server
    } else {
        ErrorKind::Rejected
    }
}

/// The longest `Retry-After` taken as given: longer than any run (15 minutes at most), so a
/// longer one waits the same, until the budget ends.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` header in seconds (an HTTP date is not used), at most [`MAX_RETRY_AFTER`]:
/// the wait is added to the clock, which a number of seconds near `u64::MAX` overflows.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Reads an error code and message from any of the four body styles:
/// `{"error": {"error_code", "error_msg"}}`, flat `{"error_code", "error_msg"}`,
/// `{"errorCode", "errorMsg"}` and `{"code", "message"}`.
pub fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let pick = |o: &serde_json::Value| -> Option<(String, String)> {
        const PAIRS: [(&str, &str); 3] = [
            ("error_code", "error_msg"),
            ("errorCode", "errorMsg"),
            ("code", "message"),
        ];
        PAIRS.iter().find_map(|(c, m)| {
            let code = o.get(*c)?;
            let code = code
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| code.to_string());
            let msg = o.get(*m).and_then(|m| m.as_str()).unwrap_or_default();
            Some((code, msg.to_string()))
        })
    };
    v.get("error")
        .filter(|e| e.is_object())
        .and_then(pick)
        .or_else(|| pick(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_four_styles() {
        let cases: [&[u8]; 4] = [
            br#"{"error":{"error_code":"CDN.0170","error_msg":"domain not exist!"}}"#,
            br#"{"error_code":"CDN.0170","error_msg":"domain not exist!","request_id":"r"}"#,
            br#"{"errorCode":"CDN.0170","errorMsg":"domain not exist!"}"#,
            br#"{"code":"CDN.0170","message":"domain not exist!"}"#,
        ];
        for body in cases {
            assert_eq!(
                parse_error_body(body),
                Some(("CDN.0170".into(), "domain not exist!".into()))
            );
        }
        assert_eq!(parse_error_body(b"<html>"), None);
        assert_eq!(parse_error_body(br#"{"ok":1}"#), None);
    }

    /// Found by tests/fuzz.rs: `Retry-After: 9223372036854765452` made the retry's nap panic
    /// (`Instant + Duration` overflowed).
    #[test]
    fn a_huge_retry_after_is_capped() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        for huge in ["9223372036854765452", "18446744073709551615", "3601"] {
            let d = parse_retry_after(huge).unwrap();
            assert_eq!(d, MAX_RETRY_AFTER);
            assert!(std::time::Instant::now().checked_add(d).is_some());
        }
        assert_eq!(parse_retry_after("18446744073709551616"), None);
    }

    #[test]
    fn classifies() {
        assert_eq!(classify(401, "APIGW.0301"), ErrorKind::Auth);
        assert_eq!(classify(403, ""), ErrorKind::Auth);
        assert_eq!(classify(429, "APIGW.0308"), ErrorKind::Throttled);
        assert_eq!(classify(400, "APIGW.0308"), ErrorKind::Throttled);
        assert_eq!(classify(400, "CDN.0106"), ErrorKind::Busy);
        assert_eq!(classify(503, ""), ErrorKind::Server);
        assert_eq!(classify(400, "CDN.0170"), ErrorKind::Rejected);
    }
}
