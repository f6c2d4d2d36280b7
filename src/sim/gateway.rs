//! The simulator's API gateway: what every signed call to a Huawei service (CDN, CSMS, SMN) goes
//! through before its route, as the real gateway does it: the SDK-HMAC-SHA256 signature, the
//! date skew, temporary keys, the lock after repeated failures, the project header of
//! project-level services; and the answers' shapes.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::config::{ErrorStyle, SimCredential};
use super::state::SimState;
use crate::huawei::sign::{self, SignableRequest};
use crate::secret::constant_time_eq;

/// Signatures dated further than this from the server's clock are refused.
const MAX_SKEW_SECS: i64 = 15 * 60;
/// Consecutive signature failures that lock an access key, and for how long.
const LOCK_AFTER: u32 = 5;
const LOCK_FOR: Duration = Duration::from_secs(300);

/// What every connection shares: the account and the keys it accepts.
pub(super) struct Shared {
    pub state: Mutex<SimState>,
    pub credentials: Vec<SimCredential>,
}

/// A call as the gateway checks it.
pub(super) struct Call<'a> {
    pub parts: &'a hyper::http::request::Parts,
    /// The path as sent (still percent-encoded).
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Checks a call's `Authorization` as the gateway does: the access key that signed it, or
/// `Err((code, message))`.
pub(super) fn verify(
    st: &mut SimState,
    credentials: &[SimCredential],
    call: &Call<'_>,
    now: Instant,
    now_unix: i64,
) -> Result<String, (&'static str, String)> {
    let parts = call.parts;
    const CODE: &str = "APIGW.0301";
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let auth = header("authorization")
        .and_then(|a| sign::parse_authorization(&a))
        .ok_or((
            CODE,
            "Incorrect IAM authentication information: Authorization header missing or malformed"
                .to_string(),
        ))?;
    let cred = credentials
        .iter()
        .find(|c| c.ak == auth.access_key)
        .ok_or((
            CODE,
            "Incorrect IAM authentication information: AK not found".to_string(),
        ))?;
    if let Some((count, Some(locked_at))) = st.auth_failures.get(&cred.ak) {
        if *count >= LOCK_AFTER && now.duration_since(*locked_at) < LOCK_FOR {
            return Err((CODE, "Incorrect IAM authentication information: access key locked after repeated signature failures".into()));
        }
    }
    // The gateway decodes the path before canonicalizing (`%2F` in a secret name signs as `/`).
    let result = check_signature(cred, &auth, &header, call, now_unix);
    let entry = st.auth_failures.entry(cred.ak.clone()).or_insert((0, None));
    match result {
        Ok(()) => {
            *entry = (0, None);
            Ok(cred.ak.clone())
        }
        Err(msg) => {
            entry.0 += 1;
            if entry.0 >= LOCK_AFTER {
                entry.1 = Some(now);
            }
            Err((
                CODE,
                format!("Incorrect IAM authentication information: {msg}"),
            ))
        }
    }
}

fn check_signature(
    cred: &SimCredential,
    auth: &sign::ParsedAuthorization,
    header: &dyn Fn(&str) -> Option<String>,
    call: &Call<'_>,
    now_unix: i64,
) -> Result<(), String> {
    for required in ["host", "x-sdk-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(format!("`{required}` is not signed"));
        }
    }
    let date = header("x-sdk-date").ok_or("X-Sdk-Date missing")?;
    let signed_at = sign::parse_sdk_date(&date).ok_or("X-Sdk-Date malformed")?;
    if now_unix.abs_diff(signed_at) > MAX_SKEW_SECS.unsigned_abs() {
        return Err("X-Sdk-Date is more than 15 minutes off the server time".into());
    }
    if let Some(token) = &cred.security_token {
        if !auth.signed_headers.iter().any(|h| h == "x-security-token")
            || header("x-security-token").as_deref() != Some(token.as_str())
        {
            return Err("security token missing, wrong or not signed".into());
        }
    }
    let mut headers = Vec::new();
    for name in &auth.signed_headers {
        let value = header(name).ok_or_else(|| format!("signed header `{name}` is missing"))?;
        headers.push((name.clone(), value));
    }
    let path = sign::uri_decode(call.path);
    let req = SignableRequest {
        method: call.parts.method.as_str(),
        path: &path,
        query: call.query,
        headers: &headers,
        body: call.body,
    };
    let canonical = sign::canonical_request(&req);
    let to_sign = sign::string_to_sign(&date, &canonical);
    let expected = sign::signature(&cred.sk, &to_sign);
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        // Like AWS, the gateway may quote what it expected (the security token included): the
        // client must not pass that on.
        Err(format!("verify aksk signature fail; canonicalRequest: '{canonical}'; stringToSign: '{to_sign}'; Authorization: {}", header("authorization").unwrap_or_default()))
    }
}

pub(super) fn json_response(status: u16, body: &Value, request_id: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json;charset=UTF-8")
        .header("x-request-id", request_id)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

pub(super) fn error_response(
    status: u16,
    code: &str,
    message: &str,
    style: ErrorStyle,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let body = match style {
        ErrorStyle::Cdn => json!({"error": {"error_code": code, "error_msg": message}}),
        ErrorStyle::Flat => {
            json!({"error_code": code, "error_msg": message, "request_id": request_id})
        }
        ErrorStyle::Camel => json!({"errorCode": code, "errorMsg": message}),
        ErrorStyle::Code => json!({"code": code, "message": message}),
    };
    json_response(status, &body, request_id)
}

/// AK/SK calls to a project-level service carry the project as a signed `X-Project-Id` (the
/// official SDKs always send it); IAM refuses one that names another project.
pub(super) fn project_header_check(
    parts: &hyper::http::request::Parts,
    project_id: &str,
) -> Result<(), (&'static str, String)> {
    let sent = parts
        .headers
        .get("x-project-id")
        .and_then(|v| v.to_str().ok());
    let signed = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(sign::parse_authorization)
        .is_some_and(|a| a.signed_headers.iter().any(|h| h == "x-project-id"));
    match sent {
        Some(p) if p == project_id && signed => Ok(()),
        Some(p) if p != project_id => Err((
            "APIGW.0301",
            format!("Incorrect IAM authentication information: X-Project-Id `{p}` does not match the path's project"),
        )),
        _ => Err((
            "APIGW.0301",
            "Incorrect IAM authentication information: X-Project-Id missing or not signed".into(),
        )),
    }
}
