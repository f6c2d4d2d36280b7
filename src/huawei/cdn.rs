//! The CDN API client: builds each call, signs it, paces it, sends it once and decodes the
//! answer. Retrying is the deployment's decision (see `deploy::policy`), not the client's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::credential::Credentials;
use super::error::{parse_error_body, parse_retry_after, CdnError, ErrorKind};
use super::model::{
    BatchAnswer, BatchPut, Configs, ConfigsPut, DomainDetail, DomainDetailBody, DomainList,
    FullConfigBody, FullConfigPut, HttpsInfoList,
};
use super::quota::{Api, Pacer};
use super::sign::{self, SignableRequest};
use crate::clock::SharedClock;
pub use crate::endpoint::{Endpoint, EndpointError};
use crate::transport::{read_capped, BodyError};

/// The public CDN endpoint (the CDN API is global).
pub const DEFAULT_ENDPOINT: &str = "https://cdn.myhuaweicloud.com";

/// Connect timeout of every call; the read timeout is set per call from the budget.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read: a page of 1000 domains' certificates (a few KiB each) fits many
/// times over; anything larger is refused before it is read whole.
const MAX_ANSWER: usize = 32 << 20;

/// Calls in flight at once (each holds an HTTP/1.1 connection and its buffers): a burst the
/// quota allows (300 reads at once) goes out over this many connections, a few milliseconds
/// later, instead of opening 300.
const IN_FLIGHT: usize = 64;

/// Idle connections kept for reuse. A connection keeps the read buffer its largest answer grew
/// (a bulk page is megabytes): kept few, they cannot hold tens of MB between sweeps.
const IDLE_KEPT: usize = 8;

/// A decoded answer with the `X-Request-Id` the CDN gave it.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub value: T,
    pub request_id: Option<String>,
}

impl<T> Answer<T> {
    /// The same answer with its value turned into another.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        Answer {
            value: f(self.value),
            request_id: self.request_id,
        }
    }
}

/// Calls made and throttled answers seen, per API, over the client's life.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: [AtomicU64; 6],
    throttled: [AtomicU64; 6],
}

impl CallStats {
    /// Calls sent to `api`.
    pub fn calls(&self, api: Api) -> u64 {
        self.calls[api.index()].load(Ordering::Relaxed)
    }

    /// Answers of `api` that were 429 / APIGW.0308.
    pub fn throttled(&self, api: Api) -> u64 {
        self.throttled[api.index()].load(Ordering::Relaxed)
    }

    /// Calls sent, all APIs.
    pub fn total_calls(&self) -> u64 {
        Api::ALL.iter().map(|a| self.calls(*a)).sum()
    }
}

/// Lets one call through until a call has proven the keys, so bad keys cost one signed call,
/// not a burst that locks the key (five failures in a row lock it for five minutes).
#[derive(Debug, Default)]
struct AuthGate {
    verified: AtomicBool,
    failed: AtomicBool,
    probe: tokio::sync::Mutex<()>,
}

/// A CDN API client for one run (one set of credentials).
#[derive(Debug)]
pub struct CdnClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    credentials: Credentials,
    clock: SharedClock,
    pacer: Pacer,
    gate: AuthGate,
    stats: CallStats,
    in_flight: tokio::sync::Semaphore,
    /// The `Date` header of the latest answer (unix seconds; 0 before any).
    server_date: std::sync::atomic::AtomicI64,
}

/// Options for one call.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// The read timeout of this call (the budget's remainder, capped).
    pub timeout: Duration,
    /// The instant after which the call must not start (pacing waits count).
    pub deadline: tokio::time::Instant,
    /// Told when the request leaves, after any wait for pacing: until then a write was not
    /// sent, whatever happens to the caller.
    pub on_send: Option<OnSend>,
}

impl CallOptions {
    /// Options with no [`OnSend`].
    pub fn new(timeout: Duration, deadline: tokio::time::Instant) -> Self {
        Self {
            timeout,
            deadline,
            on_send: None,
        }
    }
}

