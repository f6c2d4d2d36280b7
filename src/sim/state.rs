//! The simulator's account state and its rules, with time passed in: domain status transitions,
//! the PUT semantics of the https block, quota windows and fault matching.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::config::{Drift, Fault, FaultKind, Outcome, SimConfig, TlsIn, DRIFT_SETTINGS};
use super::csms::SecretStore;
use super::obs::ObjectStore;
use super::scm::ScmStore;
use crate::huawei::model::DomainStatus;
use crate::huawei::quota::{Api, Quota};

/// The https block as the simulator stores it. The private key is kept only to check that it
/// matches, and is never returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpsState {
    pub https_status: String,
    pub certificate_name: Option<String>,
    pub certificate_value: Option<String>,
    pub private_key_present: bool,
    pub certificate_source: i64,
    pub scm_certificate_id: Option<String>,
    /// `server` or `server_sm`.
    pub certificate_type: String,
    /// The SM encryption certificate of an SM pair.
    pub enc_certificate_value: Option<String>,
    /// `certificates` of a domain serving more than one certificate (international and SM), as
    /// configured.
    pub certificates: Option<Value>,
    pub http2_status: String,
    pub tls_version: String,
    pub ocsp_stapling_status: String,
    pub expire_time: Option<i64>,
}

/// The TLS versions the CDN falls back to when a PUT's https block omits them (documented:
/// TLS 1.1, 1.2 and 1.3).
pub const DEFAULT_TLS: &str = "TLSv1.1,TLSv1.2,TLSv1.3";

/// Whether `tls` names known versions, consecutive (the CDN refuses `TLSv1.0,TLSv1.2`).
fn tls_ok(tls: &str) -> bool {
    const KNOWN: [&str; 4] = ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
    let mut idx: Vec<usize> = Vec::new();
    for v in tls.split(',') {
        match KNOWN.iter().position(|k| *k == v.trim()) {
            Some(i) if !idx.contains(&i) => idx.push(i),
            _ => return false,
        }
    }
    idx.sort_unstable();
    !idx.is_empty() && idx[idx.len() - 1] - idx[0] + 1 == idx.len()
}

impl HttpsState {
    fn off() -> Self {
        Self {
            https_status: "off".into(),
            certificate_type: "server".into(),
            http2_status: "off".into(),
            tls_version: DEFAULT_TLS.into(),
            ocsp_stapling_status: "off".into(),
            ..Default::default()
        }
    }

    /// Whether it holds an SM certificate (alone, or beside an international one).
    pub fn sm(&self) -> bool {
        self.certificate_type == "server_sm"
            || self.enc_certificate_value.is_some()
            || self.certificates.as_ref().is_some_and(|c| {
                c.as_array()
                    .is_some_and(|a| a.iter().any(|e| e["certificate_type"] == "server_sm"))
            })
    }

    /// Builds the stored block from a PUT body (or, `initial`, a configured block, whose SM
    /// certificates are taken as given): what it omits is reset.
    pub fn from_body(
        b: &Map<String, Value>,
        now_unix: i64,
        initial: bool,
    ) -> Result<Self, (String, String)> {
        let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
        let mut h = Self::off();
        h.https_status = s("https_status").unwrap_or_else(|| "off".into());
        if let Some(v) = s("http2_status") {
            h.http2_status = v;
        }
        if let Some(v) = s("tls_version") {
            if !tls_ok(&v) {
                return Err(bad(
                    "CDN.0002",
                    "tls_version must name one version or consecutive ones (TLSv1.0 to TLSv1.3)",
                ));
            }
            h.tls_version = v;
        }
        if let Some(v) = s("ocsp_stapling_status") {
            h.ocsp_stapling_status = v;
        }
        if let Some(v) = s("certificate_type") {
            h.certificate_type = v;
        }
        h.certificate_source = b
            .get("certificate_source")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        h.certificate_name = s("certificate_name");
        if h.https_status != "on" {
            return Ok(h);
        }
        if h.certificate_name.as_ref().is_none_or(|n| n.len() < 3) {
            return Err(bad(
                "CDN.0162",
                "certificate_name is required (3-64 characters)",
            ));
        }
        if initial && (b.contains_key("certificates") || h.certificate_type == "server_sm") {
            h.certificates = b.get("certificates").cloned();
            h.certificate_value = s("certificate_value");
            h.enc_certificate_value = s("enc_certificate_value");
            h.private_key_present = true;
            return Ok(h);
        }
        match h.certificate_source {
            2 => {
                h.scm_certificate_id = s("scm_certificate_id").filter(|v| !v.is_empty());
                if h.scm_certificate_id.is_none() {
                    return Err(bad("CDN.0162", "scm_certificate_id is required"));
                }
            }
            _ if h.certificate_type == "server_sm" => {
                let need = [
                    "certificate_value",
                    "private_key",
                    "enc_certificate_value",
                    "enc_private_key",
                ];
                if need.iter().any(|k| s(k).is_none()) {
                    return Err(bad(
                        "CDN.0162",
                        "an SM certificate needs certificate_value, private_key, enc_certificate_value and enc_private_key",
                    ));
                }
                h.certificate_value = s("certificate_value");
                h.enc_certificate_value = s("enc_certificate_value");
                h.private_key_present = true;
            }
            _ => {
                let (Some(value), Some(key)) = (s("certificate_value"), s("private_key")) else {
                    return Err(bad(
                        "CDN.0162",
                        "certificate_value and private_key are required",
                    ));
                };
                let bundle =
                    crate::cert::validate(&value, &crate::secret::Secret::new(key), now_unix)
                        .map_err(|e| bad("CDN.0163", &format!("certificate invalid: {e}")))?;
                h.expire_time = Some(bundle.leaf.not_after_unix * 1000);
                h.certificate_value = Some(value);
                h.private_key_present = true;
            }
        }
        Ok(h)
    }

    /// The block as GET returns it; `with_http2` false outside the Chinese mainland, where the
    /// block has no HTTP/2 setting.
    pub fn to_get(&self, with_http2: bool) -> Value {
        let mut v = json!({
            "https_status": self.https_status,
            "certificate_type": self.certificate_type,
            "tls_version": self.tls_version,
            "ocsp_stapling_status": self.ocsp_stapling_status,
        });
        if with_http2 {
            v["http2_status"] = json!(self.http2_status);
        }
        if self.https_status == "on" {
            v["certificate_source"] = json!(self.certificate_source);
            v["certificate_name"] = json!(self.certificate_name);
            if let Some(c) = &self.certificate_value {
                v["certificate_value"] = json!(c);
            }
            if let Some(c) = &self.enc_certificate_value {
                v["enc_certificate_value"] = json!(c);
            }
            if let Some(c) = &self.certificates {
                v["certificates"] = c.clone();
            }
            if let Some(id) = &self.scm_certificate_id {
                v["scm_certificate_id"] = json!(id);
            }
            if let Some(t) = self.expire_time {
                v["expire_time"] = json!(t);
            }
        }
        v
    }
}

/// The paging and filter parameters of the list calls: `page_size` (default 30, at most
/// 10000), `page_number` from 1, `domain_name`, `exact_match`.
struct Paging {
    size: usize,
    page: usize,
    filter: Option<String>,
    exact: bool,
}

impl Paging {
    fn of(query: &[(String, String)]) -> Self {
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let num = |k: &str, default: usize| {
            q(k).and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(default)
        };
        Self {
            size: num("page_size", 30).clamp(1, 10_000),
            page: num("page_number", 1).max(1),
            filter: q("domain_name").map(str::to_ascii_lowercase),
            exact: q("exact_match") == Some("true"),
        }
    }
}

/// `on` for `off`, `off` for anything else.
fn flip(status: &str) -> String {
    if status == "off" { "on" } else { "off" }.into()
}

/// The blocks beside `https` the simulator keeps, by their `configs` name.
pub const BLOCKS: [&str; 5] = ["https_tls_version", "hsts", "quic", "sni", "client_cert"];

fn bad(code: &str, msg: &str) -> (String, String) {
    (code.to_string(), msg.to_string())
}

