//! HTTP invocations: who may call (signature or bearer token, fail closed), what is accepted
//! (POST, at most 1 MiB), the budget behind each gateway, and the status code a result earns.
//! Pure, with the current time passed in.

use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::error::{ErrorCode, HttpClass};
use crate::event::{HttpRequest, Trigger};
use crate::result::{DeployResult, Status, EXIT_INVALID};
use crate::secret::{constant_time_eq, Secret};

/// The largest body accepted (checked on its size before it is decoded, in [`crate::event`]).
pub use crate::event::MAX_BODY;
/// How far the signature's `t` may be from now.
pub const SIGNATURE_WINDOW_SECS: i64 = 300;

/// How HTTP callers are authenticated (`DEPLOY_WEBHOOK_SECRET`, `DEPLOY_WEBHOOK_TOKEN`,
/// `DEPLOY_HTTP_AUTH=none`) and what they may ask (`DEPLOY_HTTP_ALLOW`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAuth {
    pub secret: Option<Secret>,
    pub token: Option<Secret>,
    /// The gateway authenticates callers itself (only when no secret or token is set).
    pub none: bool,
    pub allow: Allow,
}

/// A refused HTTP call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub code: &'static str,
    /// What the caller is told.
    pub message: String,
    /// What the log is told: for a 401, which check failed (the caller is not told).
    pub reason: String,
}

/// The one thing an unauthenticated caller learns: not whether a secret or token is configured,
/// nor which check failed.
pub const UNAUTHORIZED: &str = "unauthorized";

impl Rejection {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            code,
            reason: message.clone(),
            message,
        }
    }

    /// A 401 whose body is the same whatever `reason` (kept for the log) says.
    fn unauthorized(reason: &str) -> Self {
        Self {
            status: 401,
            code: UNAUTHORIZED,
            message: UNAUTHORIZED.into(),
            reason: reason.into(),
        }
    }
}

/// Checks method, size and authentication, in that order.
pub fn admit(req: &HttpRequest, auth: &HttpAuth, now_unix: i64) -> Result<(), Rejection> {
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err(Rejection::new(
            405,
            "method_not_allowed",
            format!("{} is not accepted: POST the request", req.method),
        ));
    }
    if req.too_large || req.body.len() > MAX_BODY {
        return Err(Rejection::new(
            413,
            "payload_too_large",
            "the body is over 1 MiB",
        ));
    }
    // `none` only stands when nothing else is configured: it never overrides a secret or token.
    if auth.none && auth.secret.is_none() && auth.token.is_none() {
        return Ok(());
    }
    if auth.secret.is_none() && auth.token.is_none() {
        return Err(Rejection::unauthorized(
            "HTTP invocation is not configured: set DEPLOY_WEBHOOK_SECRET or DEPLOY_WEBHOOK_TOKEN \
             (or DEPLOY_HTTP_AUTH=none when the gateway authenticates callers)",
        ));
    }
    if let (Some(secret), Some(sig)) = (&auth.secret, req.header("x-deploy-signature")) {
        return verify_signature(secret, sig, &req.body, now_unix);
    }
    if let (Some(token), Some(value)) = (&auth.token, req.header("authorization")) {
        let given = value.trim().strip_prefix("Bearer ").unwrap_or("").trim();
        return if constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
            Ok(())
        } else {
            Err(Rejection::unauthorized("the bearer token is wrong"))
        };
    }
    Err(Rejection::unauthorized(
        "missing X-Deploy-Signature (or Authorization: Bearer) header",
    ))
}

/// What an HTTP caller may ask (`DEPLOY_HTTP_ALLOW`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Allow {
    /// The whole request: `request`, the explicit opt-in.
    Request,
    /// Only the certificate and its key: everything else comes from `DEPLOY_REQUEST` (the
    /// default, also when unset: a token holder needs no more to renew a certificate).
    #[default]
    Certificate,
}

/// The request fields a certificate-only caller may send (a webhook body is mapped to them).
const CERTIFICATE_FIELDS: [&str; 2] = ["certificate", "private_key"];

/// Checks an authenticated caller's request (after a webhook body is mapped) against what it
/// may ask: 403 naming the fields it may not set.
pub fn narrow(request: &Value, allow: Allow) -> Result<(), Rejection> {
    if allow == Allow::Request {
        return Ok(());
    }
    let extra: Vec<&str> = request
        .as_object()
        .map(|o| {
            o.keys()
                .map(String::as_str)
                .filter(|k| !CERTIFICATE_FIELDS.contains(k))
                .collect()
        })
        .unwrap_or_default();
    if extra.is_empty() {
        return Ok(());
    }
    Err(Rejection::new(
        403,
        "forbidden",
        format!(
            "DEPLOY_HTTP_ALLOW=certificate: an HTTP caller may send only the certificate and its key; not {}",
            extra.join(", ")
        ),
    ))
}

