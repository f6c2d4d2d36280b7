//! The simulator's HTTP side: routes each call (the CDN API to the account state, CSMS, SCM, SMN and
//! OBS to [`super::services`]) after the gateway's checks ([`super::gateway`]), enforces the
//! quotas and injects faults.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::config::{ErrorStyle, FaultKind, SimCredential};
use super::gateway::{error_response, json_response, verify, Call, Shared};
use super::state::{SimState, WriteSlot};
use super::{csms, obs, scm, services, smn};
use crate::clock::{Clock, SystemClock};
use crate::huawei::quota::Api;
use crate::huawei::sign;

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
        return Ok(admin(&shared, &seg[1..], &method, parts.uri.query(), &body));
    }
    let query = parse_query(parts.uri.query());
    if let Some(answer) = obs_call(&shared, &parts, &method, &path, &seg, &query) {
        return Ok(answer);
    }
    let call = Call {
        parts: &parts,
        path: &path,
        query: &query,
        body: &body,
    };
    if let Some(target) = smn::route(&method, &seg) {
        return Ok(services::smn(&shared, &call, target));
    }
    if let Some(target) = csms::route(&method, &seg) {
        return Ok(services::csms(&shared, &call, target));
    }
    if let Some(id) = scm::route(&method, &seg) {
        return Ok(services::scm(&shared, &call, id));
    }
    let Some((api, domain)) = cdn_route(&method, &seg) else {
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
    };
    cdn_call(&shared, &call, api, domain).await
}

/// The simulator's own endpoints: statistics, what it received, a domain's record, and a
/// webhook receiver.
fn admin(
    shared: &Shared,
    seg: &[&str],
    method: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    match seg {
        ["stats"] => json_response(200, &json!(st.stats), "sim"),
        ["notifications"] => json_response(
            200,
            &json!({"smn": st.received.smn, "webhooks": st.received.webhooks}),
            "sim",
        ),
        ["webhook"] if method == "POST" => services::webhook(&mut st, query, body),
        ["domains", name] => match st.snapshot(name, Instant::now()) {
            Some(s) => json_response(200, &json!(s), "sim"),
            None => json_response(404, &json!({"error": "no such domain"}), "sim"),
        },
        _ => json_response(404, &json!({"error": "unknown admin path"}), "sim"),
    }
}

/// An OBS call (its own signature, a bucket of the account), answered; `None` for any other.
fn obs_call(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    method: &str,
    path: &str,
    seg: &[&str],
    query: &[(String, String)],
) -> Option<Response<Full<Bytes>>> {
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let first = seg.first().copied().unwrap_or_default();
    if !obs::claims(authorization, first, &st.objects) {
        return None;
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), v)
        })
        .collect();
    let req = obs::ObsRequest {
        method,
        raw_path: path,
        query,
        headers: &headers,
    };
    Some(services::obs(
        &mut st,
        &shared.credentials,
        &req,
        SystemClock.unix_now(),
    ))
}

/// The CDN API's route table: the call and the domain its path names.
fn cdn_route<'a>(method: &str, seg: &[&'a str]) -> Option<(Api, &'a str)> {
    Some(match (method, seg) {
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
        _ => return None,
    })
}

/// A CDN call let through the gateway: its fault (if one is due), its request id, and the
/// write slots of the domains it writes.
struct Admitted {
    fault: Option<FaultKind>,
    rid: String,
    slots: Vec<WriteSlot>,
}

/// What a CDN call's route answers: a value, or (status, code, message).
type Outcome = Result<Value, (u16, String, String)>;

/// A CDN call: through the gateway (signature, IAM, quota), its fault, the account's answer,
/// and the record of what the caller was told.
async fn cdn_call(shared: &Shared, call: &Call<'_>, api: Api, domain: &str) -> Answer {
    let now = Instant::now();
    let now_unix = SystemClock.unix_now();
    let Admitted {
        fault,
        rid,
        mut slots,
    } = match gate(shared, call, api, domain, now, now_unix) {
        Ok(a) => a,
        Err(refused) => return Ok(*refused),
    };
    let mut now = now;
    if let Some(FaultKind::Delay { delay_ms }) = &fault {
        tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
        // A slow answer is carried out when it is answered.
        now = Instant::now();
    }
    let apply = match &fault {
        Some(FaultKind::Status { apply, .. }) | Some(FaultKind::Reset { apply }) => *apply,
        _ => true,
    };
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    st.write_starting(&mut slots);
    let outcome: Outcome = if apply {
        carry_out(&mut st, api, domain, call, now, now_unix)
    } else {
        Ok(Value::Null)
    };
    record(&mut st, api, domain, call.body, &fault, &outcome, apply);
    let (lost, refused) = told(&fault, &outcome);
    st.write_answered(&mut slots, lost.as_deref(), refused.as_deref());
    tracing::info!(target: "sim", api = api.name(), domain,
                   result = if outcome.is_ok() { "ok" } else { "error" }, request_id = %rid, "call");
    answer(&mut st, fault, outcome, &rid)
}