/// One simulated domain.
#[derive(Debug, Clone)]
pub struct DomainState {
    pub name: String,
    status: DomainStatus,
    /// The status the domain takes at the given instant.
    transition: Option<(Instant, DomainStatus)>,
    pub configure_ms: u64,
    pub outcome: Outcome,
    pub https: HttpsState,
    pub origin_protocol: String,
    pub force_redirect: Value,
    pub service_area: String,
    /// The blocks beside `https` ([`BLOCKS`]) the domain has.
    pub blocks: BTreeMap<String, Value>,
    /// Writes accepted (applied) for this domain.
    pub writes: u32,
    /// Write requests naming this domain that reached the API (past the gateway's signature
    /// and quota checks), applied or not: per-domain writes, and batch calls naming it.
    pub writes_received: u32,
    /// Why writes naming this domain were refused (not applied), in order.
    pub refusals: Vec<String>,
    /// When the domain last went online after a write.
    live_since: Option<Instant>,
    /// When the simulator started (the zero of `timeline` and `write_log`).
    born: Instant,
    /// Every change of the domain's status or served certificate, in order.
    pub timeline: Vec<Served>,
    /// Every write request naming the domain that passed the gateway, in order.
    pub write_log: Vec<WriteRecord>,
    /// Every change of one of its settings ([`settings_view`]), in order.
    pub settings_log: Vec<SettingChange>,
    /// Applied writes of this domain the configured [`Drift`] struck.
    drift_struck: u32,
}

/// One change of one of a domain's settings (those a deployment must keep, see
/// [`settings_view`]), noted when the write that made it was applied (the configuration
/// changes then, while the domain still reads `configuring`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SettingChange {
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// The API of the write that changed it (`UpdateDomainFullConfig`,
    /// `UpdateDomainMultiCertificates`), or `drift` (a change behind that write).
    pub api: String,
    /// Its name in [`settings_view`].
    pub setting: String,
    pub before: Value,
    pub after: Value,
}

/// The settings of a domain a deployment must keep, by name: `origin_protocol`,
/// `force_redirect` (the block), `http2` (`https.http2_status`), `tls_version`
/// (`https.tls_version`), `ocsp_stapling` (`https.ocsp_stapling_status`), `https_tls_version`
/// (the block without its `tls_version`), `hsts`, `quic`, `sni` and `client_cert` (the blocks);
/// an absent block is `null`. Not the certificate nor `https_status`, which a deployment changes
/// on purpose.
pub fn settings_view(d: &DomainState) -> Vec<(&'static str, Value)> {
    let block = |k: &str| d.blocks.get(k).cloned().unwrap_or(Value::Null);
    let mut ciphers = block("https_tls_version");
    if let Some(m) = ciphers.as_object_mut() {
        m.remove("tls_version");
    }
    vec![
        ("origin_protocol", json!(d.origin_protocol)),
        ("force_redirect", d.force_redirect.clone()),
        ("http2", json!(d.https.http2_status)),
        ("tls_version", json!(d.https.tls_version)),
        ("ocsp_stapling", json!(d.https.ocsp_stapling_status)),
        ("https_tls_version", ciphers),
        ("hsts", block("hsts")),
        ("quic", block("quic")),
        ("sni", block("sni")),
        ("client_cert", block("client_cert")),
    ]
}

/// One moment of a domain's life: from `at_ms` on, it had this status and served this
/// certificate.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Served {
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    pub status: String,
    /// The SHA-256 fingerprint (lower-case hex) of the leaf served, `scm:{id}` for a
    /// Certificate Manager certificate; `None` with HTTPS off.
    pub certificate: Option<String>,
}

/// What the caller of a write was told.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "answer", content = "detail", rename_all = "snake_case")]
pub enum WriteAnswer {
    /// Not answered yet (a slow answer, or one the caller stopped waiting for).
    InFlight,
    /// A success.
    Ok,
    /// A refusal the caller can trust (a 4xx, or a failed entry of a batch answer).
    Refused(String),
    /// An answer that says nothing of the write: a 5xx or a reset connection.
    Lost(String),
}

/// Where [`SimState::write_arrived`] noted a write for one domain.
#[derive(Debug, Clone)]
pub struct WriteSlot {
    name: String,
    index: usize,
    writes_before: u32,
}

/// One write request naming a domain that passed the gateway (signature and quota).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WriteRecord {
    /// Milliseconds since the simulator started, when it arrived.
    pub at_ms: u64,
    /// `UpdateDomainFullConfig` or `UpdateDomainMultiCertificates`.
    pub api: String,
    /// Whether the simulator applied it.
    pub applied: bool,
    pub answer: WriteAnswer,
}

impl DomainState {
    /// The status now (applying a due transition).
    pub fn status(&mut self, now: Instant) -> DomainStatus {
        if let Some((at, next)) = &self.transition {
            if now >= *at {
                let at = *at;
                if *next == DomainStatus::Online {
                    self.live_since = Some(at);
                }
                self.status = next.clone();
                self.transition = None;
                self.record(at);
            }
        }
        self.status.clone()
    }

    /// The certificate served, as [`Served::certificate`] names it.
    fn served_certificate(&self) -> Option<String> {
        if self.https.https_status != "on" {
            return None;
        }
        if let Some(id) = &self.https.scm_certificate_id {
            return Some(format!("scm:{id}"));
        }
        self.https
            .certificate_value
            .as_deref()
            .and_then(crate::cert::leaf_fingerprint)
    }

    /// Notes the domain's status and certificate as of `at` in its timeline, when they changed.
    fn record(&mut self, at: Instant) {
        let entry = Served {
            at_ms: at.saturating_duration_since(self.born).as_millis() as u64,
            status: self.status.as_str().to_string(),
            certificate: self.served_certificate(),
        };
        let same = self
            .timeline
            .last()
            .is_some_and(|l| l.status == entry.status && l.certificate == entry.certificate);
        if !same {
            self.timeline.push(entry);
        }
    }

    /// Carries out `change` on the domain and notes in `settings_log`, as made by `api` at
    /// `now`, each setting whose value it changed: every change of a domain's settings goes
    /// through here.
    fn changing(&mut self, api: &str, now: Instant, change: impl FnOnce(&mut Self)) {
        let before = settings_view(self);
        change(self);
        let at_ms = now.saturating_duration_since(self.born).as_millis() as u64;
        for ((setting, before), (_, after)) in before.into_iter().zip(settings_view(self)) {
            if before != after {
                self.settings_log.push(SettingChange {
                    at_ms,
                    api: api.to_string(),
                    setting: setting.to_string(),
                    before,
                    after,
                });
            }
        }
    }

    /// After a write of `api` was applied: changes the setting `drift` names, when it strikes
    /// this write (noted in `settings_log` as made by `drift`).
    fn drift(&mut self, drift: Option<&Drift>, api: Api, now: Instant) {
        let Some(drift) = drift else {
            return;
        };
        if drift.api.as_deref().is_some_and(|a| a != api.name())
            || drift.writes.is_some_and(|n| self.drift_struck >= n)
        {
            return;
        }
        self.drift_struck += 1;
        let setting = drift.setting.as_str();
        self.changing("drift", now, |d| match setting {
            "hsts" | "quic" | "sni" | "client_cert" => match d.blocks.get_mut(setting) {
                Some(v) if v.get("status").and_then(Value::as_str) == Some("off") => {
                    *v = json!({"status": "on"})
                }
                Some(v) => *v = json!({"status": "off"}),
                None if setting == "quic" => {
                    d.blocks.insert(setting.into(), json!({"status": "on"}));
                }
                None => {}
            },
            "tls_version" => {
                d.https.tls_version = if d.https.tls_version == "TLSv1.2,TLSv1.3" {
                    DEFAULT_TLS.into()
                } else {
                    "TLSv1.2,TLSv1.3".into()
                }
            }
            "ocsp_stapling" => d.https.ocsp_stapling_status = flip(&d.https.ocsp_stapling_status),
            "http2" if d.has_http2() => d.https.http2_status = flip(&d.https.http2_status),
            "redirect_code" if d.force_redirect["status"] == "on" => {
                let code = if d.force_redirect["redirect_code"] == 302 {
                    301
                } else {
                    302
                };
                d.force_redirect["redirect_code"] = json!(code);
            }
            "origin_protocol" => {
                d.origin_protocol = if d.origin_protocol == "http" {
                    "https"
                } else {
                    "http"
                }
                .into()
            }
            _ => {}
        });
    }

