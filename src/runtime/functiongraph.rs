//! The Huawei FunctionGraph custom runtime shell (`bootstrap`): polls the runtime API for the
//! next invocation, takes the agency's temporary keys from its headers, runs the application and
//! posts the answer. A bad event or a panic gets an error answer and the loop goes on; a runtime
//! API that stops answering is retried with backoff, never a crash loop.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tracing::{error, info, warn};

use super::logging;
use crate::app::{App, Context};
use crate::huawei::credential::Credentials;
use crate::secret::Secret;
use crate::transport::{read_capped, BodyError};

/// Time kept back before `RUNTIME_TIMEOUT` ends, so the answer always gets out.
pub const SAFETY_MARGIN: Duration = Duration::from_millis(2500);
/// The budget when `RUNTIME_TIMEOUT` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);

/// Reads the agency keys of one invocation: `X-CFF-Security-Access-Key` / `-Secret-Key` /
/// `X-CFF-Security-Token`, falling back to `X-CFF-Access-Key` / `X-CFF-Secret-Key` /
/// `X-CFF-Auth-Token`. `None` when the answer carries no key pair.
pub fn agency_credentials(headers: &HeaderMap, domain_id: Option<String>) -> Option<Credentials> {
    let get = |names: &[&str]| {
        names.iter().find_map(|n| {
            headers
                .get(*n)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        })
    };
    let ak = get(&["x-cff-security-access-key", "x-cff-access-key"])?;
    let sk = get(&["x-cff-security-secret-key", "x-cff-secret-key"])?;
    Some(Credentials {
        access_key: ak,
        secret_key: Secret::new(sk),
        security_token: get(&["x-cff-security-token", "x-cff-auth-token"]).map(Secret::new),
        domain_id,
    })
}

/// The budget `RUNTIME_TIMEOUT` (seconds) gives, less the safety margin.
pub fn budget(runtime_timeout: Option<&str>) -> Duration {
    runtime_timeout
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
        .saturating_sub(SAFETY_MARGIN)
        .max(Duration::from_millis(500))
}

/// Serves invocations from the runtime API at `addr` (`host:port`) for ever.
pub async fn run(app: App, addr: String) {
    let app = Arc::new(app);
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client");
    let base = format!("http://{addr}/v1/runtime/invocation");
    let budget = budget(std::env::var("RUNTIME_TIMEOUT").ok().as_deref());
    let domain_id = std::env::var("HUAWEICLOUD_SDK_DOMAIN_ID").ok();
    let mut failures = 0u32;
    loop {
        // The long poll has no read timeout: it waits for the next invocation.
        let next = http.get(format!("{base}/request")).send().await;
        let response = match next {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                failures += 1;
                warn!(
                    status = r.status().as_u16(),
                    "the runtime API refused the poll"
                );
                backoff(failures).await;
                continue;
            }
            Err(e) => {
                failures += 1;
                warn!(error = %e, "the runtime API did not answer the poll");
                backoff(failures).await;
                continue;
            }
        };
        failures = 0;
        let received = tokio::time::Instant::now();
        let headers = response.headers().clone();
        let Some(request_id) = headers
            .get("x-cff-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            error!("an invocation without X-Cff-Request-Id cannot be answered; skipped");
            continue;
        };
        let credentials = agency_credentials(&headers, domain_id.clone());
        info!(request_id = %request_id, agency_keys = credentials.is_some(), "FunctionGraph invocation");
        // Refused on its size before it is read whole or parsed.
        let body = match read_capped(response, MAX_EVENT).await {
            Ok(body) => Ok(body),
            Err(BodyError::TooLarge(n)) => Err(format!(
                "the event ({n} bytes or more) is over {MAX_EVENT} bytes"
            )),
            Err(BodyError::Transport(e)) => Err(format!("the event could not be read: {e}")),
        };
        let parsed = body.and_then(|b| {
            serde_json::from_slice::<Value>(&b).map_err(|e| format!("the event is not JSON: {e}"))
        });
        let (ok, answer) = match parsed {
            Err(message) => {
                warn!(error = %message, "unreadable event");
                (
                    false,
                    json!({"errorType": "InvalidEvent", "errorMessage": message}),
                )
            }
            Ok(event) => {
                let app = app.clone();
                let ctx = Context {
                    platform_budget: budget,
                    received,
                    credentials,
                };
                // Its own task, so a panic becomes an error answer instead of ending the loop.
                let reply = tokio::spawn(async move { app.invoke(event, ctx).await }).await;
                if let Some(record) = reply.as_ref().ok().and_then(|r| r.metrics.as_ref()) {
                    logging::write_metrics(record);
                }
                match reply {
                    Ok(reply) if reply.invocation_error => (
                        false,
                        json!({"errorType": "DeployNotOk", "errorMessage": reply.body.to_string()}),
                    ),
                    Ok(reply) => (true, reply.body),
                    Err(e) => (
                        false,
                        json!({"errorType": "InternalError", "errorMessage": format!("the handler failed: {e}")}),
                    ),
                }
            }
        };
        let error_url = format!("{base}/error/{request_id}");
        let delivered = if ok {
            post_answer(&http, &format!("{base}/response/{request_id}"), &answer).await
        } else {
            post_answer(&http, &error_url, &answer).await
        };
        // A result the runtime API would not take is at least reported as an error, so the
        // caller is not left waiting for the timeout.
        if !delivered && ok {
            let failed = json!({"errorType": "ResponseNotDelivered",
                                "errorMessage": "the runtime API refused the result; see the function's log"});
            post_answer(&http, &error_url, &failed).await;
        }
    }
}

