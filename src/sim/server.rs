//! The simulator's HTTP side: checks each call's signature as the API gateway does, enforces the
//! quotas, injects faults, and routes to the account state.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::config::{ErrorStyle, FaultKind, SimCredential};
use super::state::SimState;
use crate::clock::{Clock, SystemClock};
use crate::huawei::credential::constant_time_eq;
use crate::huawei::quota::Api;
use crate::huawei::sign::{self, SignableRequest};

/// Signatures dated further than this from the server's clock are refused.
const MAX_SKEW_SECS: i64 = 15 * 60;
/// Consecutive signature failures that lock an access key, and for how long.
const LOCK_AFTER: u32 = 5;
const LOCK_FOR: Duration = Duration::from_secs(300);

pub(super) struct Shared {
    pub state: Mutex<SimState>,
    pub credentials: Vec<SimCredential>,
}

/// Accepts connections on `listener` until the task is dropped.
pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { handle(shared, req).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Why a call gets no answer at all.
#[derive(Debug)]
struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the simulator")
    }
}

impl std::error::Error for ConnectionReset {}

type Answer = Result<Response<Full<Bytes>>, ConnectionReset>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Answer {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(ConnectionReset),
    };
    let path = parts.uri.path().to_string();
    let segments: Vec<String> = path.split('/').skip(1).map(sign::uri_decode).collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = parts.method.as_str().to_string();

    // Unsigned admin endpoints for scripts (never part of the Huawei API).
    if seg.first() == Some(&"_sim") {
        let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        return Ok(match seg.get(1..) {
            Some(["stats"]) => json_response(200, &json!(st.stats), "sim"),
            Some(["domains", name]) => match st.snapshot(name, now) {
                Some(s) => json_response(200, &json!(s), "sim"),
                None => json_response(404, &json!({"error": "no such domain"}), "sim"),
            },
            _ => json_response(404, &json!({"error": "unknown admin path"}), "sim"),
        });
    }

    let (api, domain) = match (method.as_str(), seg.as_slice()) {
        ("GET", ["v1.0", "cdn", "configuration", "domains", d]) => (Api::ShowDomainDetail, *d),
        ("GET", ["v1.1", "cdn", "configuration", "domains", d, "configs"]) => {
            (Api::ShowFullConfig, *d)
        }
        ("PUT", ["v1.1", "cdn", "configuration", "domains", d, "configs"]) => {
            (Api::UpdateFullConfig, *d)
        }
        ("GET", ["v1.0", "cdn", "domains"]) => (Api::ListDomains, ""),
        ("GET", ["v1.0", "cdn", "domains", "https-certificate-info"]) => (Api::ShowHttpsInfo, ""),
        ("PUT", ["v1.0", "cdn", "domains", "config-https-info"]) => {
            (Api::UpdateMultiCertificates, "")
        }
        _ => {
            let rid = shared
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_request_id();
            return Ok(error_response(
                404,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment",
                ErrorStyle::Flat,
                &rid,
            ));
        }
    };

    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (sign::uri_decode(k), sign::uri_decode(v))
        })
        .collect();
    let now = Instant::now();
    let now_unix = SystemClock.unix_now();

    let fault = {
        let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let rid = st.next_request_id();
        st.stats.signed_calls += 1;
        if let Err((code, msg)) = verify(
            &mut st,
            &shared.credentials,
            &parts,
            &path,
            &query,
            &body,
            now,
            now_unix,
        ) {
            st.stats.auth_failures += 1;
            tracing::info!(target: "sim", api = api.name(), domain, code, "signature rejected");
            return Ok(error_response(401, code, &msg, ErrorStyle::Flat, &rid));
        }
        if !st.admit(api, now) {
            tracing::info!(target: "sim", api = api.name(), domain, "throttled");
            return Ok(error_response(
                429,
                "APIGW.0308",
                "The throttling threshold has been reached: policy user over ratelimit",
                ErrorStyle::Flat,
                &rid,
            ));
        }
        // A batch call's faults for one domain of its body are applied by batch_update.
        let fault = if api == Api::UpdateMultiCertificates {
            st.fault_for(api, None)
        } else {
            st.fault_for(api, Some(&domain.to_ascii_lowercase()))
        };
        (fault, rid)
    };
    let (fault, rid) = fault;

    if let Some(FaultKind::Delay { delay_ms }) = &fault {
        tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
    }
    let apply = match &fault {
        Some(FaultKind::Status { apply, .. }) | Some(FaultKind::Reset { apply }) => *apply,
        _ => true,
    };

    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let outcome: Result<Value, (u16, String, String)> = if !apply {
        Ok(Value::Null)
    } else {
        match api {
            Api::ShowDomainDetail => st.detail(domain, now),
            Api::ShowFullConfig => st.full_config(domain),
            Api::ListDomains => Ok(st.list_domains(&query, now)),
            Api::UpdateFullConfig => match serde_json::from_slice::<Value>(&body) {
                Ok(b) => st
                    .update_full_config(domain, &b, now, now_unix)
                    .map(|_| Value::Null),
                Err(e) => Err((400, "CDN.0002".into(), format!("body is not JSON: {e}"))),
            },
            Api::ShowHttpsInfo => Ok(st.https_info(&query)),
            Api::UpdateMultiCertificates => match serde_json::from_slice::<Value>(&body) {
                Ok(b) => st.batch_update(&b, now, now_unix),
                Err(e) => Err((400, "CDN.0002".into(), format!("body is not JSON: {e}"))),
            },
        }
    };
    tracing::info!(target: "sim", api = api.name(), domain,
                   result = if outcome.is_ok() { "ok" } else { "error" }, request_id = %rid, "call");
    match fault {
        Some(FaultKind::Reset { .. }) => {
            st.stats.resets += 1;
            Err(ConnectionReset)
        }
        Some(FaultKind::Status {
            http_status,
            code,
            message,
            style,
            ..
        }) => {
            st.stats.injected_errors += 1;
            Ok(error_response(http_status, &code, &message, style, &rid))
        }
        _ => Ok(match outcome {
            Ok(Value::Null) => empty_response(200, &rid),
            Ok(v) => json_response(200, &v, &rid),
            Err((status, code, msg)) => error_response(status, &code, &msg, ErrorStyle::Cdn, &rid),
        }),
    }
}