    /// Outside the Chinese mainland the https block has no HTTP/2 setting.
    fn has_http2(&self) -> bool {
        self.service_area != "outside_mainland_china"
    }

    /// The blocks beside `https` as GET returns them: `https_tls_version` carries the https
    /// block's TLS versions.
    fn blocks_get(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in &self.blocks {
            let mut v = v.clone();
            if k == "https_tls_version" {
                v["tls_version"] = json!(self.https.tls_version);
            }
            out.insert(k.clone(), v);
        }
        out
    }

    fn start_configuring(&mut self, now: Instant) {
        self.status = DomainStatus::Configuring;
        self.live_since = None;
        let delay = Duration::from_millis(self.configure_ms);
        self.transition = match self.outcome {
            Outcome::Online => Some((now + delay, DomainStatus::Online)),
            Outcome::ConfigureFailed => Some((now + delay, DomainStatus::ConfigureFailed)),
            Outcome::Stuck => None,
        };
        self.record(now);
    }
}

/// A snapshot of a domain for tests and the admin endpoint (no key material).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DomainSnapshot {
    pub name: String,
    pub status: String,
    pub writes: u32,
    /// Write requests naming the domain that reached the API, applied or not.
    pub writes_received: u32,
    /// Why writes naming it were refused.
    pub refusals: Vec<String>,
    /// How long it has been online since its last write went live (milliseconds).
    pub live_for_ms: Option<u64>,
    pub https: Value,
    pub origin_protocol: String,
    pub force_redirect: Value,
    /// The blocks beside `https` (`https_tls_version`, `hsts`, ...) as GET returns them.
    pub blocks: Value,
    pub private_key_present: bool,
    /// Whether an SM certificate is still in place.
    pub sm: bool,
    /// Every change of its status or served certificate since the simulator started.
    pub timeline: Vec<Served>,
    /// Every write request naming it that passed the gateway, and what its caller was told.
    pub write_log: Vec<WriteRecord>,
    /// Its settings now, as [`settings_view`] names them.
    pub settings: Map<String, Value>,
    /// Every change of one of its settings since the simulator started.
    pub settings_log: Vec<SettingChange>,
}

impl DomainSnapshot {
    /// Its settings when the simulator started: [`Self::settings`] with every change of
    /// [`Self::settings_log`] undone.
    pub fn initial_settings(&self) -> Map<String, Value> {
        let mut settings = self.settings.clone();
        for change in self.settings_log.iter().rev() {
            settings.insert(change.setting.clone(), change.before.clone());
        }
        settings
    }
}

/// Per-API counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ApiStats {
    /// Calls that reached the API (signature checked).
    pub calls: u64,
    /// Calls answered 429.
    pub throttled: u64,
}

/// What the simulator saw.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SimStats {
    /// By SDK operation name.
    pub apis: BTreeMap<String, ApiStats>,
    /// Calls whose signature (or key, token, date) was rejected.
    pub auth_failures: u64,
    /// Signed calls of every kind (accepted or not).
    pub signed_calls: u64,
    /// CDN calls whose signature was accepted, by the access key that signed them.
    pub cdn_calls_by_key: BTreeMap<String, u64>,
    /// Connections dropped by a `reset` fault.
    pub resets: u64,
    /// Answers sent with an injected error status.
    pub injected_errors: u64,
    /// CSMS calls (ShowSecretVersion), whatever their outcome; never counted above.
    pub csms_calls: u64,
    /// CSMS calls whose signature (or key, token, date) was rejected.
    pub csms_auth_failures: u64,
    /// SCM calls (ShowCertificate), whatever their outcome; never counted above.
    pub scm_calls: u64,
    /// OBS calls (GetObject), whatever their outcome; never counted above.
    pub obs_calls: u64,
    /// OBS calls refused before their signature was accepted (no or unknown key, bad date,
    /// token or signature).
    pub obs_auth_failures: u64,
    /// Every CSMS, SCM, SMN and OBS call, in order.
    pub service_calls: Vec<ServiceCall>,
}

/// One call to a service other than CDN.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServiceCall {
    /// `csms`, `scm`, `smn` or `obs`.
    pub service: String,
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The HTTP status answered.
    pub status: u16,
}

impl SimStats {
    /// Calls that reached `api`.
    pub fn calls(&self, api: Api) -> u64 {
        self.apis.get(api.name()).map_or(0, |s| s.calls)
    }

    /// 429 answers of `api`.
    pub fn throttled(&self, api: Api) -> u64 {
        self.apis.get(api.name()).map_or(0, |s| s.throttled)
    }

    /// 429 answers, all APIs.
    pub fn total_throttled(&self) -> u64 {
        self.apis.values().map(|s| s.throttled).sum()
    }

    /// Notes a CSMS or OBS call in `service_calls`.
    pub(super) fn record_service_call(
        &mut self,
        service: &str,
        method: &str,
        path: &str,
        status: u16,
    ) {
        self.service_calls.push(ServiceCall {
            service: service.into(),
            method: method.into(),
            path: path.into(),
            status,
        });
    }
}

/// The whole simulated account.
#[derive(Debug)]
pub struct SimState {
    pub domains: HashMap<String, DomainState>,
    pub order: Vec<String>,
    pub faults: Vec<(Fault, u32, u32)>,
    quota_windows: HashMap<Api, VecDeque<Instant>>,
    quotas: HashMap<Api, Quota>,
    pub stats: SimStats,
    /// Certificate Manager certificates (ShowCertificate, and the ids a CDN write may name).
    pub scm: ScmStore,
    /// Settings the batch call keeps, by name (`all`: every one).
    batch_keeps: Vec<String>,
    bulk_https_origin_status: i64,
    bulk_redirect_config: bool,
    /// Whether a per-domain PUT resets what it does not carry (`SimConfig::put_resets_unsent`).
    put_resets_unsent: bool,
    /// A setting changed behind each write (`SimConfig::drift`).
    drift: Option<Drift>,
    /// Where a full read carries the TLS versions (`SimConfig::tls_in`).
    tls_in: TlsIn,
    /// Consecutive auth failures per access key, and when the key was locked.
    pub auth_failures: HashMap<String, (u32, Option<Instant>)>,
    request_counter: u64,
    /// CSMS secrets.
    pub secrets: SecretStore,
    /// OBS buckets and objects.
    pub objects: ObjectStore,
    /// SMN messages and webhook bodies received.
    pub received: super::smn::Received,
}