/// `X-Deploy-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
pub fn verify_signature(
    secret: &Secret,
    header: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), Rejection> {
    let bad = |m: &str| Err(Rejection::unauthorized(m));
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return bad("X-Deploy-Signature must be `t=<unix seconds>,v1=<hex>`");
    };
    // abs_diff: `t` is the sender's, so `now - t` may not fit an i64 (t = i64::MIN).
    if now_unix.abs_diff(t) > SIGNATURE_WINDOW_SECS.unsigned_abs() {
        return bad("X-Deploy-Signature is older than 300 s (or from the future)");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    // verify_slice compares in constant time.
    if mac.verify_slice(&v1).is_ok() {
        Ok(())
    } else {
        bad("X-Deploy-Signature does not match the body")
    }
}

/// Signs a body as a sender would (tests and the README's example).
pub fn sign(secret: &str, body: &[u8], t: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The budget cap behind each gateway: API Gateway ends an integration at 29–30 s.
pub fn budget_cap(trigger: Trigger) -> Option<Duration> {
    match trigger {
        Trigger::ApiGatewayV1 | Trigger::ApiGatewayV2 => Some(Duration::from_secs(25)),
        Trigger::FunctionGraphApig => Some(Duration::from_secs(80)),
        _ => None,
    }
}

/// The status code a result earns: generic webhook senders judge by it alone, so a failure never
/// looks like a 2xx.
pub fn status_for(result: &DeployResult, exit_code: i32) -> u16 {
    // A run that ended before its domains: the error's class decides (a bad request 400, a bad
    // setting of the function 500, an unreadable certificate store 502).
    if let Some(e) = &result.error {
        if exit_code == EXIT_INVALID || e.code.is_store() {
            return e.code.http_class().status();
        }
    }
    if result.ok {
        return 200;
    }
    let skipped_with = |class: &dyn Fn(&ErrorCode) -> bool| {
        result.domains.iter().any(|d| {
            d.status == Status::Skipped && d.error.as_ref().is_some_and(|e| class(&e.code))
        })
    };
    let failed = result.domains.iter().any(|d| d.status == Status::Failed);
    if failed || skipped_with(&ErrorCode::is_cdn_side) {
        502
    } else if skipped_with(&|c| c.http_class() == HttpClass::Unprocessable)
        || result
            .error
            .as_ref()
            .is_some_and(|e| e.code.http_class() == HttpClass::Unprocessable)
    {
        422
    } else if result
        .domains
        .iter()
        .any(|d| matches!(d.status, Status::Pending | Status::Submitted))
    {
        202
    } else {
        502
    }
}

/// The `{statusCode, headers, body, isBase64Encoded}` answer API Gateway v1 requires (v2,
/// Function URLs and FunctionGraph APIG accept it too).
pub fn response(status: u16, body: &Value) -> Value {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = i64::from(status);
    r.headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    r.body = Some(Body::Text(body.to_string()));
    r.is_base64_encoded = false;
    serde_json::to_value(&r).unwrap_or_else(|_| json!({"statusCode": status}))
}

/// The answer to a refused call.
pub fn rejection_response(r: &Rejection) -> Value {
    response(
        r.status,
        &json!({"ok": false, "error": {"code": r.code, "message": r.message, "retryable": false}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{DomainResult, ErrorInfo, RunMode};

    fn req(method: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            too_large: false,
        }
    }

    fn auth(secret: Option<&str>, token: Option<&str>) -> HttpAuth {
        HttpAuth {
            secret: secret.map(Secret::new),
            token: token.map(Secret::new),
            ..Default::default()
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn signatures_are_checked_with_a_window() {
        let a = auth(Some("s3cret"), None);
        let body = r#"{"domains":["a.example.com"]}"#;
        let good = sign("s3cret", body.as_bytes(), NOW - 10);
        assert!(admit(
            &req("POST", &[("x-deploy-signature", &good)], body),
            &a,
            NOW
        )
        .is_ok());
        let stale = sign("s3cret", body.as_bytes(), NOW - 301);
        assert_eq!(
            admit(
                &req("POST", &[("x-deploy-signature", &stale)], body),
                &a,
                NOW
            )
            .unwrap_err()
            .status,
            401
        );
        let other = sign("other", body.as_bytes(), NOW);
        assert!(admit(
            &req("POST", &[("x-deploy-signature", &other)], body),
            &a,
            NOW
        )
        .is_err());
        let tampered = req("POST", &[("x-deploy-signature", &good)], "{}");
        assert!(admit(&tampered, &a, NOW).is_err());
        assert!(admit(&req("POST", &[], body), &a, NOW).is_err());
        assert!(admit(
            &req("POST", &[("x-deploy-signature", "garbage")], body),
            &a,
            NOW
        )
        .is_err());
    }

    /// Found by tests/fuzz.rs: `(now - t).abs()` overflowed (a panic in debug builds) for a
    /// `t` far from now, or for `now - t` = i64::MIN.
    #[test]
    fn a_t_at_the_ends_of_i64_is_refused_not_overflowed() {
        let a = auth(Some("s3cret"), None);
        for (t, now) in [
            (i64::MAX, -1),
            (i64::MIN, NOW),
            (i64::MIN, 0),
            (6_362_460_585_232_203_775, -2_860_911_451_622_572_033),
            (0, i64::MIN),
            // now - t = 2^63: the wrapped abs() was i64::MIN, inside the window in release.
            (NOW + i64::MIN, NOW),
        ] {
            let header = sign("s3cret", b"{}", t);
            let r = admit(
                &req("POST", &[("x-deploy-signature", &header)], "{}"),
                &a,
                now,
            );
            assert_eq!(r.unwrap_err().status, 401, "t={t} now={now}");
        }
        let header = "v1=000A0aaA0a0Aaaa000AA,t=9223372036854775807";
        let r = admit(&req("POST", &[("x-deploy-signature", header)], ""), &a, -1);
        assert_eq!(r.unwrap_err().status, 401);
        // At the ends of the window, both sides.
        for t in [NOW - 300, NOW + 300] {
            let header = sign("s3cret", b"{}", t);
            assert!(admit(
                &req("POST", &[("x-deploy-signature", &header)], "{}"),
                &a,
                NOW
            )
            .is_ok());
        }
    }

    #[test]
    fn bearer_tokens_and_fail_closed() {
        let a = auth(None, Some("tok"));
        assert!(admit(
            &req("POST", &[("authorization", "Bearer tok")], "{}"),
            &a,
            NOW
        )
        .is_ok());
        assert!(admit(
            &req("POST", &[("authorization", "Bearer nope")], "{}"),
            &a,
            NOW
        )
        .is_err());
        assert!(admit(&req("POST", &[("authorization", "tok")], "{}"), &a, NOW).is_err());
        let closed = admit(
            &req("POST", &[("authorization", "Bearer tok")], "{}"),
            &HttpAuth::default(),
            NOW,
        );
        assert!(closed.unwrap_err().reason.contains("not configured"));
        let open = HttpAuth {
            none: true,
            ..Default::default()
        };
        assert!(admit(&req("POST", &[], "{}"), &open, NOW).is_ok());
        // `none` beside a configured token: the token is still required.
        let both = HttpAuth {
            none: true,
            ..a.clone()
        };
        assert_eq!(
            admit(&req("POST", &[], "{}"), &both, NOW)
                .unwrap_err()
                .status,
            401
        );
        assert!(admit(
            &req("POST", &[("authorization", "Bearer tok")], "{}"),
            &both,
            NOW
        )
        .is_ok());
    }

    /// An unauthenticated caller learns nothing of the configuration or of which check failed:
    /// every 401 is the same answer; the log has the reason.
    #[test]
    fn every_401_is_the_same_answer() {
        let body = "{}";
        let signed = sign("s3cret", body.as_bytes(), NOW);
        let cases = [
            // Nothing configured.
            (
                auth(None, None),
                vec![("authorization", "Bearer tok".to_string())],
            ),
            (auth(None, None), vec![]),
            // A secret: no header, garbage, stale, wrong secret.
            (auth(Some("s3cret"), None), vec![]),
            (
                auth(Some("s3cret"), None),
                vec![("x-deploy-signature", "garbage".into())],
            ),
            (
                auth(Some("s3cret"), None),
                vec![(
                    "x-deploy-signature",
                    sign("s3cret", body.as_bytes(), NOW - 301),
                )],
            ),
            (
                auth(Some("s3cret"), None),
                vec![("x-deploy-signature", sign("other", body.as_bytes(), NOW))],
            ),
            // A token: wrong, not a bearer, missing; a signature where only a token is set.
            (
                auth(None, Some("tok")),
                vec![("authorization", "Bearer nope".into())],
            ),
            (
                auth(None, Some("tok")),
                vec![("authorization", "tok".into())],
            ),
            (auth(None, Some("tok")), vec![]),
            (
                auth(None, Some("tok")),
                vec![("x-deploy-signature", signed.clone())],
            ),
            // Both: a wrong token beside no signature.
            (
                auth(Some("s3cret"), Some("tok")),
                vec![("authorization", "Bearer x".into())],
            ),
        ];
        let mut reasons = std::collections::BTreeSet::new();
        for (a, headers) in &cases {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = admit(&req("POST", &headers, body), a, NOW).unwrap_err();
            assert_eq!(r.status, 401);
            let answer = rejection_response(&r);
            assert_eq!(
                answer["body"],
                r#"{"ok":false,"error":{"code":"unauthorized","message":"unauthorized","retryable":false}}"#,
                "{headers:?}"
            );
            reasons.insert(r.reason);
        }
        // The log still tells the operator which check failed.
        assert!(reasons.len() >= 5, "{reasons:?}");
    }

    #[test]
    fn a_certificate_only_caller_may_send_the_pair_and_nothing_else() {
        let pair = json!({"certificate": "c", "private_key": "k"});
        assert!(narrow(&pair, Allow::Certificate).is_ok());
        assert!(narrow(&json!({}), Allow::Certificate).is_ok());
        for extra in [
            json!({"domains": ["a.example.com"]}),
            json!({"match": "certsan"}),
            json!({"scm_certificate_id": "scs1"}),
            json!({"certificate_source": {"type": "ssm"}}),
            json!({"options": {"tls_version": "TLSv1.0"}}),
            json!({"enterprise_project_id": "x"}),
        ] {
            let mut body = pair.clone();
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let r = narrow(&body, Allow::Certificate).unwrap_err();
            assert_eq!(r.status, 403);
            let field = extra.as_object().unwrap().keys().next().unwrap().clone();
            assert!(r.message.contains(&field), "{}", r.message);
            assert!(narrow(&body, Allow::Request).is_ok());
        }
    }

    #[test]
    fn method_and_size() {
        let open = HttpAuth {
            none: true,
            ..Default::default()
        };
        assert_eq!(
            admit(&req("GET", &[], ""), &open, NOW).unwrap_err().status,
            405
        );
        let big = "x".repeat(MAX_BODY + 1);
        assert_eq!(
            admit(&req("POST", &[], &big), &open, NOW)
                .unwrap_err()
                .status,
            413
        );
    }

    fn result_with(statuses: &[(Status, &str)]) -> DeployResult {
        let domains = statuses
            .iter()
            .map(|(s, code)| DomainResult {
                status: *s,
                error: (!code.is_empty())
                    .then(|| ErrorInfo::new(ErrorCode::parse(code), "x").with_retryable(false)),
                ..DomainResult::skipped("a.example.com", ErrorInfo::upstream("x", "x", false))
            })
            .collect();
        DeployResult::new(domains, RunMode::Deploy, None, 0, 0, None)
    }

    #[test]
    fn status_codes_follow_the_contract() {
        assert_eq!(
            status_for(
                &result_with(&[(Status::Deployed, ""), (Status::Unchanged, "")]),
                0
            ),
            200
        );
        assert_eq!(
            status_for(
                &result_with(&[(Status::Deployed, ""), (Status::Pending, "")]),
                1
            ),
            202
        );
        assert_eq!(
            status_for(
                &result_with(&[
                    (Status::Deployed, ""),
                    (Status::Skipped, "domain_not_covered")
                ]),
                1
            ),
            422
        );
        // A newer certificate is live: sending this one again will not help either.
        assert_eq!(
            status_for(
                &result_with(&[
                    (Status::Deployed, ""),
                    (Status::Skipped, "newer_certificate_live")
                ]),
                1
            ),
            422
        );
        assert_eq!(
            status_for(
                &result_with(&[(Status::Deployed, ""), (Status::Failed, "CDN.0170")]),
                1
            ),
            502
        );
        assert_eq!(
            status_for(&result_with(&[(Status::Skipped, "auth_failed")]), 1),
            502
        );
        assert_eq!(
            status_for(
                &result_with(&[
                    (Status::Failed, "x"),
                    (Status::Skipped, "domain_not_covered")
                ]),
                1
            ),
            502
        );
        let mut invalid = result_with(&[]);
        invalid.error = Some(ErrorInfo::new(ErrorCode::InvalidRequest, "x").with_field("domains"));
        assert_eq!(status_for(&invalid, 2), 400);
        // A setting of the function is at fault: the type says so, whatever the field.
        invalid.error = Some(
            ErrorInfo::new(ErrorCode::InvalidConfiguration, "x").with_field("HUAWEICLOUD_SDK_AK"),
        );
        assert_eq!(status_for(&invalid, 2), 500);
        invalid.error =
            Some(ErrorInfo::new(ErrorCode::CertificateSource, "x").with_retryable(true));
        assert_eq!(status_for(&invalid, 1), 502);
    }

    #[test]
    fn response_shape() {
        let r = response(202, &json!({"ok": false}));
        assert_eq!(r["statusCode"], 202);
        assert_eq!(r["headers"]["content-type"], "application/json");
        assert_eq!(r["isBase64Encoded"], false);
        assert_eq!(
            serde_json::from_str::<Value>(r["body"].as_str().unwrap()).unwrap(),
            json!({"ok": false})
        );
    }
}