/// The gateway's checks of a CDN call, in its order: the signature, what IAM allows the key,
/// the quota; then the fault due, and the writes arriving. `Err`: the refusal to answer.
fn gate(
    shared: &Shared,
    call: &Call<'_>,
    api: Api,
    domain: &str,
    now: Instant,
    now_unix: i64,
) -> Result<Admitted, Box<Response<Full<Bytes>>>> {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let rid = st.next_request_id();
    st.stats.signed_calls += 1;
    match verify(&mut st, &shared.credentials, call, now, now_unix) {
        Ok(ak) if iam_denies(&shared.credentials, &ak, api) => {
            tracing::info!(target: "sim", api = api.name(), domain, "refused by IAM");
            let message = format!("Policy doesn't allow {} to be performed.", api.name());
            return Err(Box::new(error_response(
                403,
                "CDN.0003",
                &message,
                ErrorStyle::Cdn,
                &rid,
            )));
        }
        Ok(ak) => *st.stats.cdn_calls_by_key.entry(ak).or_default() += 1,
        Err((code, msg)) => {
            st.stats.auth_failures += 1;
            tracing::info!(target: "sim", api = api.name(), domain, code, "signature rejected");
            return Err(Box::new(error_response(
                401,
                code,
                &msg,
                ErrorStyle::Flat,
                &rid,
            )));
        }
    }
    if !st.admit(api, now) {
        tracing::info!(target: "sim", api = api.name(), domain, "throttled");
        return Err(Box::new(error_response(
            429,
            "APIGW.0308",
            "The throttling threshold has been reached: policy user over ratelimit",
            ErrorStyle::Flat,
            &rid,
        )));
    }
    // A batch call's faults for one domain of its body are applied by batch_update.
    let fault = if api == Api::UpdateMultiCertificates {
        st.fault_for(api, None)
    } else {
        st.fault_for(api, Some(&domain.to_ascii_lowercase()))
    };
    let slots = st.write_arrived(api, &written_names(api, domain, call.body), now);
    Ok(Admitted { fault, rid, slots })
}

/// The account's answer to a CDN call that is carried out.
fn carry_out(
    st: &mut SimState,
    api: Api,
    domain: &str,
    call: &Call<'_>,
    now: Instant,
    now_unix: i64,
) -> Outcome {
    let not_json =
        |e: serde_json::Error| (400, "CDN.0002".into(), format!("body is not JSON: {e}"));
    match api {
        Api::ShowDomainDetail => st.detail(domain, now),
        Api::ShowFullConfig => st.full_config(domain),
        Api::ListDomains => Ok(st.list_domains(call.query, now)),
        Api::UpdateFullConfig => {
            let b = serde_json::from_slice::<Value>(call.body).map_err(not_json)?;
            st.update_full_config(domain, &b, now, now_unix)
                .map(|_| Value::Null)
        }
        Api::ShowHttpsInfo => Ok(st.https_info(call.query)),
        Api::UpdateMultiCertificates => {
            let b = serde_json::from_slice::<Value>(call.body).map_err(not_json)?;
            st.batch_update(&b, now, now_unix)
        }
    }
}

/// What the soak tests check the results against: every write that reached the API, and why it
/// was refused when it was (an injected 4xx is a refusal; a 5xx or a reset is an answer lost). A
/// batch call the simulator applied counted its domains itself.
fn record(
    st: &mut SimState,
    api: Api,
    domain: &str,
    body: &[u8],
    fault: &Option<FaultKind>,
    outcome: &Outcome,
    apply: bool,
) {
    let refusal = match (fault, outcome) {
        (
            Some(FaultKind::Status {
                http_status,
                message,
                apply: false,
                ..
            }),
            _,
        ) if *http_status < 500 => Some(message.clone()),
        (_, Err((_, code, message))) => Some(format!("{code}: {message}")),
        _ => None,
    };
    match api {
        Api::UpdateFullConfig => st.note_write(domain, refusal.as_deref()),
        Api::UpdateMultiCertificates if !apply || outcome.is_err() => {
            let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let names = body["https"]["domain_name"].as_str().unwrap_or_default();
            for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                st.note_write(name, refusal.as_deref());
            }
        }
        _ => {}
    }
}