impl SimState {
    /// Builds the account from its configuration.
    pub fn new(cfg: &SimConfig, now: Instant, now_unix: i64) -> Result<Self, String> {
        let mut domains = HashMap::new();
        let mut order = Vec::new();
        for d in &cfg.domains {
            let name = d.name.to_ascii_lowercase();
            let https = match &d.https {
                Some(Value::Object(b)) => HttpsState::from_body(b, now_unix, true)
                    .map_err(|(c, m)| format!("domain {name}: https: {c} {m}"))?,
                Some(_) => return Err(format!("domain {name}: https must be an object")),
                None => HttpsState::off(),
            };
            let mut state = DomainState {
                name: name.clone(),
                status: DomainStatus::parse(&d.status),
                transition: None,
                configure_ms: d.configure_ms,
                outcome: d.outcome,
                https,
                origin_protocol: d.origin_protocol.clone(),
                force_redirect: d
                    .force_redirect
                    .clone()
                    .unwrap_or_else(|| json!({"status": "off"})),
                service_area: d.service_area.clone(),
                blocks: [
                    ("https_tls_version", &d.https_tls_version),
                    ("hsts", &d.hsts),
                    ("quic", &d.quic),
                    ("sni", &d.sni),
                    ("client_cert", &d.client_cert),
                ]
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
                .collect(),
                writes: 0,
                writes_received: 0,
                refusals: Vec::new(),
                live_since: None,
                born: now,
                timeline: Vec::new(),
                write_log: Vec::new(),
                settings_log: Vec::new(),
                drift_struck: 0,
            };
            if cfg.tls_in == TlsIn::HttpsTlsVersion {
                // Every domain has the block that carries its TLS versions.
                state
                    .blocks
                    .entry("https_tls_version".into())
                    .or_insert_with(|| json!({"cipher_suite_group": "default"}));
            }
            state.record(now);
            if state.status == DomainStatus::Configuring {
                state.start_configuring(now);
            }
            order.push(name.clone());
            domains.insert(name, state);
        }
        let scale = if cfg.quota_time_scale > 0.0 {
            cfg.quota_time_scale
        } else {
            1.0
        };
        let mut quotas = HashMap::new();
        for api in Api::ALL {
            let documented = api.documented_quota();
            let count = cfg
                .quotas
                .get(api.name())
                .copied()
                .unwrap_or(documented.count);
            quotas.insert(api, Quota::new(count, documented.window).scaled(scale));
        }
        if let Some(drift) = &cfg.drift {
            if !DRIFT_SETTINGS.contains(&drift.setting.as_str()) {
                return Err(format!(
                    "drift: unknown setting `{}` (one of {})",
                    drift.setting,
                    DRIFT_SETTINGS.join(", ")
                ));
            }
            if let Some(api) = &drift.api {
                if !Api::ALL.iter().any(|a| a.name() == api) {
                    return Err(format!("drift: unknown API `{api}`"));
                }
            }
        }
        for name in cfg.quotas.keys() {
            if !Api::ALL.iter().any(|a| a.name() == name) {
                return Err(format!("quotas: unknown API `{name}`"));
            }
        }
        Ok(Self {
            domains,
            order,
            faults: cfg.faults.iter().cloned().map(|f| (f, 0, 0)).collect(),
            quota_windows: HashMap::new(),
            quotas,
            stats: SimStats::default(),
            scm: ScmStore::new(&cfg.scm_certificates),
            batch_keeps: cfg.batch_keeps.clone(),
            bulk_https_origin_status: cfg.bulk_https_origin_status,
            bulk_redirect_config: cfg.bulk_redirect_config,
            put_resets_unsent: cfg.put_resets_unsent,
            drift: cfg.drift.clone(),
            tls_in: cfg.tls_in,
            auth_failures: HashMap::new(),
            request_counter: 0,
            secrets: SecretStore::new(&cfg.project_id, &cfg.secrets, now_unix),
            objects: ObjectStore::new(&cfg.objects, now_unix),
            received: Default::default(),
        })
    }

    /// A fresh `X-Request-Id`.
    pub fn next_request_id(&mut self) -> String {
        self.request_counter += 1;
        format!("{:016x}{:016x}", fastrand::u64(..), self.request_counter)
    }

    /// Counts a call against `api`'s quota; false when it is over (answer 429).
    pub fn admit(&mut self, api: Api, now: Instant) -> bool {
        let Quota { count, window } = self.quotas[&api];
        let limit = count as usize;
        let q = self.quota_windows.entry(api).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        let stats = self.stats.apis.entry(api.name().to_string()).or_default();
        stats.calls += 1;
        if q.len() >= limit {
            stats.throttled += 1;
            return false;
        }
        q.push_back(now);
        true
    }

    /// The first fault that fires for this call, counted.
    pub fn fault_for(&mut self, api: Api, domain: Option<&str>) -> Option<FaultKind> {
        self.fire(|f| {
            f.api.as_deref().is_none_or(|a| a == api.name())
                && f.domain
                    .as_deref()
                    .is_none_or(|d| Some(d.to_ascii_lowercase().as_str()) == domain)
        })
    }