/// Posts an answer, three tries; whether it was taken.
async fn post_answer(http: &reqwest::Client, url: &str, answer: &Value) -> bool {
    for attempt in 1..=3u32 {
        let sent = http
            .post(url)
            .header("content-type", "application/json")
            .body(answer.to_string())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => warn!(
                status = r.status().as_u16(),
                attempt, "the runtime API refused the answer"
            ),
            Err(e) => warn!(error = %e, attempt, "could not post the answer"),
        }
        backoff(attempt).await;
    }
    error!("the answer could not be delivered");
    false
}

/// The largest event read: FunctionGraph's own limit for a synchronous invocation is 6 MB.
const MAX_EVENT: usize = 6 << 20;

/// 100 ms doubling up to 5 s, with jitter.
async fn backoff(failures: u32) {
    let ms = (100u64 << failures.min(6)).min(5_000);
    let jittered = ms / 2 + fastrand::u64(0..=ms / 2);
    tokio::time::sleep(Duration::from_millis(jittered)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn agency_keys_prefer_the_security_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-cff-access-key", HeaderValue::from_static("OLDAK"));
        h.insert("x-cff-secret-key", HeaderValue::from_static("OLDSK"));
        h.insert("x-cff-auth-token", HeaderValue::from_static("OLDTOKEN"));
        let c = agency_credentials(&h, None).unwrap();
        assert_eq!(c.access_key, "OLDAK");
        assert_eq!(c.security_token.unwrap().expose(), "OLDTOKEN");
        h.insert("x-cff-security-access-key", HeaderValue::from_static("AK"));
        h.insert("x-cff-security-secret-key", HeaderValue::from_static("SK"));
        h.insert("x-cff-security-token", HeaderValue::from_static("TOKEN"));
        let c = agency_credentials(&h, Some("d".into())).unwrap();
        assert_eq!((c.access_key.as_str(), c.secret_key.expose()), ("AK", "SK"));
        assert_eq!(c.security_token.unwrap().expose(), "TOKEN");
        assert!(agency_credentials(&HeaderMap::new(), None).is_none());
    }

    #[test]
    fn budget_from_runtime_timeout() {
        assert_eq!(budget(Some("30")), Duration::from_millis(27_500));
        assert_eq!(budget(None), DEFAULT_TIMEOUT - SAFETY_MARGIN);
        assert_eq!(budget(Some("x")), DEFAULT_TIMEOUT - SAFETY_MARGIN);
        assert_eq!(budget(Some("1")), Duration::from_millis(500));
    }
}
