//! The simulator's configuration: accounts, domains with their behaviour, quotas and faults.
//! Read from JSON (`cdn-sim --config FILE`) or built in code by tests.

use serde::{Deserialize, Serialize};

/// Everything the simulator starts with.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Access keys the gateway accepts.
    #[serde(default)]
    pub credentials: Vec<SimCredential>,
    /// The CDN domains of the account.
    #[serde(default)]
    pub domains: Vec<SimDomainConfig>,
    /// Calls per minute per API, by SDK operation name; absent ones use the documented quotas.
    #[serde(default)]
    pub quotas: std::collections::BTreeMap<String, u32>,
    /// Quota windows last `60 s / quota_time_scale` (so tests can hit a quota quickly).
    #[serde(default = "one")]
    pub quota_time_scale: f64,
    /// Faults to inject, matched in order.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Certificate Manager ids that exist; a write naming another is refused. Empty: any id.
    #[serde(default)]
    pub scm_certificates: Vec<String>,
    /// Whether UpdateDomainMultiCertificates keeps each domain's TLS versions and OCSP stapling.
    /// It cannot set them; by default the simulator assumes the worst and resets them.
    #[serde(default)]
    pub batch_keeps_tls_and_ocsp: bool,
}

fn one() -> f64 {
    1.0
}

/// One accepted access key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimCredential {
    pub ak: String,
    pub sk: String,
    /// When set, calls must carry (and sign) this `X-Security-Token`.
    #[serde(default)]
    pub security_token: Option<String>,
}

/// How a domain behaves after a write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Goes `online` after `configure_ms`.
    #[default]
    Online,
    /// Ends `configure_failed` after `configure_ms`.
    ConfigureFailed,
    /// Stays `configuring` for ever.
    Stuck,
}

/// One CDN domain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimDomainConfig {
    pub name: String,
    /// Initial status (`online` by default). A `configuring` domain settles to `online` after
    /// `configure_ms` (a domain busy with an earlier change).
    #[serde(default = "online")]
    pub status: String,
    /// How long a write keeps the domain `configuring`.
    #[serde(default = "default_configure_ms")]
    pub configure_ms: u64,
    #[serde(default)]
    pub outcome: Outcome,
    /// The initial https block (as GET returns it, plus the `private_key` it was uploaded with).
    #[serde(default)]
    pub https: Option<serde_json::Value>,
    #[serde(default = "follow")]
    pub origin_protocol: String,
    #[serde(default)]
    pub force_redirect: Option<serde_json::Value>,
}

fn online() -> String {
    "online".into()
}
fn follow() -> String {
    "follow".into()
}
fn default_configure_ms() -> u64 {
    1500
}

impl SimDomainConfig {
    /// An online domain with default settings.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            status: online(),
            configure_ms: default_configure_ms(),
            outcome: Outcome::Online,
            https: None,
            origin_protocol: follow(),
            force_redirect: None,
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and error body (the write applied first when `apply`).
    Status {
        http_status: u16,
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        style: ErrorStyle,
        #[serde(default)]
        apply: bool,
    },
    /// Close the connection without an answer (the write applied first when `apply`).
    Reset {
        #[serde(default)]
        apply: bool,
    },
    /// Answer normally, after a delay.
    Delay { delay_ms: u64 },
    /// In an UpdateDomainMultiCertificates call, fail this fault's `domain` with `reason` (in a
    /// 200 whose `status` is `fail`) while the others are applied.
    BatchFail { reason: String },
}

/// The four error body styles the SDKs read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStyle {
    /// `{"error": {"error_code", "error_msg"}}`
    #[default]
    Cdn,
    /// `{"error_code", "error_msg", "request_id"}`
    Flat,
    /// `{"errorCode", "errorMsg"}`
    Camel,
    /// `{"code", "message"}`
    Code,
}

/// A fault: what, on which calls, how often.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Fault {
    /// SDK operation name (`UpdateDomainFullConfig`, …); any API when absent.
    #[serde(default)]
    pub api: Option<String>,
    /// Only calls about this domain; any when absent.
    #[serde(default)]
    pub domain: Option<String>,
    /// Matching calls to let through before the fault fires.
    #[serde(default)]
    pub skip: u32,
    /// How many times it fires; for ever when absent.
    #[serde(default)]
    pub times: Option<u32>,
    #[serde(flatten)]
    pub kind: FaultKind,
}