    /// The first batch fault that names `domain`, counted.
    fn domain_fault(&mut self, domain: &str) -> Option<FaultKind> {
        self.fire(|f| {
            f.api
                .as_deref()
                .is_none_or(|a| a == Api::UpdateMultiCertificates.name())
                && f.domain
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(domain))
        })
    }

    /// The first fault `matches` accepts that is due (past its `skip`, within its `times`).
    fn fire(&mut self, matches: impl Fn(&Fault) -> bool) -> Option<FaultKind> {
        for (f, seen, fired) in &mut self.faults {
            if !matches(f) {
                continue;
            }
            *seen += 1;
            if *seen <= f.skip || f.times.is_some_and(|t| *fired >= t) {
                continue;
            }
            *fired += 1;
            return Some(f.kind.clone());
        }
        None
    }

    /// A snapshot of one domain.
    pub fn snapshot(&mut self, name: &str, now: Instant) -> Option<DomainSnapshot> {
        let d = self.domains.get_mut(&name.to_ascii_lowercase())?;
        let status = d.status(now).as_str().to_string();
        Some(DomainSnapshot {
            name: d.name.clone(),
            status,
            writes: d.writes,
            writes_received: d.writes_received,
            refusals: d.refusals.clone(),
            live_for_ms: d
                .live_since
                .map(|t| now.saturating_duration_since(t).as_millis() as u64),
            https: d.https.to_get(d.has_http2()),
            origin_protocol: d.origin_protocol.clone(),
            force_redirect: d.force_redirect.clone(),
            blocks: Value::Object(d.blocks_get()),
            private_key_present: d.https.private_key_present,
            sm: d.https.sm(),
            timeline: d.timeline.clone(),
            write_log: d.write_log.clone(),
            settings: settings_view(d)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            settings_log: d.settings_log.clone(),
        })
    }

    /// ShowDomainDetailByName (`https_status` documented there as 0 off, 1 follow, 2 http,
    /// 3 https).
    pub fn detail(&mut self, name: &str, now: Instant) -> Result<Value, (u16, String, String)> {
        let d = self.domain(name)?;
        let status = d.status(now);
        let https_status = match (d.https.https_status.as_str(), d.origin_protocol.as_str()) {
            ("on", "follow") => 1,
            ("on", "https") => 3,
            ("on", _) => 2,
            _ => 0,
        };
        Ok(json!({"domain": {
            "id": format!("id-{}", d.name),
            "domain_name": d.name,
            "business_type": "web",
            "service_area": d.service_area,
            "domain_status": status.as_str(),
            "https_status": https_status,
        }}))
    }

    /// ListDomains: `page_size` (default 30, at most 10000), `page_number` from 1, `domain_name`
    /// (a substring, or the whole name with `exact_match=true`), in the account's order.
    pub fn list_domains(&mut self, query: &[(String, String)], now: Instant) -> Value {
        let Paging {
            size,
            page,
            filter,
            exact,
        } = Paging::of(query);
        let matching: Vec<String> = self
            .order
            .iter()
            .filter(|n| match &filter {
                Some(f) if exact => *n == f,
                Some(f) => n.contains(f.as_str()),
                None => true,
            })
            .cloned()
            .collect();
        let total = matching.len();
        let domains: Vec<Value> = matching
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .map(|n| {
                let d = self.domains.get_mut(n).expect("listed domains exist");
                json!({
                    "id": format!("id-{n}"),
                    "domain_name": n,
                    "business_type": "web",
                    "domain_status": d.status(now).as_str(),
                    "cname": super::dns::assigned_cname(n),
                    "https_status": i64::from(d.https.https_status == "on"),
                    "service_area": d.service_area,
                })
            })
            .collect();
        json!({"total": total, "domains": domains})
    }

    /// ShowCertificatesHttpsInfo: every domain's HTTPS settings and certificate, paged like
    /// ListDomains. `https_status` is 1 for a following origin, 2 for HTTP, and for HTTPS what
    /// the configuration says (3, or 2 like HTTP: the documentation lists no value for it).
    pub fn https_info(&mut self, query: &[(String, String)]) -> Value {
        let Paging {
            size, page, filter, ..
        } = Paging::of(query);
        let names: Vec<String> = self
            .order
            .iter()
            .filter(|n| filter.as_ref().is_none_or(|f| n.contains(f.as_str())))
            .cloned()
            .collect();
        let https: Vec<Value> = names
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .map(|n| {
                let d = &self.domains[n];
                let on = d.https.https_status == "on";
                let origin = match d.origin_protocol.as_str() {
                    "follow" => 1,
                    "https" => self.bulk_https_origin_status,
                    _ => 2,
                };
                let redirect_on = d.force_redirect["status"] == "on";
                let to_http = d.force_redirect["type"] == "http";
                let mut v = json!({
                    "domain_id": format!("id-{n}"),
                    "domain_name": n,
                    "https_status": if on { origin } else { 0 },
                    "force_redirect_https": match (redirect_on, to_http) {
                        (false, _) => 0,
                        (true, false) => 1,
                        (true, true) => 2,
                    },
                });
                if d.has_http2() {
                    v["http2"] = json!(i64::from(d.https.http2_status == "on"));
                }
                if self.bulk_redirect_config {
                    v["force_redirect_config"] = json!({
                        "switch": i64::from(redirect_on),
                        "redirect_type": d.force_redirect.get("type").cloned().unwrap_or(json!("https")),
                    });
                }
                if on {
                    v["cert_name"] = json!(d.https.certificate_name);
                    v["certificate_type"] = json!(d.https.certificate_source);
                    v["certificate"] = json!(d.https.certificate_value);
                    v["expiration_time"] = json!(d.https.expire_time);
                }
                v
            })
            .collect();
        json!({"total": names.len(), "https": https})
    }

    /// Whether the batch call keeps `setting` (see `SimConfig::batch_keeps`).
    fn batch_keeps(&self, setting: &str) -> bool {
        self.batch_keeps.iter().any(|k| k == setting || k == "all")
    }

    /// UpdateDomainMultiCertificates: one certificate onto up to 50 domains. What the body omits
    /// falls back (http origin, HTTP/2 off, no redirect); the settings it cannot carry are reset
    /// unless configured as kept; an SM certificate is replaced. Domains that cannot take it
    /// (missing, busy, HTTP/2 sent outside the mainland) fail alone, in a 200 whose `status`
    /// is `fail`. Each domain written then takes the configured drift, if any.
    pub fn batch_update(
        &mut self,
        body: &Value,
        now: Instant,
        now_unix: i64,
    ) -> Result<Value, (u16, String, String)> {
        let h = body.get("https").and_then(Value::as_object).ok_or((
            400,
            "CDN.0002".to_string(),
            "https is required".to_string(),
        ))?;
        let batch = BatchBody::parse(h, now_unix)?;
        let kept = Kept::of(|s| self.batch_keeps(s));
        let results: Vec<Value> = batch
            .names
            .iter()
            .map(|name| self.batch_one(name, &batch, &kept, now))
            .collect();
        if results.iter().all(|r| r["status"] == "success") {
            let mut echo = h.clone();
            echo.remove("private_key");
            return Ok(json!({"https": echo}));
        }
        Ok(json!({"status": "fail", "result": results}))
    }

    /// One domain of a batch write: its result entry (`success`, or `fail` and why).
    fn batch_one(&mut self, name: &str, batch: &BatchBody, kept: &Kept, now: Instant) -> Value {
        let fail = |reason: &str| json!({"domain_name": name, "status": "fail", "reason": reason});
        if let Some(FaultKind::BatchFail { reason }) = self.domain_fault(name) {
            if let Some(d) = self.domains.get_mut(name) {
                d.writes_received += 1;
                d.refusals.push(reason.clone());
            }
            return fail(&reason);
        }
        let drift = self.drift.clone();
        let Some(d) = self.domains.get_mut(name) else {
            return fail("domain not exist!");
        };
        d.writes_received += 1;
        let refusal = if d.status(now) == DomainStatus::Configuring {
            Some("The domain is being configured, try again later.")
        } else if batch.http2 && !d.has_http2() {
            Some("HTTP/2 is not supported for this service area.")
        } else {
            None
        };
        if let Some(reason) = refusal {
            d.refusals.push(reason.into());
            return fail(reason);
        }
        d.changing(Api::UpdateMultiCertificates.name(), now, |d| {
            batch.apply(d, kept)
        });
        d.drift(drift.as_ref(), Api::UpdateMultiCertificates, now);
        d.writes += 1;
        d.start_configuring(now);
        json!({"domain_name": name, "status": "success"})
    }

    /// ShowDomainFullConfig.
    pub fn full_config(&mut self, name: &str) -> Result<Value, (u16, String, String)> {
        let tls_in = self.tls_in;
        let d = self.domain(name)?;
        let mut configs = json!({
            "business_type": "web",
            "service_area": d.service_area,
            "origin_protocol": d.origin_protocol,
            "force_redirect": d.force_redirect,
            "https": d.https.to_get(d.has_http2()),
            "compress": {"status": "off"},
        });
        for (k, v) in d.blocks_get() {
            configs[k] = v;
        }
        if tls_in == TlsIn::HttpsTlsVersion {
            if let Some(h) = configs["https"].as_object_mut() {
                h.remove("tls_version");
            }
            if configs.get("https_tls_version").is_none() {
                configs["https_tls_version"] =
                    json!({"tls_version": d.https.tls_version, "cipher_suite_group": "default"});
            }
        }
        Ok(json!({ "configs": configs }))
    }

    /// Notes a write request naming `names` that passed the gateway, not answered yet, in each
    /// domain's `write_log`; returns the domains it names with where each record is kept.
    pub fn write_arrived(&mut self, api: Api, names: &[String], now: Instant) -> Vec<WriteSlot> {
        let mut slots = Vec::new();
        for name in names {
            let name = name.to_ascii_lowercase();
            if let Some(d) = self.domains.get_mut(&name) {
                d.write_log.push(WriteRecord {
                    at_ms: now.saturating_duration_since(d.born).as_millis() as u64,
                    api: api.name().to_string(),
                    applied: false,
                    answer: WriteAnswer::InFlight,
                });
                slots.push(WriteSlot {
                    index: d.write_log.len() - 1,
                    writes_before: d.writes,
                    name,
                });
            }
        }
        slots
    }

    /// Completes the records [`Self::write_arrived`] made once the write was carried out (or
    /// not): applied when the domain's count of applied writes grew; told `lost` (a 5xx or a
    /// reset), else `refused` by the call as a whole, else what the domain's own part came to
    /// (a success, or its refusal inside a batch answer).
    pub fn write_answered(
        &mut self,
        slots: &mut [WriteSlot],
        lost: Option<&str>,
        refused: Option<&str>,
    ) {
        for slot in slots {
            let Some(d) = self.domains.get_mut(&slot.name) else {
                continue;
            };
            let applied = d.writes > slot.writes_before;
            let answer = match (lost, refused) {
                (Some(why), _) => WriteAnswer::Lost(why.to_string()),
                (None, Some(why)) => WriteAnswer::Refused(why.to_string()),
                (None, None) if applied => WriteAnswer::Ok,
                (None, None) => WriteAnswer::Refused(
                    d.refusals
                        .last()
                        .cloned()
                        .unwrap_or_else(|| "refused".into()),
                ),
            };
            if let Some(r) = d.write_log.get_mut(slot.index) {
                r.applied = applied;
                r.answer = answer;
            }
        }
    }

    /// Takes a note of how many writes each domain named had applied before the call is
    /// carried out (under the same lock as the call).
    pub fn write_starting(&mut self, slots: &mut [WriteSlot]) {
        for slot in slots {
            if let Some(d) = self.domains.get(&slot.name) {
                slot.writes_before = d.writes;
            }
        }
    }

    /// Counts a write request naming `name` that reached the API (applied or not), and why it
    /// was refused when it was.
    pub fn note_write(&mut self, name: &str, refusal: Option<&str>) {
        if let Some(d) = self.domains.get_mut(&name.to_ascii_lowercase()) {
            d.writes_received += 1;
            d.refusals.extend(refusal.map(str::to_string));
        }
    }

    /// UpdateDomainFullConfig: applies the `configs` given (an `https` block replaces the whole
    /// block, resetting what it omits; each other block given replaces that block; with
    /// `put_resets_unsent`, what is not given is reset too) and starts `configuring`; then the
    /// configured drift, if any.
    pub fn update_full_config(
        &mut self,
        name: &str,
        body: &Value,
        now: Instant,
        now_unix: i64,
    ) -> Result<(), (u16, String, String)> {
        let scm = self.scm.clone();
        let unknown_scm = |h: &HttpsState| {
            h.scm_certificate_id
                .clone()
                .filter(|id| !scm.is_empty() && !scm.contains(id))
        };
        let (resets, drift) = (self.put_resets_unsent, self.drift.clone());
        let d = self.domain(name)?;
        if d.status(now) == DomainStatus::Configuring {
            return Err((
                400,
                "CDN.0106".into(),
                "The domain is being configured, try again later.".into(),
            ));
        }
        let configs = body.get("configs").and_then(Value::as_object).ok_or((
            400,
            "CDN.0002".to_string(),
            "configs is required".to_string(),
        ))?;
        let https = match configs.get("https") {
            Some(Value::Object(b)) => {
                if b.contains_key("http2_status") && !d.has_http2() {
                    return Err((
                        400,
                        "CDN.0002".into(),
                        "http2_status is not supported outside the Chinese mainland".into(),
                    ));
                }
                Some(HttpsState::from_body(b, now_unix, false).map_err(|(c, m)| (400, c, m))?)
            }
            Some(_) => return Err((400, "CDN.0002".into(), "https must be an object".into())),
            None => None,
        };
        if let Some(id) = https.as_ref().and_then(unknown_scm) {
            return Err((
                400,
                "CDN.0166".into(),
                format!("SCM certificate {id} does not exist"),
            ));
        }
        d.changing(Api::UpdateFullConfig.name(), now, |d| {
            if let Some(h) = https {
                d.https = h;
                if !d.has_http2() {
                    d.https.http2_status = "off".into();
                }
            }
            if let Some(p) = configs.get("origin_protocol").and_then(Value::as_str) {
                d.origin_protocol = p.to_string();
            } else if resets {
                d.origin_protocol = "http".into();
            }
            if let Some(r) = configs.get("force_redirect") {
                d.force_redirect = r.clone();
            } else if resets {
                d.force_redirect = json!({"status": "off"});
            }
            for block in BLOCKS {
                if let Some(v) = configs.get(block) {
                    let mut v = v.clone();
                    if block == "https_tls_version" {
                        if let Some(tls) = v.get("tls_version").and_then(Value::as_str) {
                            d.https.tls_version = tls.to_string();
                        }
                        if let Some(m) = v.as_object_mut() {
                            m.remove("tls_version");
                        }
                    }
                    d.blocks.insert(block.to_string(), v);
                } else if let Some(v) = d.blocks.get_mut(block).filter(|_| resets) {
                    *v = if block == "https_tls_version" {
                        json!({"cipher_suite_group": "default"})
                    } else {
                        json!({"status": "off"})
                    };
                }
            }
        });
        d.drift(drift.as_ref(), Api::UpdateFullConfig, now);
        d.writes += 1;
        d.start_configuring(now);
        Ok(())
    }

    fn domain(&mut self, name: &str) -> Result<&mut DomainState, (u16, String, String)> {
        self.domains.get_mut(&name.to_ascii_lowercase()).ok_or((
            400,
            "CDN.0170".into(),
            "domain not exist!".into(),
        ))
    }
}