/// Checks a call's `Authorization` as the gateway does; `Err((code, message))` on failure.
#[allow(clippy::too_many_arguments)]
fn verify(
    st: &mut SimState,
    credentials: &[SimCredential],
    parts: &hyper::http::request::Parts,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
    now: Instant,
    now_unix: i64,
) -> Result<(), (&'static str, String)> {
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
    let result = check_signature(
        cred,
        &auth,
        &header,
        parts.method.as_str(),
        path,
        query,
        body,
        now_unix,
    );
    let entry = st.auth_failures.entry(cred.ak.clone()).or_insert((0, None));
    match result {
        Ok(()) => {
            *entry = (0, None);
            Ok(())
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

#[allow(clippy::too_many_arguments)]
fn check_signature(
    cred: &SimCredential,
    auth: &sign::ParsedAuthorization,
    header: &dyn Fn(&str) -> Option<String>,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
    now_unix: i64,
) -> Result<(), String> {
    for required in ["host", "x-sdk-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(format!("`{required}` is not signed"));
        }
    }
    let date = header("x-sdk-date").ok_or("X-Sdk-Date missing")?;
    let signed_at = sign::parse_sdk_date(&date).ok_or("X-Sdk-Date malformed")?;
    if (now_unix - signed_at).abs() > MAX_SKEW_SECS {
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
    let req = SignableRequest {
        method,
        path,
        query,
        headers: &headers,
        body,
    };
    let expected = sign::signature(
        &cred.sk,
        &sign::string_to_sign(&date, &sign::canonical_request(&req)),
    );
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err("verify aksk signature fail".into())
    }
}

fn json_response(status: u16, body: &Value, request_id: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json;charset=UTF-8")
        .header("x-request-id", request_id)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

fn empty_response(status: u16, request_id: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header("x-request-id", request_id)
        .body(Full::new(Bytes::new()))
        .expect("valid response")
}

fn error_response(
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

/// The loopback address to bind when none is given.
pub(super) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