/// What a caller is told when its request leaves (see [`CallOptions::on_send`]).
#[derive(Clone)]
pub struct OnSend(pub std::sync::Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for OnSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnSend")
    }
}

impl CdnClient {
    /// A client for `endpoint`, signing with `credentials`, pacing under `pacer`.
    pub fn new(
        endpoint: Endpoint,
        credentials: Credentials,
        clock: SharedClock,
        pacer: Pacer,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("cdn-cert-deploy/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(IDLE_KEPT)
            .build()?;
        Ok(Self {
            http,
            endpoint,
            credentials,
            clock,
            pacer,
            gate: AuthGate::default(),
            stats: CallStats::default(),
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
            server_date: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// Counters of calls made so far.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// The CDN's clock as its latest answer's `Date` header told it (unix seconds).
    pub fn server_date(&self) -> Option<i64> {
        Some(self.server_date.load(Ordering::Relaxed)).filter(|d| *d > 0)
    }

    /// Whether a call of this run failed authentication (every later call is refused).
    pub fn auth_failed(&self) -> bool {
        self.gate.failed.load(Ordering::SeqCst)
    }

    /// ShowDomainDetailByName: the domain's status.
    pub async fn show_domain_detail(
        &self,
        domain: &str,
        enterprise_project_id: Option<&str>,
        opts: CallOptions,
    ) -> Result<Answer<DomainDetail>, CdnError> {
        let path = format!("/v1.0/cdn/configuration/domains/{domain}");
        let query = eps_query(enterprise_project_id);
        let a: Answer<DomainDetailBody> = self
            .get_json(Api::ShowDomainDetail, &path, &query, opts)
            .await?;
        Ok(a.map(|b| b.domain))
    }

    /// ListDomains: one page of the account's domains (pages count from 1).
    pub async fn list_domains(
        &self,
        page_number: u32,
        page_size: u32,
        enterprise_project_id: Option<&str>,
        opts: CallOptions,
    ) -> Result<Answer<DomainList>, CdnError> {
        let query = page_query(page_number, page_size, enterprise_project_id);
        self.get_json(Api::ListDomains, "/v1.0/cdn/domains", &query, opts)
            .await
    }

    /// ShowCertificatesHttpsInfo: one page of every domain's HTTPS settings and certificate.
    pub async fn show_https_info(
        &self,
        page_number: u32,
        page_size: u32,
        enterprise_project_id: Option<&str>,
        opts: CallOptions,
    ) -> Result<Answer<HttpsInfoList>, CdnError> {
        let query = page_query(page_number, page_size, enterprise_project_id);
        let path = "/v1.0/cdn/domains/https-certificate-info";
        self.get_json(Api::ShowHttpsInfo, path, &query, opts).await
    }

    /// UpdateDomainMultiCertificates: one certificate onto up to 50 domains. A 200 may still
    /// carry per-domain failures ([`BatchAnswer::failures`]).
    pub async fn update_multi_certificates(
        &self,
        body: &BatchPut,
        enterprise_project_id: Option<&str>,
        opts: CallOptions,
    ) -> Result<Answer<BatchAnswer>, CdnError> {
        let bytes = encode(body)?;
        let path = "/v1.0/cdn/domains/config-https-info";
        let query = eps_query(enterprise_project_id);
        let a = self
            .call(
                Api::UpdateMultiCertificates,
                Method::PUT,
                path,
                &query,
                Some(bytes),
                opts,
            )
            .await?;
        // The body may be empty or carry only the echo of the request.
        Ok(a.map(|bytes| serde_json::from_slice(&bytes).unwrap_or_default()))
    }

    /// ShowDomainFullConfig: the domain's configuration (https block, origin protocol, redirect).
    pub async fn show_full_config(
        &self,
        domain: &str,
        enterprise_project_id: Option<&str>,
        opts: CallOptions,
    ) -> Result<Answer<Configs>, CdnError> {
        let path = format!("/v1.1/cdn/configuration/domains/{domain}/configs");
        let query = eps_query(enterprise_project_id);
        let a: Answer<FullConfigBody> = self
            .get_json(Api::ShowFullConfig, &path, &query, opts)
            .await?;
        Ok(a.map(|b| b.configs))
    }

    /// UpdateDomainFullConfig with only the blocks `configs` carries (the `https` block, and
    /// what a repair restores): everything else stays as it is.
    pub async fn update_configs(
        &self,
        domain: &str,
        enterprise_project_id: Option<&str>,
        configs: ConfigsPut<'_>,
        opts: CallOptions,
    ) -> Result<Answer<()>, CdnError> {
        let path = format!("/v1.1/cdn/configuration/domains/{domain}/configs");
        let query = eps_query(enterprise_project_id);
        let body = encode(&FullConfigPut { configs })?;
        let a = self
            .call(
                Api::UpdateFullConfig,
                Method::PUT,
                &path,
                &query,
                Some(body),
                opts,
            )
            .await?;
        Ok(a.map(|_| ()))
    }

    /// A GET whose answer is JSON of type `T`.
    async fn get_json<T: DeserializeOwned>(
        &self,
        api: Api,
        path: &str,
        query: &[(String, String)],
        opts: CallOptions,
    ) -> Result<Answer<T>, CdnError> {
        let a = self.call(api, Method::GET, path, query, None, opts).await?;
        let value = serde_json::from_slice(&a.value).map_err(|e| CdnError::Decode {
            http_status: 200,
            message: format!(
                "{} answer: {}",
                api.name(),
                crate::redact::serde_message(&e.to_string())
            ),
            request_id: a.request_id.clone(),
        })?;
        Ok(Answer {
            value,
            request_id: a.request_id,
        })
    }

    /// Paces, signs and sends one call; a non-2xx answer becomes a [`CdnError::Api`].
    pub async fn call(
        &self,
        api: Api,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
        opts: CallOptions,
    ) -> Result<Answer<Vec<u8>>, CdnError> {
        let Some(start) = self.pacer.reserve(api, opts.deadline) else {
            return Err(CdnError::BudgetSpent);
        };
        tokio::time::sleep_until(start).await;

        if self.auth_failed() {
            return Err(CdnError::AuthStopped);
        }
        // Until one call has proven the keys, calls go one at a time.
        let _probe = if self.gate.verified.load(Ordering::SeqCst) {
            None
        } else {
            let guard = self.gate.probe.lock().await;
            if self.auth_failed() {
                return Err(CdnError::AuthStopped);
            }
            (!self.gate.verified.load(Ordering::SeqCst)).then_some(guard)
        };

        // A call waiting here arrives later than booked: the pacing's margin counts that wait
        // too (below), so the next window's calls do not overlap this one's.
        let _in_flight = self.in_flight.acquire().await;
        let timeout = opts.timeout.min(
            opts.deadline
                .saturating_duration_since(tokio::time::Instant::now()),
        );
        if timeout < Duration::from_millis(50) {
            return Err(CdnError::BudgetSpent);
        }
        if let Some(OnSend(sent)) = &opts.on_send {
            sent();
        }
        // Boxed: every domain task holds a call future while it waits, and the HTTP client's is
        // large; boxed, it takes memory only while the call is in flight.
        let result = Box::pin(self.send(api, method, path, query, body, timeout)).await;
        self.pacer.took(api, start.elapsed());
        match &result {
            Err(e) if e.kind() == ErrorKind::Auth => self.gate.failed.store(true, Ordering::SeqCst),
            Err(CdnError::Transport { .. }) => {}
            _ => self.gate.verified.store(true, Ordering::SeqCst),
        }
        if matches!(&result, Err(e) if e.kind() == ErrorKind::Throttled) {
            self.stats.throttled[api.index()].fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn send(
        &self,
        api: Api,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Answer<Vec<u8>>, CdnError> {
        let body = body.unwrap_or_default();
        let mut url = self.endpoint.url().clone();
        url.set_path(path);
        if !query.is_empty() {
            url.set_query(Some(&sign::canonical_query(query)));
        }
        let mut signed: Vec<(String, String)> = vec![
            ("Content-Type".into(), "application/json".into()),
            (
                sign::DATE_HEADER.into(),
                sign::sdk_date(self.clock.unix_now()),
            ),
            ("Host".into(), self.endpoint.host().to_string()),
        ];
        if let Some(token) = &self.credentials.security_token {
            signed.push(("X-Security-Token".into(), token.expose().to_string()));
        }
        if let Some(id) = &self.credentials.domain_id {
            signed.push(("X-Domain-Id".into(), id.clone()));
        }
        let authorization = sign::sign(
            &SignableRequest {
                method: method.as_str(),
                path,
                query,
                headers: &signed,
                body: &body,
            },
            &self.credentials.access_key,
            self.credentials.secret_key.expose(),
        );
        let mut headers = HeaderMap::new();
        for (k, v) in signed.iter().filter(|(k, _)| k != "Host") {
            let mut value = HeaderValue::from_str(v).map_err(|e| CdnError::Transport {
                message: format!("header {k}: {e}"),
                timed_out: false,
            })?;
            value.set_sensitive(k == "X-Security-Token");
            headers.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("static header name"),
                value,
            );
        }
        let mut auth = HeaderValue::from_str(&authorization).expect("ascii authorization");
        auth.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, auth);

        self.stats.calls[api.index()].fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .request(method, url)
            .headers(headers)
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(date) = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        {
            self.server_date
                .store(date.as_secs() as i64, Ordering::Relaxed);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = match read_capped(response, MAX_ANSWER).await {
            Ok(bytes) => bytes,
            Err(BodyError::Transport(e)) => return Err(transport_error(e)),
            Err(BodyError::TooLarge(n)) => {
                return Err(CdnError::Decode {
                    http_status: status,
                    message: format!(
                    "{} answer of {n} bytes or more is larger than {MAX_ANSWER} bytes: not read",
                    api.name()
                ),
                    request_id,
                })
            }
        };
        if (200..300).contains(&status) {
            return Ok(Answer {
                value: bytes,
                request_id,
            });
        }
        let (code, message) = parse_error_body(&bytes).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&bytes);
            (String::new(), text.chars().take(400).collect())
        });
        // The gateway may quote the request it expected; the message reaches results and logs.
        Err(CdnError::Api {
            http_status: status,
            code: crate::redact::upstream(&code),
            message: crate::redact::upstream(&message),
            request_id,
            retry_after,
        })
    }
}

/// The query of a paged list call.
fn page_query(
    page_number: u32,
    page_size: u32,
    enterprise_project_id: Option<&str>,
) -> Vec<(String, String)> {
    let mut query = vec![
        ("page_size".to_string(), page_size.to_string()),
        ("page_number".to_string(), page_number.to_string()),
    ];
    query.extend(eps_query(enterprise_project_id));
    query
}

fn eps_query(enterprise_project_id: Option<&str>) -> Vec<(String, String)> {
    enterprise_project_id
        .map(|e| vec![("enterprise_project_id".to_string(), e.to_string())])
        .unwrap_or_default()
}

fn transport_error(e: reqwest::Error) -> CdnError {
    // reqwest's Display may carry the URL but never headers or bodies.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    CdnError::Transport {
        timed_out: e.is_timeout(),
        message,
    }
}

/// A request body as JSON (a serialization error is ours, reported like an undecodable answer).
fn encode<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, CdnError> {
    serde_json::to_vec(body).map_err(|e| CdnError::Decode {
        http_status: 0,
        message: e.to_string(),
        request_id: None,
    })
}