/// A batch write's body as the CDN reads it: the domains, the HTTPS block it writes, and what
/// it says (or omits) of the origin, HTTP/2 and the redirect.
struct BatchBody {
    names: Vec<String>,
    template: HttpsState,
    http2: bool,
    origin: &'static str,
    /// The forced redirect's type when it is on.
    redirect: Option<String>,
}

impl BatchBody {
    fn parse(h: &Map<String, Value>, now_unix: i64) -> Result<Self, (u16, String, String)> {
        let names: Vec<String> = h
            .get("domain_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        if names.is_empty() || names.len() > 50 {
            return Err((
                400,
                "CDN.0002".into(),
                format!("1 to 50 domains, got {}", names.len()),
            ));
        }
        let int = |k: &str| h.get(k).and_then(Value::as_i64);
        let switch_on = int("https_switch") == Some(1);
        let mut block = Map::new();
        block.insert(
            "https_status".into(),
            json!(if switch_on { "on" } else { "off" }),
        );
        block.insert(
            "certificate_source".into(),
            json!(int("certificate_type").unwrap_or(0)),
        );
        for (from, to) in [
            ("cert_name", "certificate_name"),
            ("certificate", "certificate_value"),
            ("private_key", "private_key"),
            ("scm_certificate_id", "scm_certificate_id"),
        ] {
            if let Some(v) = h.get(from) {
                block.insert(to.into(), v.clone());
            }
        }
        let http2 = int("http2") == Some(1);
        block.insert(
            "http2_status".into(),
            json!(if http2 { "on" } else { "off" }),
        );
        let template =
            HttpsState::from_body(&block, now_unix, false).map_err(|(c, m)| (400, c, m))?;
        let origin = match int("access_origin_way") {
            Some(1) => "follow",
            Some(3) => "https",
            _ => "http",
        };
        // The recommended field wins; the older one is read when it is absent.
        let redirect = match h.get("force_redirect_config") {
            Some(c) if c.get("switch").and_then(Value::as_i64) == Some(1) => Some(
                c.get("redirect_type")
                    .and_then(Value::as_str)
                    .unwrap_or("https")
                    .to_string(),
            ),
            Some(_) => None,
            None => (int("force_redirect_https") == Some(1)).then(|| "https".to_string()),
        };
        Ok(Self {
            names,
            template,
            http2,
            origin,
            redirect,
        })
    }

    /// What the write leaves on a domain: the HTTPS block as sent (HTTP/2 off where the area has
    /// none), the origin and redirect as sent or their fallbacks, and the blocks it cannot carry
    /// reset unless kept.
    fn apply(&self, d: &mut DomainState, kept: &Kept) {
        let mut https = self.template.clone();
        if !d.has_http2() {
            https.http2_status = "off".into();
        }
        if kept.tls {
            https.tls_version = d.https.tls_version.clone();
        }
        if kept.ocsp {
            https.ocsp_stapling_status = d.https.ocsp_stapling_status.clone();
        }
        d.https = https;
        d.origin_protocol = self.origin.to_string();
        d.force_redirect = match &self.redirect {
            None => json!({"status": "off"}),
            Some(kind) => {
                let old = d.force_redirect.get("redirect_code").cloned();
                let code = match old {
                    Some(c) if kept.redirect_code => c,
                    _ => json!(301),
                };
                json!({"status": "on", "type": kind, "redirect_code": code})
            }
        };
        for (block, kept) in &kept.blocks {
            if *kept {
                continue;
            }
            if let Some(v) = d.blocks.get_mut(*block) {
                *v = if *block == "https_tls_version" {
                    json!({"cipher_suite_group": "default"})
                } else {
                    json!({"status": "off"})
                };
            }
        }
    }
}