/// What the caller is told, for each domain's write log: an answer lost (a reset, a 5xx), or a
/// refusal.
fn told(fault: &Option<FaultKind>, outcome: &Outcome) -> (Option<String>, Option<String>) {
    let lost = match fault {
        Some(FaultKind::Reset { .. }) => Some("connection reset".to_string()),
        Some(FaultKind::Status {
            http_status, code, ..
        }) if *http_status >= 500 => Some(format!("{http_status} {code}")),
        _ => None,
    };
    let refused = match (fault, outcome) {
        (
            Some(FaultKind::Status {
                http_status, code, ..
            }),
            _,
        ) => Some(format!("{http_status} {code}")),
        (_, Err((status, code, message))) => Some(format!("{status} {code}: {message}")),
        _ => None,
    };
    (lost, refused)
}

/// The answer: the fault's (a reset, an injected error), or the account's.
fn answer(st: &mut SimState, fault: Option<FaultKind>, outcome: Outcome, rid: &str) -> Answer {
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
            Ok(error_response(http_status, &code, &message, style, rid))
        }
        _ => Ok(match outcome {
            Ok(Value::Null) => empty_response(200, rid),
            Ok(v) => json_response(200, &v, rid),
            Err((status, code, msg)) => error_response(status, &code, &msg, ErrorStyle::Cdn, rid),
        }),
    }
}

/// Whether the IAM policy of the key `ak` leaves out `api`.
fn iam_denies(credentials: &[SimCredential], ak: &str, api: Api) -> bool {
    credentials
        .iter()
        .any(|c| c.ak == ak && c.denied.iter().any(|d| d == api.name()))
}

/// The domains a write call names (none for a read).
fn written_names(api: Api, domain: &str, body: &[u8]) -> Vec<String> {
    match api {
        Api::UpdateFullConfig => vec![domain.to_string()],
        Api::UpdateMultiCertificates => {
            let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            body["https"]["domain_name"]
                .as_str()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The decoded `key=value` pairs of a query string.
fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (sign::uri_decode(k), sign::uri_decode(v))
        })
        .collect()
}

fn empty_response(status: u16, request_id: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header("x-request-id", request_id)
        .body(Full::new(Bytes::new()))
        .expect("valid response")
}

/// The loopback address to bind when none is given.
pub(super) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[cfg(test)]
mod tests {
    use super::super::config::{SimConfig, SimCredential, SimObject, SimScmCertificate, SimSecret};
    use super::super::obs::{self, Dialect};
    use super::super::Simulator;
    use super::*;
    use crate::huawei::sign::SignableRequest;

    const AK: &str = "AKSIM";
    const SK: &str = "SKSIM";

    async fn start() -> Simulator {
        Simulator::start(SimConfig {
            credentials: vec![SimCredential {
                ak: AK.into(),
                sk: SK.into(),
                security_token: None,
                denied: Vec::new(),
            }],
            secrets: vec![
                SimSecret::new("site-cert", "-----BEGIN CERTIFICATE-----"),
                SimSecret {
                    denied: true,
                    ..SimSecret::new("locked", "x")
                },
            ],
            objects: vec![
                SimObject::new("certs", "site/my cert.pem", "PEM BODY"),
                SimObject {
                    denied: true,
                    ..SimObject::new("certs", "locked.pem", "x")
                },
            ],
            ..Default::default()
        })
        .await
        .expect("simulator starts")
    }

    /// The signed headers of an SDK-HMAC-SHA256 GET: `Host`, `X-Sdk-Date`, and for a
    /// `/v1/{project}/...` path the project as `X-Project-Id`.
    fn apig_headers(sim: &Simulator, path: &str) -> Vec<(String, String)> {
        let mut headers = vec![
            ("Host".to_string(), sim.addr().to_string()),
            (
                "X-Sdk-Date".to_string(),
                sign::sdk_date(SystemClock.unix_now()),
            ),
        ];
        if let Some(project) = path.strip_prefix("/v1/").and_then(|p| p.split('/').next()) {
            headers.push(("X-Project-Id".to_string(), project.to_string()));
        }
        headers
    }

