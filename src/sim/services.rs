//! The HTTP side of the services beside the CDN (CSMS, SCM, SMN, OBS): each call through the gateway
//! (or OBS's own signature), then the service's store, counted apart from the CDN's statistics.

use tokio::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use serde_json::{json, Value};

use super::config::ErrorStyle;
use super::gateway::{error_response, json_response, project_header_check, verify, Call, Shared};
use super::obs;
use super::smn::publish;
use super::state::SimState;
use crate::clock::{Clock, SystemClock};

/// Answers one ShowSecretVersion call: the gateway's signature check (401 `APIGW.0301`), then
/// the secret. Counted in `csms_calls`, never in the CDN statistics.
pub(super) fn csms(
    shared: &Shared,
    call: &Call<'_>,
    (project_id, name, version_id): (&str, &str, &str),
) -> Response<Full<Bytes>> {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let rid = st.next_request_id();
    st.stats.csms_calls += 1;
    let response = match project_call(&mut st, shared, call, project_id) {
        Err((code, msg)) => {
            st.stats.csms_auth_failures += 1;
            tracing::info!(target: "sim", service = "csms", code, "signature rejected");
            error_response(401, code, &msg, ErrorStyle::Flat, &rid)
        }
        Ok(()) => match st.secrets.show_version(project_id, name, version_id) {
            Ok(v) => json_response(200, &v, &rid),
            Err((status, code, msg)) => error_response(status, code, &msg, ErrorStyle::Flat, &rid),
        },
    };
    let status = response.status().as_u16();
    tracing::info!(target: "sim", service = "csms", secret = name, version = version_id,
                   status, request_id = %rid, "call");
    st.stats
        .record_service_call("csms", call.parts.method.as_str(), call.path, status);
    response
}

/// Answers one ShowCertificate call: the gateway's signature check (401 `APIGW.0301`; a global
/// service, so no project header), then the certificate. Counted in `scm_calls`, never in the
/// CDN statistics.
pub(super) fn scm(shared: &Shared, call: &Call<'_>, id: &str) -> Response<Full<Bytes>> {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let rid = st.next_request_id();
    st.stats.scm_calls += 1;
    let verified = verify(
        &mut st,
        &shared.credentials,
        call,
        Instant::now(),
        SystemClock.unix_now(),
    );
    let response = match verified {
        Err((code, msg)) => {
            tracing::info!(target: "sim", service = "scm", code, "signature rejected");
            error_response(401, code, &msg, ErrorStyle::Flat, &rid)
        }
        Ok(_) => match st.scm.show(id) {
            Ok(v) => json_response(200, &v, &rid),
            Err((status, code, msg)) => error_response(status, code, &msg, ErrorStyle::Flat, &rid),
        },
    };
    let status = response.status().as_u16();
    tracing::info!(target: "sim", service = "scm", certificate = id, status, request_id = %rid, "call");
    st.stats
        .record_service_call("scm", call.parts.method.as_str(), call.path, status);
    response
}

/// The gateway's checks of a call to a project-level service: the signature, then the project
/// (AK/SK calls carry it as a signed `X-Project-Id`, as the official SDKs always send it; IAM
/// refuses one that names another project).
fn project_call(
    st: &mut SimState,
    shared: &Shared,
    call: &Call<'_>,
    project_id: &str,
) -> Result<(), (&'static str, String)> {
    verify(
        st,
        &shared.credentials,
        call,
        Instant::now(),
        SystemClock.unix_now(),
    )?;
    project_header_check(call.parts, project_id)
}

/// Answers one PublishMessage call.
pub(super) fn smn(
    shared: &Shared,
    call: &Call<'_>,
    (project_id, urn): (&str, &str),
) -> Response<Full<Bytes>> {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let rid = st.next_request_id();
    let response = match project_call(&mut st, shared, call, project_id) {
        Err((code, msg)) => error_response(401, code, &msg, ErrorStyle::Flat, &rid),
        Ok(()) => {
            let ours = st.secrets.project_id().to_string();
            match publish(&ours, project_id, urn, call.body) {
                Ok(message) => {
                    let message_id = format!("{:032x}", st.received.smn.len() + 1);
                    st.received.smn.push(message);
                    json_response(
                        200,
                        &json!({"request_id": rid, "message_id": message_id}),
                        &rid,
                    )
                }
                Err((status, code, msg)) => {
                    error_response(status, code, &msg, ErrorStyle::Flat, &rid)
                }
            }
        }
    };
    let status = response.status().as_u16();
    tracing::info!(target: "sim", service = "smn", topic = urn, status, request_id = %rid, "call");
    st.stats
        .record_service_call("smn", call.parts.method.as_str(), call.path, status);
    response
}

/// `POST /_sim/webhook`: keeps the body (JSON, or text) and the query's names (never values:
/// a signature is not for a log), and answers as a chat tool that took it.
pub(super) fn webhook(
    st: &mut super::state::SimState,
    query: Option<&str>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let parsed: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    let query_names: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split('=').next())
        .filter(|n| !n.is_empty())
        .collect();
    st.received
        .webhooks
        .push(json!({"query": query_names, "body": parsed}));
    json_response(
        200,
        &json!({"code": 0, "errcode": 0, "errmsg": "ok"}),
        "sim",
    )
}

/// Answers one OBS call, counted in `obs_calls` (never in the CDN statistics).
pub(super) fn obs(
    st: &mut SimState,
    credentials: &[super::config::SimCredential],
    req: &obs::ObsRequest<'_>,
    now_unix: i64,
) -> Response<Full<Bytes>> {
    let rid = st.next_request_id().to_ascii_uppercase();
    st.stats.obs_calls += 1;
    let (response, refused) = obs::answer(&st.objects, credentials, req, now_unix, &rid);
    if refused {
        st.stats.obs_auth_failures += 1;
    }
    st.stats
        .record_service_call("obs", req.method, req.raw_path, response.status().as_u16());
    response
}