/// What the simulator's reading of the batch call keeps of what the call cannot carry.
struct Kept {
    tls: bool,
    ocsp: bool,
    redirect_code: bool,
    /// The blocks beside `https`, each kept or reset.
    blocks: Vec<(&'static str, bool)>,
}

impl Kept {
    fn of(keep: impl Fn(&str) -> bool) -> Self {
        Self {
            tls: keep("tls_version"),
            ocsp: keep("ocsp_stapling"),
            redirect_code: keep("redirect_code"),
            blocks: [
                ("https_tls_version", "cipher_suites"),
                ("hsts", "hsts"),
                ("quic", "quic"),
                ("sni", "origin_sni"),
                ("client_cert", "client_cert"),
            ]
            .into_iter()
            .map(|(block, setting)| (block, keep(setting)))
            .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::SimDomainConfig;

    fn pem(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    fn put_body(chain: &str, key: &str) -> Value {
        json!({"configs": {"https": {"https_status": "on", "certificate_name": "new",
               "certificate_source": 0, "certificate_value": chain, "private_key": key}}})
    }

    #[tokio::test(start_paused = true)]
    async fn a_domain_keeps_its_timeline_and_every_write_it_was_sent() {
        let (old, old_key) = pem(&["www.example.com"]);
        let (new, new_key) = pem(&["www.example.com"]);
        let cfg = SimConfig {
            domains: vec![SimDomainConfig {
                configure_ms: 100,
                https: Some(json!({"https_status": "on", "certificate_name": "old",
                    "certificate_source": 0, "certificate_value": old, "private_key": old_key})),
                ..SimDomainConfig::new("www.example.com")
            }],
            ..Default::default()
        };
        let start = Instant::now();
        let unix = crate::clock::Clock::unix_now(&crate::clock::SystemClock);
        let mut st = SimState::new(&cfg, start, unix).unwrap();
        let name = "www.example.com".to_string();
        let (old_fp, new_fp) = (
            crate::cert::leaf_fingerprint(&old),
            crate::cert::leaf_fingerprint(&new),
        );

        // Applied, then answered 500: the record says both.
        tokio::time::advance(Duration::from_millis(10)).await;
        let now = Instant::now();
        let mut slots = st.write_arrived(Api::UpdateFullConfig, std::slice::from_ref(&name), now);
        st.write_starting(&mut slots);
        st.update_full_config(&name, &put_body(&new, &new_key), now, unix)
            .unwrap();
        st.write_answered(&mut slots, Some("500 CDN.0001"), Some("500 CDN.0001"));

        // Refused while configuring (CDN.0106): not applied, and the caller knows.
        let mut slots = st.write_arrived(Api::UpdateFullConfig, std::slice::from_ref(&name), now);
        st.write_starting(&mut slots);
        let (status, code, msg) = st
            .update_full_config(&name, &put_body(&new, &new_key), now, unix)
            .unwrap_err();
        assert_eq!(code, "CDN.0106");
        st.write_answered(&mut slots, None, Some(&format!("{status} {code}: {msg}")));

        // A name the account does not hold leaves no record.
        assert!(st
            .write_arrived(Api::UpdateFullConfig, &["nope.example.com".into()], now)
            .is_empty());

        tokio::time::advance(Duration::from_millis(100)).await;
        let s = st.snapshot(&name, Instant::now()).unwrap();
        assert_eq!(s.status, "online");
        let timeline: Vec<(u64, &str, Option<String>)> = s
            .timeline
            .iter()
            .map(|e| (e.at_ms, e.status.as_str(), e.certificate.clone()))
            .collect();
        assert_eq!(
            timeline,
            vec![
                (0, "online", old_fp),
                (10, "configuring", new_fp.clone()),
                (110, "online", new_fp),
            ]
        );
        assert_eq!(s.write_log.len(), 2);
        assert!(s.write_log[0].applied);
        assert_eq!(
            s.write_log[0].answer,
            WriteAnswer::Lost("500 CDN.0001".into())
        );
        assert!(!s.write_log[1].applied);
        assert!(
            matches!(&s.write_log[1].answer, WriteAnswer::Refused(why) if why.contains("CDN.0106")),
            "{:?}",
            s.write_log[1]
        );
        assert_eq!((s.writes, s.write_log[1].at_ms), (1, 10));
    }

    /// A simulator with `domains` (configuring for 100 ms after a write), started now.
    fn sim(cfg: SimConfig) -> (SimState, i64) {
        let unix = crate::clock::Clock::unix_now(&crate::clock::SystemClock);
        (SimState::new(&cfg, Instant::now(), unix).unwrap(), unix)
    }

    /// An online domain serving a certificate for its name, with these blocks beside `https`.
    fn domain_with(name: &str, blocks: &[(&str, Value)]) -> SimDomainConfig {
        let (chain, key) = pem(&[name]);
        let mut d = SimDomainConfig {
            configure_ms: 100,
            https: Some(json!({"https_status": "on", "certificate_name": "old",
                "certificate_source": 0, "certificate_value": chain, "private_key": key,
                "http2_status": "on", "tls_version": "TLSv1.2,TLSv1.3",
                "ocsp_stapling_status": "on"})),
            force_redirect: Some(json!({"status": "on", "type": "https", "redirect_code": 302})),
            ..SimDomainConfig::new(name)
        };
        for (k, v) in blocks {
            let v = Some(v.clone());
            match *k {
                "https_tls_version" => d.https_tls_version = v,
                "hsts" => d.hsts = v,
                "quic" => d.quic = v,
                "sni" => d.sni = v,
                "client_cert" => d.client_cert = v,
                other => panic!("no block {other}"),
            }
        }
        d
    }

    /// A batch body writing a new certificate for `name` onto `names` (HTTPS origin, HTTP/2
    /// on, redirect on).
    fn batch_body(names: &str, cert_names: &[&str]) -> Value {
        let (chain, key) = pem(cert_names);
        json!({"https": {"domain_name": names, "https_switch": 1, "access_origin_way": 1,
            "http2": 1, "force_redirect_config": {"switch": 1, "redirect_type": "https"},
            "cert_name": "new", "certificate": chain, "private_key": key,
            "certificate_type": 0}})
    }

    /// A per-domain body carrying every setting of `domain_with`'s domain (its `origin_protocol`
    /// and `force_redirect` too) and a new certificate, plus `extra` blocks.
    fn full_put(name: &str, extra: &[(&str, Value)]) -> Value {
        let (chain, key) = pem(&[name]);
        let mut configs = json!({
            "origin_protocol": "follow",
            "force_redirect": {"status": "on", "type": "https", "redirect_code": 302},
            "https": {"https_status": "on", "certificate_name": "new", "certificate_source": 0,
                "certificate_value": chain, "private_key": key, "http2_status": "on",
                "tls_version": "TLSv1.2,TLSv1.3", "ocsp_stapling_status": "on"},
        });
        for (k, v) in extra {
            configs[*k] = v.clone();
        }
        json!({ "configs": configs })
    }

    #[tokio::test(start_paused = true)]
    async fn the_settings_log_records_what_a_write_changed_and_nothing_else() {
        let hsts = json!({"status": "on", "max_age": 31536000, "include_subdomains": "on"});
        let (mut st, unix) = sim(SimConfig {
            domains: vec![
                domain_with("a.example.com", &[("hsts", hsts.clone())]),
                domain_with("b.example.com", &[("hsts", hsts.clone())]),
                domain_with("idle.example.com", &[("hsts", hsts.clone())]),
            ],
            ..Default::default()
        });
        for name in ["a.example.com", "b.example.com", "idle.example.com"] {
            let s = st.snapshot(name, Instant::now()).unwrap();
            assert!(s.settings_log.is_empty(), "{name}: {:?}", s.settings_log);
        }
        tokio::time::advance(Duration::from_millis(10)).await;

        // The batch call switches the present HSTS off, and resets TLS, OCSP and the code.
        let answer = st
            .batch_update(
                &batch_body("a.example.com", &["a.example.com"]),
                Instant::now(),
                unix,
            )
            .unwrap();
        assert!(answer.get("status").is_none(), "{answer}");
        let a = st.snapshot("a.example.com", Instant::now()).unwrap();
        let changes: Vec<(u64, &str, &str, &Value, &Value)> = a
            .settings_log
            .iter()
            .map(|c| {
                (
                    c.at_ms,
                    c.api.as_str(),
                    c.setting.as_str(),
                    &c.before,
                    &c.after,
                )
            })
            .collect();
        let batch = "UpdateDomainMultiCertificates";
        assert_eq!(
            changes,
            vec![
                (
                    10,
                    batch,
                    "force_redirect",
                    &json!({"status": "on", "type": "https", "redirect_code": 302}),
                    &json!({"status": "on", "type": "https", "redirect_code": 301})
                ),
                (
                    10,
                    batch,
                    "tls_version",
                    &json!("TLSv1.2,TLSv1.3"),
                    &json!(DEFAULT_TLS)
                ),
                (10, batch, "ocsp_stapling", &json!("on"), &json!("off")),
                (10, batch, "hsts", &hsts, &json!({"status": "off"})),
            ]
        );
        // Recorded at once, while the domain is still configuring.
        assert_eq!(a.status, "configuring");
        assert_eq!(a.initial_settings()["hsts"], hsts);
        assert_ne!(a.initial_settings(), a.settings);

        // A per-domain write carrying every setting changes none.
        st.update_full_config(
            "b.example.com",
            &full_put("b.example.com", &[("hsts", hsts.clone())]),
            Instant::now(),
            unix,
        )
        .unwrap();
        let b = st.snapshot("b.example.com", Instant::now()).unwrap();
        assert_eq!(b.writes, 1);
        assert!(b.settings_log.is_empty(), "{:?}", b.settings_log);
        assert_eq!(b.initial_settings(), b.settings);

        // A domain never written has an empty log.
        tokio::time::advance(Duration::from_millis(500)).await;
        let idle = st.snapshot("idle.example.com", Instant::now()).unwrap();
        assert!(idle.settings_log.is_empty());
        assert_eq!(idle.settings["hsts"], hsts);
    }

    /// `(api, setting, before, after)` of each entry of a domain's settings log.
    fn changes(st: &mut SimState, name: &str) -> Vec<(String, String, Value, Value)> {
        let s = st.snapshot(name, Instant::now()).unwrap();
        s.settings_log
            .into_iter()
            .map(|c| (c.api, c.setting, c.before, c.after))
            .collect()
    }

    fn change(
        api: &str,
        setting: &str,
        before: Value,
        after: Value,
    ) -> (String, String, Value, Value) {
        (api.into(), setting.into(), before, after)
    }

    const PUT: &str = "UpdateDomainFullConfig";

    #[tokio::test(start_paused = true)]
    async fn put_resets_unsent_resets_what_a_put_does_not_carry() {
        let hsts = json!({"status": "on", "max_age": 600});
        let quic = json!({"status": "on"});
        let domain = || {
            domain_with(
                "www.example.com",
                &[("hsts", hsts.clone()), ("quic", quic.clone())],
            )
        };
        // Only the https block and HSTS: no origin, redirect, QUIC, SNI or cipher suites.
        let body = |st: &SimState| {
            let mut b = full_put("www.example.com", &[("hsts", hsts.clone())]);
            let configs = b["configs"].as_object_mut().unwrap();
            configs.remove("origin_protocol");
            configs.remove("force_redirect");
            assert_eq!(st.domains["www.example.com"].origin_protocol, "follow");
            b
        };
        let name = "www.example.com";

        // By default an unsent setting is left as it is.
        let (mut st, unix) = sim(SimConfig {
            domains: vec![domain()],
            ..Default::default()
        });
        let b = body(&st);
        st.update_full_config(name, &b, Instant::now(), unix)
            .unwrap();
        assert_eq!(changes(&mut st, name), vec![]);

        let (mut st, unix) = sim(SimConfig {
            domains: vec![domain()],
            put_resets_unsent: true,
            ..Default::default()
        });
        let b = body(&st);
        st.update_full_config(name, &b, Instant::now(), unix)
            .unwrap();
        assert_eq!(
            changes(&mut st, name),
            vec![
                change(PUT, "origin_protocol", json!("follow"), json!("http")),
                change(
                    PUT,
                    "force_redirect",
                    json!({"status": "on", "type": "https", "redirect_code": 302}),
                    json!({"status": "off"})
                ),
                change(PUT, "quic", quic.clone(), json!({"status": "off"})),
            ]
        );
        let s = st.snapshot(name, Instant::now()).unwrap();
        // HSTS was sent and kept; the absent blocks stay absent.
        assert_eq!(s.settings["hsts"], hsts);
        assert_eq!(
            (&s.settings["sni"], &s.settings["https_tls_version"]),
            (&Value::Null, &Value::Null)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn drift_on_the_first_write_only_lets_a_restore_hold() {
        let hsts = json!({"status": "on", "max_age": 600});
        let (mut st, unix) = sim(SimConfig {
            domains: vec![domain_with("www.example.com", &[("hsts", hsts.clone())])],
            drift: Some(Drift {
                setting: "hsts".into(),
                writes: Some(1),
                api: None,
            }),
            ..Default::default()
        });
        let name = "www.example.com";
        // The write carries HSTS as it is; it is switched off behind it all the same.
        let put = full_put(name, &[("hsts", hsts.clone())]);
        st.update_full_config(name, &put, Instant::now(), unix)
            .unwrap();
        let struck = change("drift", "hsts", hsts.clone(), json!({"status": "off"}));
        assert_eq!(changes(&mut st, name), vec![struck.clone()]);
        tokio::time::advance(Duration::from_millis(200)).await;
        // A write restoring it holds: only the first write is struck.
        st.update_full_config(name, &put, Instant::now(), unix)
            .unwrap();
        assert_eq!(
            changes(&mut st, name),
            vec![
                struck,
                change(PUT, "hsts", json!({"status": "off"}), hsts.clone())
            ]
        );
        let s = st.snapshot(name, Instant::now()).unwrap();
        assert_eq!(s.settings, s.initial_settings());
        assert_eq!(s.writes, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn drift_on_every_write_strikes_a_restore_too() {
        let name = "www.example.com";
        let cfg = |api: Option<&str>| SimConfig {
            domains: vec![domain_with(name, &[])],
            drift: Some(Drift {
                setting: "tls_version".into(),
                writes: None,
                api: api.map(str::to_string),
            }),
            ..Default::default()
        };
        let (mut st, unix) = sim(cfg(None));
        let put = full_put(name, &[]);
        let (tls12, all) = (json!("TLSv1.2,TLSv1.3"), json!(DEFAULT_TLS));
        st.update_full_config(name, &put, Instant::now(), unix)
            .unwrap();
        tokio::time::advance(Duration::from_millis(200)).await;
        st.update_full_config(name, &put, Instant::now(), unix)
            .unwrap();
        tokio::time::advance(Duration::from_millis(200)).await;
        st.batch_update(&batch_body(name, &[name]), Instant::now(), unix)
            .unwrap();
        assert_eq!(
            changes(&mut st, name),
            vec![
                change("drift", "tls_version", tls12.clone(), all.clone()),
                // The restore is applied, then struck again.
                change(PUT, "tls_version", all.clone(), tls12.clone()),
                change("drift", "tls_version", tls12.clone(), all.clone()),
                // The batch call resets it to the default (its own reset), then the drift.
                change(
                    "UpdateDomainMultiCertificates",
                    "force_redirect",
                    json!({"status": "on", "type": "https", "redirect_code": 302}),
                    json!({"status": "on", "type": "https", "redirect_code": 301})
                ),
                change(
                    "UpdateDomainMultiCertificates",
                    "ocsp_stapling",
                    json!("on"),
                    json!("off")
                ),
                change("drift", "tls_version", all.clone(), tls12.clone()),
            ]
        );

        // Drift of one API only leaves the other's writes alone.
        let (mut st, unix) = sim(cfg(Some("UpdateDomainMultiCertificates")));
        st.update_full_config(name, &put, Instant::now(), unix)
            .unwrap();
        assert_eq!(changes(&mut st, name), vec![]);

        // A drift of a setting it does not know is refused at the start.
        let mut bad = cfg(None);
        bad.drift.as_mut().unwrap().setting = "compress".into();
        let unix = crate::clock::Clock::unix_now(&crate::clock::SystemClock);
        let err = SimState::new(&bad, Instant::now(), unix).unwrap_err();
        assert!(err.contains("compress"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn tls_in_https_tls_version_reads_versions_only_in_that_block() {
        let name = "www.example.com";
        // By default: in the https block, and no https_tls_version block the domain lacks.
        let (mut st, _) = sim(SimConfig {
            domains: vec![domain_with(name, &[])],
            ..Default::default()
        });
        let configs = st.full_config(name).unwrap()["configs"].clone();
        assert_eq!(configs["https"]["tls_version"], "TLSv1.2,TLSv1.3");
        assert!(configs.get("https_tls_version").is_none(), "{configs}");

        let (mut st, unix) = sim(SimConfig {
            domains: vec![domain_with(name, &[])],
            tls_in: TlsIn::HttpsTlsVersion,
            ..Default::default()
        });
        let configs = st.full_config(name).unwrap()["configs"].clone();
        assert!(configs["https"].get("tls_version").is_none(), "{configs}");
        assert_eq!(
            configs["https_tls_version"],
            json!({"cipher_suite_group": "default", "tls_version": "TLSv1.2,TLSv1.3"})
        );
        // Writing the read's block back (the versions there only) changes nothing.
        let mut put = full_put(
            name,
            &[("https_tls_version", configs["https_tls_version"].clone())],
        );
        put["configs"]["https"]
            .as_object_mut()
            .unwrap()
            .remove("tls_version");
        st.update_full_config(name, &put, Instant::now(), unix)
            .unwrap();
        assert_eq!(changes(&mut st, name), vec![]);
        // The versions sent in the block win over the https block's.
        tokio::time::advance(Duration::from_millis(200)).await;
        put["configs"]["https"]["tls_version"] = json!("TLSv1.3");
        st.update_full_config(name, &put, Instant::now(), unix)
            .unwrap();
        assert_eq!(changes(&mut st, name), vec![]);
        let configs = st.full_config(name).unwrap()["configs"].clone();
        assert_eq!(
            configs["https_tls_version"]["tls_version"],
            "TLSv1.2,TLSv1.3"
        );
    }
}