    /// A GET of `path` with `headers` (Host first), signed over `signed_path`.
    async fn apig_send(
        sim: &Simulator,
        path: &str,
        signed_path: &str,
        headers: &[(String, String)],
        sk: &str,
    ) -> (u16, Value) {
        let req = SignableRequest {
            method: "GET",
            path: signed_path,
            query: &[],
            headers,
            body: b"",
        };
        let mut call = reqwest::Client::new()
            .get(format!("{}{path}", sim.endpoint()))
            .header("Authorization", sign::sign(&req, AK, sk));
        for (k, v) in &headers[1..] {
            call = call.header(k, v);
        }
        let resp = call.send().await.expect("answer");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A GET signed over the decoded path, as the official SDKs sign.
    async fn apig_get(sim: &Simulator, path: &str, sk: &str) -> (u16, Value) {
        let headers = apig_headers(sim, path);
        apig_send(sim, path, &sign::uri_decode(path), &headers, sk).await
    }

    /// A GET signed with the OBS header signature (`None`: unsigned).
    async fn obs_get(sim: &Simulator, path: &str, sk: Option<&str>) -> reqwest::Response {
        let date = crate::clock::http_date(SystemClock.unix_now());
        let mut call = reqwest::Client::new()
            .get(format!("{}{path}", sim.endpoint()))
            .header("Date", &date);
        if let Some(sk) = sk {
            let headers = vec![("Date".to_string(), date)];
            let sts = obs::string_to_sign(Dialect::Obs, "GET", &headers, path);
            call = call.header(
                "Authorization",
                format!("OBS {AK}:{}", obs::signature(sk, &sts)),
            );
        }
        call.send().await.expect("answer")
    }

    #[tokio::test]
    async fn csms_show_secret_version() {
        let sim = start().await;
        let project = sim.project_id();
        assert_eq!(project, super::super::DEFAULT_PROJECT_ID);
        let path = |name: &str, v: &str| format!("/v1/{project}/secrets/{name}/versions/{v}");

        let (status, body) = apig_get(&sim, &path("site-cert", "latest"), SK).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["version"]["secret_string"],
            "-----BEGIN CERTIFICATE-----"
        );
        assert_eq!(body["version"]["version_metadata"]["id"], "v1");
        assert_eq!(
            body["version"]["version_metadata"]["secret_name"],
            "site-cert"
        );

        sim.put_secret("site-cert", "rotated");
        let (_, body) = apig_get(&sim, &path("site-cert", "latest"), SK).await;
        assert_eq!(body["version"]["secret_string"], "rotated");
        assert_eq!(body["version"]["version_metadata"]["id"], "v2");
        let (_, body) = apig_get(&sim, &path("site-cert", "v1"), SK).await;
        assert_eq!(
            body["version"]["secret_string"],
            "-----BEGIN CERTIFICATE-----"
        );

        let (status, body) = apig_get(&sim, &path("site-cert", "latest"), "wrong").await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (401, Some("APIGW.0301"))
        );
        let (status, body) = apig_get(&sim, &path("missing", "latest"), SK).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (404, Some("CSMS.0106"))
        );
        let (status, body) = apig_get(&sim, &path("locked", "latest"), SK).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (403, Some("CSMS.0403"))
        );
        let other = "/v1/ffffffffffffffffffffffffffffffff/secrets/site-cert/versions/latest";
        let (status, body) = apig_get(&sim, other, SK).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (400, Some("CSMS.0002"))
        );

        let stats = sim.stats();
        assert_eq!(stats.csms_calls, 7);
        assert_eq!(stats.csms_auth_failures, 1);
        assert_eq!((stats.signed_calls, stats.auth_failures), (0, 0));
        assert!(stats.apis.is_empty(), "no CDN call: {:?}", stats.apis);
        let statuses: Vec<u16> = stats.service_calls.iter().map(|c| c.status).collect();
        assert_eq!(statuses, [200, 200, 200, 401, 404, 403, 400]);
        assert!(stats.service_calls.iter().all(|c| c.service == "csms"));
    }

    #[tokio::test]
    async fn scm_show_certificate() {
        let sim = start().await;
        sim.put_scm_certificate(SimScmCertificate::new(
            "scs1",
            &["example.com", "*.example.com"],
            "2036-11-25T04:11:50Z",
        ));
        let (status, body) = apig_get(&sim, "/v3/scm/certificates/scs1", SK).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["domain"].as_str(), body["sans"].as_str()),
            (Some("example.com"), Some("*.example.com"))
        );
        assert_eq!(body["not_after"], "2036-11-25 04:11:50.0");
        let (status, body) = apig_get(&sim, "/v3/scm/certificates/scs1", "wrong").await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (401, Some("APIGW.0301"))
        );
        let (status, body) = apig_get(&sim, "/v3/scm/certificates/scs2", SK).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (400, Some("SCM.0008"))
        );
        let stats = sim.stats();
        assert_eq!(stats.scm_calls, 3);
        assert!(stats.apis.is_empty(), "no CDN call: {:?}", stats.apis);
        assert!(stats.service_calls.iter().all(|c| c.service == "scm"));
    }

    #[tokio::test]
    async fn the_gateway_checks_the_signature_over_the_decoded_path() {
        let sim = start().await;
        sim.put_secret("a b+c", "spaced");
        let project = sim.project_id().to_string();
        let encoded = format!("/v1/{project}/secrets/a%20b%2Bc/versions/latest");
        let (status, body) = apig_get(&sim, &encoded, SK).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["version"]["secret_string"], "spaced");

        // Signed over the encoded path (the escapes escaped again): refused.
        let headers = apig_headers(&sim, &encoded);
        let code = |(status, body): (u16, Value)| (status, body["error_code"].clone());
        let refused = (401, json!("APIGW.0301"));
        assert_eq!(
            code(apig_send(&sim, &encoded, &encoded, &headers, SK).await),
            refused
        );
        // CSMS wants the project as a signed X-Project-Id.
        let decoded = sign::uri_decode(&encoded);
        assert_eq!(
            code(apig_send(&sim, &encoded, &decoded, &headers[..2], SK).await),
            refused
        );
        let mut other = headers.clone();
        other[2].1 = "f".repeat(32);
        assert_eq!(
            code(apig_send(&sim, &encoded, &decoded, &other, SK).await),
            refused
        );
    }

    #[tokio::test]
    async fn obs_get_object() {
        let sim = start().await;
        let key_path = "/certs/site/my%20cert.pem";
        let resp = obs_get(&sim, key_path, Some(SK)).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("x-obs-request-id"));
        assert_eq!(resp.text().await.unwrap(), "PEM BODY");

        sim.put_object("certs", "site/my cert.pem", b"NEW".to_vec());
        sim.put_object("other-bucket", "k", "v");
        let resp = obs_get(&sim, key_path, Some(SK)).await;
        assert_eq!(resp.text().await.unwrap(), "NEW");
        assert_eq!(
            obs_get(&sim, "/other-bucket/k", Some(SK)).await.status(),
            200
        );

        let refused = |code: &'static str, status: u16| {
            move |resp: reqwest::Response| async move {
                assert_eq!(resp.status().as_u16(), status, "{code}");
                assert!(resp.headers().contains_key("x-obs-request-id"));
                let text = resp.text().await.unwrap();
                assert!(text.starts_with("<?xml"), "{text}");
                assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
                text
            }
        };
        let text =
            refused("NoSuchKey", 404)(obs_get(&sim, "/certs/nope.pem", Some(SK)).await).await;
        assert!(text.contains("<Key>nope.pem</Key>"), "{text}");
        refused("NoSuchBucket", 404)(obs_get(&sim, "/no-bucket/k", Some(SK)).await).await;
        refused("AccessDenied", 403)(obs_get(&sim, "/certs/locked.pem", Some(SK)).await).await;
        refused("SignatureDoesNotMatch", 403)(obs_get(&sim, key_path, Some("bad")).await).await;
        refused("AccessDenied", 403)(obs_get(&sim, key_path, None).await).await;

        let stats = sim.stats();
        assert_eq!(stats.obs_calls, 8);
        assert_eq!(stats.obs_auth_failures, 2);
        assert_eq!((stats.signed_calls, stats.auth_failures), (0, 0));
        assert!(stats.apis.is_empty(), "no CDN call: {:?}", stats.apis);
        assert_eq!(stats.service_calls[0].path, key_path);
    }

    /// CDN paths stay with the CDN gateway, whatever buckets exist.
    #[tokio::test]
    async fn cdn_routes_untouched() {
        let sim = start().await;
        sim.put_object("v1.0", "cdn/domains", "x");
        let (status, body) = apig_get(&sim, "/v1.0/cdn/domains", "wrong").await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (401, Some("APIGW.0301"))
        );
        let stats = sim.stats();
        assert_eq!(
            (stats.signed_calls, stats.obs_calls, stats.csms_calls),
            (1, 0, 0)
        );
    }
}
